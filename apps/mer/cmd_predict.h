#pragma once
// `mer predict`: trained models (a checkpoint, or every fold of a run as an ensemble) on new
// clips: one clip (onset/apex pair, frame folder or video) or a list of clips (--clips).
#include "command.h"

#include <string>

namespace mer::predict {
class Predictor;
}

namespace mer::cli {

class PredictCommand : public Command {
 public:
  explicit PredictCommand(CLI::App& app);
  int run() override;  // errors throw mer::Error

 private:
  int run_list(const predict::Predictor& predictor);  // --clips

  std::string checkpoint_, run_, onset_, apex_, clip_, video_, clips_, out_, png_, like_, aus_;
  std::string framing_ = "megc2019", flow_quality_ = "default";
  int flow_size_ = 112, top_ = 3, jobs_ = 2;
  double no_motion_threshold_ = 0;
  bool json_ = false, figures_ = false;
};

}  // namespace mer::cli

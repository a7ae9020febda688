#pragma once
// `mer predict`: a trained fold checkpoint on a new clip (onset/apex pair or a frame folder).
#include "command.h"

#include <string>

namespace mer::cli {

class PredictCommand : public Command {
 public:
  explicit PredictCommand(CLI::App& app);
  int run() override;  // errors throw mer::Error

 private:
  std::string checkpoint_, onset_, apex_, clip_, png_, like_, aus_;
  std::string framing_ = "megc2019", flow_quality_ = "default";
  int flow_size_ = 112, top_ = 3;
  bool json_ = false;
};

}  // namespace mer::cli

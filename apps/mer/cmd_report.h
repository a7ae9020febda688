#pragma once
// `mer report`: one self-contained HTML page (and tidy CSV tables) of finished runs.
#include "command.h"

#include <string>
#include <vector>

namespace mer::cli {

class ReportCommand : public Command {
 public:
  explicit ReportCommand(CLI::App& app);
  int run() override;

 private:
  std::vector<std::string> runs_, samples_;
  std::string out_ = "report.html", csv_, data_, title_ = "mer report", chart_js_;
  int64_t resamples_ = 2000, curve_points_ = 125;
  uint64_t bootstrap_seed_ = 1;
  int per_class_ = 1;
  bool every_run_ = false, no_explanations_ = false;
};

}  // namespace mer::cli

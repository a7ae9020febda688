#pragma once
// `mer predict`: a trained fold checkpoint on a new clip (onset/apex pair or a frame folder).
#include <CLI/CLI.hpp>

#include <string>

namespace mer::cli {

class PredictCommand {
 public:
  explicit PredictCommand(CLI::App& app);
  bool parsed() const { return command_->parsed(); }
  int run();  // errors throw mer::Error

 private:
  CLI::App* command_ = nullptr;
  std::string checkpoint_, onset_, apex_, clip_, png_, like_;
  std::string framing_ = "megc2019", flow_quality_ = "default";
  int flow_size_ = 112, top_ = 3;
  bool json_ = false;
};

}  // namespace mer::cli

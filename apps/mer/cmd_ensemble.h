#pragma once
// `mer ensemble`: the mean (or weighted mean) class probabilities of finished runs on the same
// data and folds, written as a run folder (engine/ensemble.h).
#include <string>
#include <vector>

#include "command.h"

namespace mer::cli {

class EnsembleCommand : public Command {
 public:
  explicit EnsembleCommand(CLI::App& app);
  int run() override;

 private:
  std::vector<std::string> runs_;
  std::vector<double> weights_;
  bool last_epoch_ = false;
  std::string out_;
};

}  // namespace mer::cli

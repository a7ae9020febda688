#pragma once
// `mer explain`: figures of what a trained LOSO run's models looked at, for given test samples.
#include <vector>

#include "command.h"

namespace mer::cli {

class ExplainCommand : public Command {
 public:
  explicit ExplainCommand(CLI::App& app);
  int run() override;

 private:
  std::string run_, data_, out_dir_;
  std::vector<std::string> samples_;
  SynthArgs synth_;
};

}  // namespace mer::cli

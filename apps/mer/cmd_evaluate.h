#pragma once
// `mer evaluate`: a finished LOSO run's checkpoints re-predict their test subjects (or other
// data with the same samples, e.g. an occluded copy).
#include <vector>

#include "command.h"

namespace mer::cli {

class EvaluateCommand : public Command {
 public:
  explicit EvaluateCommand(CLI::App& app);
  int run() override;

 private:
  std::string run_, data_, landmarks_, out_;
  bool other_data_ = false;
  std::vector<std::string> parts_;
  SynthArgs synth_;
};

}  // namespace mer::cli

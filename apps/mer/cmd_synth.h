#pragma once
// `mer synth`: the built-in synthetic dataset written as a prepared folder.
#include "command.h"

namespace mer::cli {

class SynthCommand : public Command {
 public:
  explicit SynthCommand(CLI::App& app);
  int run() override;

 private:
  SynthArgs synth_;
  std::string out_;
};

}  // namespace mer::cli

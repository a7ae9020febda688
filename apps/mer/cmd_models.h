#pragma once
// `mer models`: every registered model with its options, inputs, explanations and training
// defaults, read from its spec (models/model_spec.h); --json for tools.
#include "command.h"

namespace mer::cli {

class ModelsCommand : public Command {
 public:
  explicit ModelsCommand(CLI::App& app);
  int run() override;

 private:
  std::string model_;
  bool json_ = false;
};

}  // namespace mer::cli

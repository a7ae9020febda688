#pragma once
// `mer import`: a PyTorch state_dict file as a mer checkpoint (interop/weights_exchange.h).
#include <string>
#include <vector>

#include "command.h"
#include "mer/interop/weights_exchange.h"

namespace mer::cli {

class ImportCommand : public Command {
 public:
  explicit ImportCommand(CLI::App& app);
  int run() override;

 private:
  interop::ImportOptions options_;
  std::vector<std::string> model_opts_;
  std::string out_;
};

}  // namespace mer::cli

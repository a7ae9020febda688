#pragma once
// `mer export`: a checkpoint's weights as a PyTorch state_dict file (interop/weights_exchange.h).
#include <string>

#include "command.h"

namespace mer::cli {

class ExportCommand : public Command {
 public:
  explicit ExportCommand(CLI::App& app);
  int run() override;

 private:
  std::string checkpoint_, out_;
};

}  // namespace mer::cli

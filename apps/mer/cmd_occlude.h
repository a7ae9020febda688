#pragma once
// `mer occlude`: occluded copies of frame data (a database's frame folders + sheet) or of a
// prepared flow-only folder (pipeline/occlude.h).
#include "command.h"

#include <string>
#include <vector>

#include "mer/pipeline/occlude.h"

namespace mer::cli {

class OccludeCommand : public Command {
 public:
  // Registers the subcommand and its options on `app`.
  explicit OccludeCommand(CLI::App& app);
  // Runs it; returns the exit code (1 when clips were skipped and --strict was given).
  // Errors throw mer::Error.
  int run() override;

 private:
  CLI::Option *block_ratio_opt_ = nullptr, *noise_opt_ = nullptr;
  pipeline::OccludeOptions options_;
  pipeline::OccludeFramesInput frames_;
  std::string data_, landmarks_, out_, sheet_;
  std::vector<std::string> only_;
  int jobs_ = 0, boundary_noise_ = 12;
  bool strict_ = false;
};

}  // namespace mer::cli

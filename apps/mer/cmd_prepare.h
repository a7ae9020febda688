#pragma once
// `mer prepare`: a database's frame folders + annotation sheet -> a prepared-dataset folder.
#include "command.h"

#include <string>
#include <vector>

#include "mer/pipeline/prepare.h"

namespace mer::cli {

class PrepareCommand : public Command {
 public:
  // Registers the subcommand and its options on `app`.
  explicit PrepareCommand(CLI::App& app);
  // Runs it; returns the exit code (1 when some selected clips were skipped and
  // --strict was given, else 0). Errors throw mer::Error.
  int run() override;

 private:
  pipeline::PrepareOptions options_;
  std::string out_, megc2019_list_, framing_ = "megc2019", flow_quality_ = "default", sheet_;
  std::string smic_apex_, video_root_;
  std::vector<std::string> only_;
  int size_ = 28, crop_size_ = 224, flow_size_ = 112, jobs_ = 0;
  bool keep_out_of_order_ = false, colour_ = false, strict_ = false;
};

}  // namespace mer::cli

#pragma once
// `mer train`: one deployable model trained on every subject (engine/train_full.h).
#include <string>
#include <vector>

#include "command.h"
#include "mer/engine/train_full.h"

namespace mer::cli {

class TrainCommand : public Command {
 public:
  explicit TrainCommand(CLI::App& app);
  int run() override;

 private:
  engine::TrainFullOptions full_;
  std::string data_, landmarks_, out_, like_run_;
  std::vector<std::string> parts_, model_opts_;
  int64_t epochs_ = 0;
  SynthArgs synth_;
};

}  // namespace mer::cli

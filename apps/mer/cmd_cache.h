#pragma once
// `mer cache`: a prepared folder decoded once into one file that any build reads, also one
// without OpenCV (the GPU machine).
#include "command.h"

namespace mer::cli {

class CacheCommand : public Command {
 public:
  explicit CacheCommand(CLI::App& app);
  int run() override;

 private:
  std::string data_, landmarks_, out_;
  int64_t crop_side_ = 224;
};

}  // namespace mer::cli

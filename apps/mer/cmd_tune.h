#pragma once
// `mer tune`: an honest hyper-parameter search (engine/tune.h): candidates from a declared space
// of training settings and model options, scored on inner validation of development subjects;
// the outer test folds are never seen.
#include <string>
#include <vector>

#include "command.h"
#include "mer/engine/tune.h"

namespace mer::cli {

class TuneCommand : public Command {
 public:
  explicit TuneCommand(CLI::App& app);
  int run() override;

 private:
  engine::TuneOptions tune_;
  std::string data_, landmarks_, out_, protocol_ = "honest", group_by_ = "subject";
  std::vector<std::string> parts_, model_opts_, space_;
  int64_t epochs_ = 0;
  SynthArgs synth_;
};

}  // namespace mer::cli

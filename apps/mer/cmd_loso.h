#pragma once
// `mer loso`: leave-one-subject-out training and evaluation of a model (engine/loso.h).
#include <string>
#include <vector>

#include "command.h"
#include "mer/engine/loso.h"
#include "mpi_session.h"

namespace mer::cli {

class LosoCommand : public Command {
 public:
  LosoCommand(CLI::App& app, const MpiSession& mpi);
  int run() override;

 private:
  const MpiSession& mpi_;
  engine::LosoOptions loso_;
  std::string data_, landmarks_, out_, protocol_ = "honest", group_by_ = "subject";
  std::vector<std::string> parts_, model_opts_;
  int64_t epochs_ = 0;
  bool list_folds_ = false;
  SynthArgs synth_;
};

}  // namespace mer::cli

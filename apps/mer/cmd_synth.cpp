#include "cmd_synth.h"

#include <cstdio>

#include "mer/data/prepared_io.h"

namespace mer::cli {

SynthCommand::SynthCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "synth", "Write the built-in synthetic dataset as a prepared-dataset folder");
  command_->add_option("--out", out_, "output folder")->required();
  add_synth_options(command_, synth_, "Synthetic data");
  command_->footer("Example: mer synth --out data/synth --synth-subjects 16");
}

int SynthCommand::run() {
  const auto dataset = data::make_synthetic(synth_.options());
  data::write_prepared(dataset, out_);
  std::printf("wrote %lld synthetic samples of %lld subjects to %s (labels.csv, landmarks.csv, "
              "flow/, face/)\n",
              static_cast<long long>(dataset.size()),
              static_cast<long long>(dataset.fold_keys().size()), out_.c_str());
  return 0;
}

}  // namespace mer::cli

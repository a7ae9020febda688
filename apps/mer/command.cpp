#include "command.h"

namespace mer::cli {

bool SynthArgs::given() const {
  if (!command) return false;
  for (const char* flag : {"--synth-subjects", "--synth-samples", "--synth-size", "--synth-seed"}) {
    if (command->count(flag) > 0) return true;
  }
  return false;
}

void add_synth_options(CLI::App* cmd, SynthArgs& synth, const std::string& group) {
  synth.command = cmd;
  cmd->add_option("--synth-subjects", synth.subjects, "synthetic data: number of subjects")
      ->check(CLI::Range(2, 1000))->group(group);
  cmd->add_option("--synth-samples", synth.samples, "synthetic data: samples per subject")
      ->check(CLI::Range(3, 1000))->group(group);
  cmd->add_option("--synth-size", synth.size, "synthetic data: flow map side")
      ->check(CLI::Range(8, 512))->group(group);
  cmd->add_option("--synth-seed", synth.seed, "synthetic data: generator seed")->group(group);
}

}  // namespace mer::cli

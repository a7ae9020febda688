#include "command.h"

#include "mer/core/error.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace mer::cli {

bool SynthArgs::given() const {
  if (!command) return false;
  for (const char* flag : {"--synth-subjects", "--synth-samples", "--synth-size", "--synth-seed",
                           "--synth-parts"}) {
    if (command->count(flag) > 0) return true;
  }
  return false;
}

const CLI::Validator kFiniteNumber(
    [](std::string& text) -> std::string {
      try {
        size_t used = 0;
        const double value = std::stod(text, &used);
        if (used == text.size() && std::isfinite(value)) return "";
      } catch (const std::exception&) {
      }
      return "'" + text + "' is not a finite number";
    },
    "FINITE");

const CLI::Validator kNonNegativeInteger(
    [](std::string& text) -> std::string {
      const bool digits = !text.empty() && text.size() <= 19 &&
                          std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
      return digits ? "" : "'" + text + "' is not a non-negative integer";
    },
    "UINT");

void add_synth_options(CLI::App* cmd, SynthArgs& synth, const std::string& group) {
  synth.command = cmd;
  cmd->add_option("--synth-subjects", synth.subjects, "synthetic data: number of subjects")
      ->check(CLI::Range(2, 1000))->group(group);
  cmd->add_option("--synth-samples", synth.samples, "synthetic data: samples per subject")
      ->check(CLI::Range(3, 1000))->group(group);
  cmd->add_option("--synth-size", synth.size, "synthetic data: flow map side")
      ->check(CLI::Range(8, 512))->group(group);
  cmd->add_option("--synth-seed", synth.seed, "synthetic data: generator seed")
      ->check(kNonNegativeInteger)->group(group);
  cmd->add_option("--synth-parts", synth.parts,
                  "synthetic data: dataset parts the subjects are spread over (synth1..synthN, "
                  "like the databases of a composite; for loso --group-by dataset)")
      ->check(CLI::Range(1, 1000))->group(group);
}

void Command::refuse_inner_val_flags_unless(const std::string& protocol) const {
  if (protocol == "inner-val") return;
  for (const char* flag : {"--patience", "--val-fraction"}) {
    if (command_->count(flag) > 0) {
      throw ConfigError(std::string(flag) + " has no effect with --protocol " + protocol +
                        " (it applies to --protocol inner-val only)");
    }
  }
}

}  // namespace mer::cli

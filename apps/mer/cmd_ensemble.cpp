#include "cmd_ensemble.h"

#include <iostream>

#include "mer/engine/ensemble.h"

namespace mer::cli {

EnsembleCommand::EnsembleCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "ensemble", "Average the class probabilities of finished runs on the same data and folds");
  auto* c = command_;
  c->add_option("runs", runs_, "output folders of `mer loso` (or `mer ensemble`)")
      ->required()->check(CLI::ExistingDirectory);
  c->add_option("--out", out_, "folder to write the ensemble to (a run folder: `mer report` reads it)")
      ->required();
  c->add_option("--weights", weights_,
                "one positive weight per run, in their order (comma-separated; default: equal)")
      ->delimiter(',')->check(kFiniteNumber)->check(CLI::PositiveNumber);
  c->add_flag("--last-epoch", last_epoch_,
              "average each run's last-epoch model (recorded by oracle and inner-val runs): an "
              "honest ensemble from oracle runs");
  c->footer(
      "An ensemble is honest only when every run is; an oracle run makes it an ORACLE ensemble\n"
      "unless --last-epoch averages the runs' last-epoch models instead.\n"
      "Examples:\n"
      "  mer ensemble runs/st runs/fr --out runs/st+fr\n"
      "  mer ensemble runs/st runs/fr runs/rrrn --weights 1,2,1 --out runs/ens3\n"
      "  mer ensemble runs/st-oracle runs/fr-oracle --last-epoch --out runs/st+fr-honest");
}

int EnsembleCommand::run() {
  const auto result =
      engine::make_ensemble(runs_, out_, engine::EnsembleOptions().weights(weights_).last_epoch(last_epoch_));
  std::cout << engine::format_ensemble_table(result.summary);
  std::cout << "  results: " << out_ << "/summary.json, " << out_ << "/predictions.csv\n";
  return 0;
}

}  // namespace mer::cli

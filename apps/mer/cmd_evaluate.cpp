#include "cmd_evaluate.h"

#include <cstdio>

#include "mer/core/error.h"
#include "mer/engine/data_source.h"
#include "mer/engine/evaluate.h"

namespace mer::cli {

EvaluateCommand::EvaluateCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "evaluate", "Re-predict every fold of a finished LOSO run from its checkpoints");
  auto* c = command_;
  c->add_option("--run", run_, "output folder of `mer loso`")->required()->check(CLI::ExistingDirectory);
  c->add_option("--data", data_,
                "the prepared dataset (folder or `mer cache` file) the run used (default: "
                "built-in synthetic)")
      ->check(CLI::ExistingPath);
  c->add_option("--landmarks", landmarks_,
                "the landmarks file the run used (default DATA/landmarks.csv when present)")
      ->check(CLI::ExistingFile);
  c->add_option("--parts", parts_, "the --parts the run was trained with (comma-separated)")
      ->delimiter(',');
  c->add_flag("--on-other-data", other_data_,
              "test the run's fold models on other data with the same samples (e.g. an occluded "
              "copy from `mer occlude`) instead of checking they reproduce the run");
  c->add_option("--out", out_,
                "with --on-other-data: write predictions.csv, summary.json, explain.json there");
  add_synth_options(c, synth_, "Synthetic data (when no --data)");
  c->footer(
      "Examples: mer evaluate --run runs/st --data ../shared/data/megc2019\n"
      "          mer evaluate --run runs/st --data data/megc2019-mask --on-other-data "
      "--out runs/st-on-mask");
}

int EvaluateCommand::run() {
  if (!out_.empty() && !other_data_) throw ConfigError("--out applies with --on-other-data only");
  // With the crops: the run may be of a model that reads them (cheap to read).
  const auto opened = engine::open_dataset(engine::DataSourceOptions()
                                               .path(data_)
                                               .landmarks(landmarks_)
                                               .parts(parts_)
                                               .crops(true)
                                               .synthetic(synth_.options())
                                               .synthetic_given(synth_.given()));
  const auto report = engine::evaluate_run(
      opened.dataset, run_,
      engine::EvaluateOptions().other_data(other_data_).out_dir(out_).data_label(
          data_.empty() ? opened.dataset.root : data_));
  const auto& m = report.metrics;
  if (report.other_data) {
    std::printf("evaluated %lld folds, %lld samples: trained on %s, tested on %s\n",
                static_cast<long long>(report.folds), static_cast<long long>(report.samples),
                report.trained_on.empty() ? run_.c_str() : report.trained_on.c_str(),
                data_.empty() ? "synthetic data" : data_.c_str());
    std::printf("  UF1 %.4f  UAR %.4f  accuracy %.4f\n", m.uf1, m.uar, m.accuracy);
    if (report.missing > 0) {
      std::printf("  %lld test samples of the run are not in %s: left out\n",
                  static_cast<long long>(report.missing), data_.c_str());
    }
    if (!out_.empty()) {
      std::printf("  predictions.csv, summary.json (and explain.json for models that explain "
                  "themselves) in %s\n", out_.c_str());
    }
    return 0;
  }
  std::printf("re-evaluated %lld folds, %lld samples of %s from their checkpoints%s\n",
              static_cast<long long>(report.folds), static_cast<long long>(report.samples),
              run_.c_str(),
              report.protocol == "oracle" ? " (oracle run: checkpoints hold the last epoch)" : "");
  std::printf("  UF1 %.4f  UAR %.4f  accuracy %.4f\n", m.uf1, m.uar, m.accuracy);
  if (report.mismatches > 0) {
    std::printf("  %lld predictions differ from those recorded at training time\n",
                static_cast<long long>(report.mismatches));
    return 1;
  }
  std::printf("  every prediction matches the one recorded at training time\n");
  return 0;
}

}  // namespace mer::cli

#include "cmd_explain.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "mer/core/error.h"
#include "mer/engine/data_source.h"
#include "mer/report/explain_figure.h"

namespace mer::cli {

ExplainCommand::ExplainCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "explain", "Draw what a trained LOSO run's model looked at for given test samples");
  auto* c = command_;
  c->add_option("--run", run_, "output folder of `mer loso`")->required()->check(CLI::ExistingDirectory);
  c->add_option("--data", data_,
                "the prepared dataset (folder or `mer cache` file) the run used (default: "
                "built-in synthetic)")
      ->check(CLI::ExistingPath);
  // No --landmarks: the figure draws the landmarks the model used, recorded in explain.json.
  c->add_option("--sample", samples_, "sample key dataset/subject/sample (repeatable)")->required();
  c->add_option("--out-dir", out_dir_, "where the PNGs go (default RUN/figures)");
  add_synth_options(c, synth_, "Synthetic data (when no --data)");
  c->footer(
      "Example: mer explain --run runs/fr --data ../shared/data/megc2019 "
      "--sample casme2/sub01/EP02_01f");
}

int ExplainCommand::run() {
  const auto opened = engine::open_dataset(engine::DataSourceOptions()
                                               .path(data_)
                                               .crops(true)
                                               .synthetic(synth_.options())
                                               .synthetic_given(synth_.given()));
  if (out_dir_.empty()) out_dir_ = run_ + "/figures";
  std::filesystem::create_directories(out_dir_);
  for (const auto& key : samples_) {
    std::string file = key;
    std::replace(file.begin(), file.end(), '/', '_');
    const std::string png = out_dir_ + "/explain_" + file + ".png";
    report::write_explanation_png(run_, opened.dataset, key, png);
    std::printf("wrote %s\n", png.c_str());
  }
  return 0;
}

}  // namespace mer::cli

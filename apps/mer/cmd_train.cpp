#include "cmd_train.h"

#include <cstdio>
#include <iostream>

#include "mer/core/error.h"
#include "mer/engine/batch_source.h"
#include "mer/engine/data_source.h"
#include "mer/models/registry.h"

namespace mer::cli {

TrainCommand::TrainCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "train", "Train one deployable model on every subject (no test subject: training metrics "
               "only; evaluate with `mer loso`)");
  auto* c = command_;
  auto& train = full_.train;
  const std::string g_data = "Data and output", g_train = "Training", g_run = "Execution";
  c->add_option("--model", train.model, "model name (see `mer models`)")
      ->capture_default_str()->group(g_train);
  c->add_option("--data", data_,
                "prepared dataset folder or its `mer cache` file (.pt); default: built-in synthetic")
      ->check(CLI::ExistingPath)->group(g_data);
  c->add_option("--landmarks", landmarks_, "landmarks file of --data (default DATA/landmarks.csv)")
      ->check(CLI::ExistingFile)->group(g_data);
  c->add_option("--parts", parts_, "train on these dataset parts of --data only (comma-separated)")
      ->delimiter(',')->group(g_data);
  c->add_option("--out", out_, "output folder: model.pt, summary.json, run.json")
      ->required()->group(g_data);
  c->add_option("--like-run", like_run_,
                "take every training setting (model, options, epochs, lr, ...) from this `mer "
                "loso` output folder's run.json")
      ->check(CLI::ExistingDirectory)->group(g_train);
  c->add_option("--epochs", epochs_, "epochs (default: the model's, see `mer models`)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))->group(g_train);
  add_optimiser_options(c, train, model_opts_, g_train);
  c->add_option("--seed", train.seed, "random seed")
      ->capture_default_str()->check(kNonNegativeInteger)->group(g_train);
  c->add_option("--threads", full_.threads, "torch threads (0 = all cores)")
      ->capture_default_str()->check(CLI::Range(0, 1024))->group(g_run);
  c->add_option("--backend", train.backend, "auto, fused or torch")
      ->capture_default_str()->check(CLI::IsMember({"auto", "fused", "torch"}))->group(g_run);
  c->add_option("--device", train.device, "cpu or cuda")
      ->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}))->group(g_run);
  c->add_option("--precision", train.precision, "fp32, tf32 (cuda) or bf16 (mixed precision)")
      ->capture_default_str()->check(CLI::IsMember({"fp32", "tf32", "bf16"}))->group(g_run);
  c->add_flag("--quiet", full_.quiet, "no progress output")->group(g_run);
  add_synth_options(c, synth_, "Synthetic data (when no --data)");
  for (const char* flag : {"--model", "--model-opt", "--seed", "--class-weights", "--backend",
                           "--device", "--lr", "--batch-size", "--optimizer", "--weight-decay",
                           "--lr-decay", "--momentum", "--epochs", "--precision", "--augment"}) {
    c->get_option(flag)->excludes("--like-run");
  }
  c->footer(
      "Examples:\n"
      "  mer train --model ststnet --data prepared/casme2 --out models/ststnet-casme2\n"
      "  mer train --data prepared/casme2 --like-run runs/st --out models/st-all\n"
      "  mer predict --checkpoint models/ststnet-casme2/model.pt --clip FRAMES/sub01/EP02_01f\n"
      "The model sees every subject: summary.json reports training metrics only. Estimate "
      "accuracy on new subjects with `mer loso` and the same settings.");
}

int TrainCommand::run() {
  auto& train = full_.train;
  std::string note, run_checksum;
  if (!like_run_.empty()) {
    train = engine::training_options_of_run(like_run_, &note, &run_checksum);
    full_.like_run = like_run_;
  } else {
    for (const auto& item : model_opts_) engine::parse_model_option(item, train.model_options);
  }
  const auto opened = engine::open_dataset(engine::DataSourceOptions()
                                               .path(data_)
                                               .landmarks(landmarks_)
                                               .parts(parts_)
                                               .crops(engine::may_read_crops(train.model, train.model_options))
                                               .synthetic(synth_.options())
                                               .synthetic_given(synth_.given()));
  const auto& dataset = opened.dataset;
  // With --like-run every setting is the run's: none falls back to the model's defaults.
  if (like_run_.empty()) {
    engine::apply_training_defaults(train, given_training_settings(), opened.synthetic);
  }
  if (epochs_ > 0) train.epochs = epochs_;
  refuse_momentum_unless_sgd(train.optimizer);
  if (opened.synthetic) {
    std::fprintf(stderr, "no --data given: using the built-in synthetic dataset %s\n", opened.label.c_str());
  }
  if (!note.empty()) std::fprintf(stderr, "%s\n", note.c_str());
  if (!run_checksum.empty() && run_checksum != dataset.checksum()) {
    std::fprintf(stderr, "note: %s was run on other data (data checksum %s, this data %s)\n",
                 like_run_.c_str(), run_checksum.c_str(), dataset.checksum().c_str());
  }
  std::string fitted;
  train.model_options = models::resolve_model_options(train.model, train.model_options,
                                                      engine::data_traits(dataset), &fitted);
  if (!fitted.empty()) std::fprintf(stderr, "%s\n", fitted.c_str());
  full_.data_label = opened.label;
  full_.landmarks_label = opened.landmarks_label;
  full_.preprocessing = opened.preprocessing;
  const auto result = engine::train_full(dataset, full_, out_);
  const auto& t = result.summary.at("training");
  std::printf("trained %s on all %lld samples of %lld subjects (%lld epochs%s)\n", train.model.c_str(),
              static_cast<long long>(t.at("samples").get<int64_t>()),
              static_cast<long long>(t.at("subjects").get<int64_t>()),
              static_cast<long long>(t.at("epochs").get<int64_t>()),
              like_run_.empty() ? "" : (", settings of " + like_run_).c_str());
  std::printf("no test subject: training metrics only (not an estimate for new subjects)\n");
  std::printf("  final training loss %.4f, training accuracy %.4f, UF1 %.4f, UAR %.4f\n",
              t.at("final_loss").get<double>(), t.at("accuracy").get<double>(),
              t.at("uf1").get<double>(), t.at("uar").get<double>());
  std::printf("  model: %s/model.pt, summary: %s/summary.json\n", out_.c_str(), out_.c_str());
  return 0;
}

}  // namespace mer::cli

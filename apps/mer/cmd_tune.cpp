#include "cmd_tune.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include "mer/core/error.h"
#include "mer/engine/data_source.h"
#include "mer/models/registry.h"

namespace mer::cli {

TuneCommand::TuneCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "tune", "Honest hyper-parameter search: candidates scored on inner validation only, the "
              "test folds never seen");
  auto* c = command_;
  auto& train = tune_.train;
  const std::string g_search = "Search", g_data = "Data and output", g_train = "Training (base "
                               "settings; --space overrides)", g_run = "Execution";
  c->add_option("--space", space_,
                "a searched setting and its values, name=v1,v2 (repeatable): a training setting "
                "(epochs, lr, batch_size, optimizer, weight_decay, lr_decay, momentum, "
                "class_weights, augment) or an option of the model (see `mer models MODEL`)")
      ->required()->group(g_search);
  c->add_option("--search", tune_.search,
                "grid (every combination) or random (--budget of them, drawn with --seed)")
      ->capture_default_str()->check(CLI::IsMember({"grid", "random"}))->group(g_search);
  c->add_option("--budget", tune_.budget,
                "random: the number of candidates; grid: refuse a larger grid (0 = no limit)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{100000}))->group(g_search);
  c->add_option("--folds", tune_.test_folds,
                "the outer test folds, never seen by the search (loso --folds syntax: N = the "
                "first N, or keys like casme2/sub01,samm/006); the other subjects are searched on")
      ->required()->group(g_search);
  c->add_option("--inner-folds", tune_.inner_folds,
                "inner folds over the development subjects, split by subject (0 = one per subject)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1000}))->group(g_search);
  c->add_option("--protocol", protocol_,
                "how each candidate's epoch is chosen: honest (last epoch) or inner-val (on "
                "subjects held out from its inner training subjects)")
      ->capture_default_str()->check(CLI::IsMember({"honest", "inner-val"}))->group(g_search);
  c->add_option("--val-fraction", train.validation_fraction,
                "inner-val: share of training subjects held out for epoch selection")
      ->capture_default_str()->check(kFiniteNumber)->check(CLI::Range(0.01, 0.9))->group(g_search);
  c->add_option("--patience", train.patience, "inner-val: early-stopping patience (0 = none)")
      ->capture_default_str()->check(CLI::NonNegativeNumber)->group(g_search);
  c->add_option("--group-by", group_by_,
                "what an outer test fold holds out: subject or dataset (a whole dataset part)")
      ->capture_default_str()->check(CLI::IsMember({"subject", "dataset"}))->group(g_search);
  c->add_option("--model", train.model, "model name (see `mer models`)")
      ->capture_default_str()->group(g_train);
  c->add_option("--epochs", epochs_, "epochs (default: the model's)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))->group(g_train);
  add_optimiser_options(c, train, model_opts_, g_train);
  c->add_option("--seed", train.seed,
                "seed of the training, the inner split and the random search")
      ->capture_default_str()->check(kNonNegativeInteger)->group(g_train);
  c->add_option("--data", data_, "prepared dataset folder or `mer cache` file (default: synthetic)")
      ->check(CLI::ExistingPath)->group(g_data);
  c->add_option("--landmarks", landmarks_, "landmarks file of --data (default DATA/landmarks.csv)")
      ->check(CLI::ExistingFile)->group(g_data);
  c->add_option("--parts", parts_, "only these dataset parts of --data (comma-separated)")
      ->delimiter(',')->group(g_data);
  c->add_option("--out", out_,
                "the results file: every candidate's settings and scores, the chosen settings "
                "(default runs/tune-MODEL-DATA-sSEED.json)")
      ->group(g_data);
  c->add_option("--threads", tune_.threads, "worker threads (0 = all cores)")
      ->capture_default_str()->check(CLI::Range(0, 1024))->group(g_run);
  c->add_option("--backend", train.backend, "auto, fused or torch")
      ->capture_default_str()->check(CLI::IsMember({"auto", "fused", "torch"}))->group(g_run);
  c->add_option("--device", train.device, "cpu or cuda")
      ->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}))->group(g_run);
  c->add_flag("--quiet", tune_.quiet, "no progress output")->group(g_run);
  add_synth_options(c, synth_, "Synthetic data (when no --data)");
  c->footer(
      "Examples:\n"
      "  mer tune --folds 4 --space lr=1e-3,5e-4 --space epochs=100,200\n"
      "  mer tune --model fr --data ../shared/data/megc2019 --group-by dataset --folds casme2 \\\n"
      "      --space dropout=0.3,0.5 --space lr=1e-4,5e-5 --search random --budget 3");
}

int TuneCommand::run() {
  auto& train = tune_.train;
  train.protocol = engine::parse_protocol(protocol_);
  train.group_by = engine::parse_grouping(group_by_);
  refuse_inner_val_flags_unless(protocol_);
  if (command_->count("--budget") > 0 && tune_.search == "grid" && tune_.budget == 0) {
    throw ConfigError("--budget 0 has no effect: a grid search is unlimited by default");
  }
  for (const auto& item : model_opts_) engine::parse_model_option(item, train.model_options);
  models::find_model(train.model);  // an unknown model is named before the space is read
  for (const auto& item : space_) {
    tune_.space.push_back(engine::parse_search_dimension(item, train.model));
  }
  // A setting given both as a flag and in the space: the space would silently win.
  const auto given = given_training_settings();
  for (const auto& d : tune_.space) {
    if (given.count(d.name) || (d.model_option && train.model_options.count(d.name))) {
      std::string flag = d.name;  // batch_size is given as --batch-size
      std::replace(flag.begin(), flag.end(), '_', '-');
      throw ConfigError("--space " + d.name + ": also given as a fixed setting (" +
                        (d.model_option ? "--model-opt " + d.name : "--" + flag) +
                        "); give it once");
    }
  }
  const auto opened = engine::open_dataset(engine::DataSourceOptions()
                                               .path(data_)
                                               .landmarks(landmarks_)
                                               .parts(parts_)
                                               .crops(engine::may_read_crops(train.model, train.model_options))
                                               .synthetic(synth_.options())
                                               .synthetic_given(synth_.given()));
  engine::apply_training_defaults(train, given, opened.synthetic);
  if (epochs_ > 0) train.epochs = epochs_;
  tune_.data_label = opened.label;
  if (opened.synthetic) {
    std::fprintf(stderr, "no --data given: using the built-in synthetic dataset %s\n",
                 opened.label.c_str());
    const data::SyntheticOptions defaults;
    const auto o = synth_.options();
    std::string args;
    const auto add = [&](const char* flag, int64_t value, int64_t default_value) {
      if (value != default_value) args += std::string(args.empty() ? "" : " ") + flag + " " + std::to_string(value);
    };
    add("--synth-subjects", o.subjects(), defaults.subjects());
    add("--synth-samples", o.samples_per_subject(), defaults.samples_per_subject());
    add("--synth-size", o.flow_size(), defaults.flow_size());
    add("--synth-seed", static_cast<int64_t>(o.seed()), static_cast<int64_t>(defaults.seed()));
    add("--synth-parts", o.parts(), defaults.parts());
    tune_.data_arguments = args;
  } else {
    tune_.data_arguments = "--data " + data_;
    if (!landmarks_.empty()) tune_.data_arguments += " --landmarks " + landmarks_;
    if (!parts_.empty()) {
      std::string parts;
      for (const auto& p : parts_) parts += (parts.empty() ? "" : ",") + p;
      tune_.data_arguments += " --parts " + parts;
    }
  }
  if (out_.empty()) {
    const std::string data_name =
        opened.synthetic ? "synthetic" : std::filesystem::path(data_).filename().string();
    out_ = "runs/tune-" + train.model + "-" + data_name + "-s" + std::to_string(train.seed) + ".json";
    std::fprintf(stderr, "results file: %s\n", out_.c_str());
  }
  const auto result = engine::run_tune(opened.dataset, tune_);
  engine::write_tune_json(result, out_);
  std::cout << engine::format_tune_table(result);
  std::cout << "  results: " << out_ << " (every candidate's settings and scores, the chosen ones)\n";
  return 0;
}

}  // namespace mer::cli

#include "cmd_loso.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include "mer/core/error.h"
#include "mer/engine/batch_source.h"
#include "mer/engine/data_source.h"
#include "mer/engine/results.h"
#include "mer/models/registry.h"

namespace mer::cli {

LosoCommand::LosoCommand(CLI::App& app, const MpiSession& mpi) : mpi_(mpi) {
  command_ = app.add_subcommand("loso", "Leave-one-subject-out training and evaluation of a model");
  auto* c = command_;
  auto& train = loso_.train;
  const std::string g_data = "Data and output", g_train = "Training", g_proto = "Protocol",
                    g_run = "Execution";
  c->add_option("--model", train.model, "model name (see `mer models`)")
      ->capture_default_str()->group(g_train);
  c->add_option("--data", data_,
                "prepared dataset folder (labels.csv + files) or its `mer cache` file (.pt); "
                "default: built-in synthetic")
      ->check(CLI::ExistingPath)->group(g_data);
  c->add_option("--landmarks", landmarks_,
                "landmarks file of --data (default DATA/landmarks.csv when present; see `mer "
                "landmarks`); read by the models whose inputs include landmarks (" +
                    models_reading_landmarks() + ")")
      ->check(CLI::ExistingFile)->group(g_data);
  c->add_option("--parts", parts_,
                "train and test on these dataset parts of --data only (e.g. casme2 of the "
                "MEGC2019 composite; comma-separated)")
      ->delimiter(',')->group(g_data);
  c->add_option("--out", out_,
                "output folder; rerunning with the same folder resumes finished folds (default "
                "runs/loso-MODEL-DATA-PROTOCOL-eEPOCHS-sSEED-HASH, HASH of every setting: the "
                "same command resumes, other settings get another folder)")
      ->group(g_data);
  c->add_option("--epochs", epochs_,
                "epochs per fold (default: the model's, see `mer models`; STSTNet 500, 200 on "
                "the synthetic set)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))->group(g_train);
  add_optimiser_options(c, train, model_opts_, g_train);
  c->add_option("--seed", train.seed, "random seed (same seed, same results on CPU)")
      ->capture_default_str()->check(kNonNegativeInteger)->group(g_train);
  c->add_option("--protocol", protocol_,
                "honest (fixed epochs, last epoch), inner-val (epoch chosen on held-out training "
                "subjects) or oracle (best epoch on the TEST subject: inflated, for reproducing "
                "paper tables only)")
      ->capture_default_str()->check(CLI::IsMember({"honest", "inner-val", "oracle"}))
      ->group(g_proto);
  c->add_option("--group-by", group_by_,
                "what each fold holds out: subject (leave one subject out) or dataset (leave "
                "one dataset part out: train on the other parts of a composite, test on it)")
      ->capture_default_str()->check(CLI::IsMember({"subject", "dataset"}))->group(g_proto);
  c->add_option("--val-fraction", train.validation_fraction,
                "inner-val: share of training subjects held out for validation")
      ->capture_default_str()->check(kFiniteNumber)->check(CLI::Range(0.01, 0.9))->group(g_proto);
  c->add_option("--patience", train.patience,
                "inner-val: stop a fold after this many epochs without validation gain (0 = "
                "train all epochs)")
      ->capture_default_str()->check(CLI::NonNegativeNumber)->group(g_proto);
  c->add_option("--folds", loso_.folds,
                "subset of folds: N (the first N) or keys like casme2/sub01,samm/006 (with "
                "--group-by dataset: casme2,samm)")
      ->group(g_run);
  c->add_flag("--list-folds", list_folds_,
              "print the data's fold keys (the values --folds takes) and exit")
      ->group(g_run);
  c->add_option("--threads", loso_.threads, "worker threads (0 = all cores)")
      ->capture_default_str()->check(CLI::Range(0, 1024))->group(g_run);
  c->add_option("--backend", train.backend,
                "auto (a fused CPU kernel where the model has one), fused or torch")
      ->capture_default_str()->check(CLI::IsMember({"auto", "fused", "torch"}))->group(g_run);
  c->add_option("--device", train.device, "cpu or cuda")
      ->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}))->group(g_run);
  c->add_option("--fold-batch", train.fold_batch,
                "folds trained as one computation, their parameters stacked (every model; "
                "batched kernels for " + models_stacking_folds() + ", each fold's own module in "
                "lockstep for the others): 0 = auto (all folds at once on cuda for " +
                models_stacking_folds() + ", else fold by fold), 1 = fold by fold, N = groups of N")
      ->capture_default_str()->check(CLI::Range(0, 100000))->group(g_run);
  c->add_option("--precision", train.precision,
                "fp32, tf32 (cuda tensor cores) or bf16 (mixed precision: convolutions and "
                "matrix products in bfloat16, weights, loss and optimiser in float32)")
      ->capture_default_str()->check(CLI::IsMember({"fp32", "tf32", "bf16"}))->group(g_run);
  c->add_flag("--quiet", loso_.quiet, "no progress output")->group(g_run);
  add_synth_options(c, synth_, "Synthetic data (when no --data)");
  c->footer(
      "Examples:\n"
      "  mer loso                                   # STSTNet on the built-in synthetic set\n"
      "  mer loso --model ststnet --data ../shared/data/megc2019 --epochs 500 --out runs/st\n"
      "  mer loso --data DIR --protocol inner-val --patience 50 --folds 4\n"
      "  mer loso --data ../shared/data/megc2019 --group-by dataset   # leave one database out\n"
      "  mpirun -np 4 --hostfile hosts mer loso --data DIR --out /shared/run   # folds over 4 "
      "processes");
}

int LosoCommand::run() {
  auto& train = loso_.train;
  train.protocol = engine::parse_protocol(protocol_);
  train.group_by = engine::parse_grouping(group_by_);
  refuse_inner_val_flags_unless(protocol_);
  for (const auto& item : model_opts_) engine::parse_model_option(item, train.model_options);
  const auto opened = engine::open_dataset(engine::DataSourceOptions()
                                               .path(data_)
                                               .landmarks(landmarks_)
                                               .parts(parts_)
                                               .crops(engine::may_read_crops(train.model, train.model_options))
                                               .synthetic(synth_.options())
                                               .synthetic_given(synth_.given()));
  const auto& dataset = opened.dataset;
  if (list_folds_) {  // e.g. to share the folds among processes by --folds
    for (const auto& key : engine::group_keys(dataset, train.group_by)) {
      std::printf("%s\n", key.c_str());
    }
    return 0;
  }
  loso_.data_label = opened.label;
  loso_.landmarks_label = opened.landmarks_label;
  loso_.preprocessing = opened.preprocessing;
  const auto given = given_training_settings();
  engine::apply_training_defaults(train, given, opened.synthetic);
  if (epochs_ > 0) train.epochs = epochs_;
  refuse_momentum_unless_sgd(train.optimizer);
  if (opened.synthetic) {
    std::fprintf(stderr, "no --data given: using the built-in synthetic dataset %s\n",
                 opened.label.c_str());
  }
  std::string fitted;
  train.model_options = models::resolve_model_options(train.model, train.model_options,
                                                      engine::data_traits(dataset), &fitted);
  if (!fitted.empty()) std::fprintf(stderr, "%s\n", fitted.c_str());
  train.validate();
  if (out_.empty()) {
    const std::string data_name =
        opened.synthetic ? "synthetic" : std::filesystem::path(data_).filename().string();
    out_ = engine::default_run_folder(train, dataset, data_name);
    if (mpi_.rank() == 0) std::fprintf(stderr, "output folder: %s\n", out_.c_str());
  }
  loso_.distribution = mpi_.distribution();
  if (mpi_.rank() != 0) {
    loso_.quiet = true;  // one progress display: rank 0's
    std::fprintf(stderr, "mer loso: rank %d of %d trains its share of the folds into %s "
                         "(rank 0 shows the progress)\n",
                 mpi_.rank(), mpi_.size(), out_.c_str());
  }
  const auto result = engine::run_loso(dataset, loso_, out_);
  if (mpi_.size() > 1 && mpi_.rank() != 0) return result.failures.empty() ? 0 : 1;
  if (!result.summary.is_null()) {
    std::cout << engine::format_summary_table(result.summary);
    if (!fitted.empty()) std::cout << "  " << fitted << "\n";
    std::cout << "  results: " << out_ << "/summary.json, " << out_ << "/predictions.csv, checkpoints in "
              << out_ << "/folds/\n";
  }
  if (!result.failures.empty()) {
    std::cerr << "mer: " << result.failures.size() << " fold(s) failed:\n";
    for (const auto& f : result.failures) std::cerr << "  " << f << "\n";
    std::cerr << "rerun the same command to retry them; finished folds are kept\n";
    return 1;
  }
  return 0;
}

}  // namespace mer::cli

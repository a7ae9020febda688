// mer: command-line interface. Thin: parses options into the library's option structs, calls
// the library, prints results; every error becomes one line naming the problem and a
// non-zero exit code.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <cstdio>
#include <iostream>
#include <map>

#include "core/error.h"
#include "core/version.h"
#include "data/dataset_cache.h"
#include "data/landmarks_io.h"
#include "data/prepared_io.h"
#include "data/synthetic.h"
#include "engine/evaluate.h"
#include "engine/loso.h"
#include "engine/results.h"
#include "models/registry.h"
#ifdef MER_WITH_VISION
#include "cmd_predict.h"
#include "cmd_occlude.h"
#include "cmd_prepare.h"
#include "cmd_report.h"
#include "face/crop_landmarks.h"
#include "report/explain_figure.h"
#endif
#include "mpi_session.h"

namespace {

struct SynthArgs {
  mer::data::SyntheticOptions options;
  int64_t subjects = 16, samples = 15, size = 28;
  uint64_t seed = 1;
  void apply() {
    options.subjects(subjects).samples_per_subject(samples).flow_size(size).seed(seed);
  }
  std::string label() const {
    return "synthetic(subjects=" + std::to_string(subjects) + ",samples=" + std::to_string(samples) +
           ",size=" + std::to_string(size) + ",seed=" + std::to_string(seed) + ")";
  }
};

void add_synth_options(CLI::App* cmd, SynthArgs& synth, const std::string& group) {
  cmd->add_option("--synth-subjects", synth.subjects, "synthetic data: number of subjects")
      ->check(CLI::Range(2, 1000))->group(group);
  cmd->add_option("--synth-samples", synth.samples, "synthetic data: samples per subject")
      ->check(CLI::Range(3, 1000))->group(group);
  cmd->add_option("--synth-size", synth.size, "synthetic data: flow map side")
      ->check(CLI::Range(8, 512))->group(group);
  cmd->add_option("--synth-seed", synth.seed, "synthetic data: generator seed")->group(group);
}

int run_models() {
  for (const auto& info : mer::models::model_registry()) {
    std::printf("%-12s %s\n", info.name.c_str(), info.summary.c_str());
    if (!info.options_help.empty()) {
      std::printf("%-12s   --model-opt %s\n", "", info.options_help.c_str());
    }
    const auto& t = info.training;
    std::printf("%-12s   training defaults: --epochs %lld (synthetic %lld) --lr %g --batch-size %lld "
                "--optimizer %s --weight-decay %g --lr-decay %g\n",
                "", static_cast<long long>(t.epochs), static_cast<long long>(t.synthetic_epochs),
                t.lr, static_cast<long long>(t.batch_size), t.optimizer.c_str(), t.weight_decay,
                t.lr_decay);
  }
  return 0;
}

int run_synth(SynthArgs& synth, const std::string& out) {
  synth.apply();
  const auto dataset = mer::data::make_synthetic(synth.options);
  mer::data::write_prepared(dataset, out);
  std::printf("wrote %lld synthetic samples of %lld subjects to %s (labels.csv, landmarks.csv, flow/, face/)\n",
              static_cast<long long>(dataset.size()),
              static_cast<long long>(dataset.fold_keys().size()), out.c_str());
  return 0;
}

// The prepared dataset at `dir` (with the landmarks of `landmarks`, or of DIR/landmarks.csv
// when that exists; only `parts` of it when given), or the built-in synthetic one when `dir`
// is empty.
// `crops`: also read the face crops (for models that look at them, ModelInfo::uses_crops).
mer::data::Dataset load_dataset(const std::string& dir, const std::string& landmarks,
                                SynthArgs& synth, const std::vector<std::string>& parts = {},
                                bool crops = false) {
  if (!dir.empty() && mer::data::is_dataset_cache(dir)) {
    if (!landmarks.empty()) {
      throw mer::ConfigError("--landmarks does not apply to a dataset cache (" + dir +
                             "): it holds the landmarks given to `mer cache`");
    }
    auto dataset = mer::data::read_dataset_cache(dir);
    return parts.empty() ? dataset : mer::data::select_parts(dataset, parts);
  }
  if (!dir.empty()) {
    auto dataset = mer::data::read_prepared(
        dir, mer::data::PreparedReadOptions().landmarks_file(landmarks).crops(crops));
    return parts.empty() ? dataset : mer::data::select_parts(dataset, parts);
  }
  if (!landmarks.empty()) {
    throw mer::ConfigError("--landmarks needs --data (the synthetic set has its own landmarks)");
  }
  if (!parts.empty()) throw mer::ConfigError("--parts needs --data");
  synth.apply();
  return mer::data::make_synthetic(synth.options);
}

struct LosoArgs {
  mer::engine::LosoOptions loso;
  std::string data, landmarks, out, protocol = "honest";
  std::vector<std::string> parts;
  int64_t epochs = 0;
  bool list_folds = false;
  std::vector<std::string> model_opts;
  SynthArgs synth;
  CLI::App* command = nullptr;  // to tell flags the user gave from the model's defaults
};

// Training flags the user did not give take the model's own defaults (registry).
void apply_training_defaults(LosoArgs& args, bool synthetic) {
  auto& train = args.loso.train;
  const auto& d = mer::models::find_model(train.model).training;
  const auto given = [&](const char* flag) { return args.command->count(flag) > 0; };
  if (!given("--lr")) train.lr = d.lr;
  if (!given("--batch-size")) train.batch_size = d.batch_size;
  if (!given("--optimizer")) train.optimizer = d.optimizer;
  if (!given("--weight-decay")) train.weight_decay = d.weight_decay;
  if (!given("--lr-decay")) train.lr_decay = d.lr_decay;
  train.epochs = args.epochs > 0 ? args.epochs : (synthetic ? d.synthetic_epochs : d.epochs);
}

int run_loso(LosoArgs& args, const mer::cli::MpiSession& mpi) {
  auto& train = args.loso.train;
  train.protocol = mer::engine::parse_protocol(args.protocol);
  for (const auto& kv : args.model_opts) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw mer::ConfigError("--model-opt " + kv + ": expected key=value");
    }
    train.model_options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  const auto dataset = load_dataset(args.data, args.landmarks, args.synth, args.parts,
                                    mer::models::find_model(train.model).uses_crops);
  if (args.list_folds) {  // e.g. to share the folds among processes by --folds
    for (const auto& key : dataset.fold_keys()) std::printf("%s\n", key.c_str());
    return 0;
  }
  if (args.data.empty()) {
    args.loso.data_label = args.synth.label();
    args.loso.landmarks_label = "synthetic generator";
    apply_training_defaults(args, true);
    std::fprintf(stderr, "no --data given: using the built-in synthetic dataset %s\n",
                 args.loso.data_label.c_str());
  } else {
    args.loso.data_label = args.data;
    args.loso.landmarks_label =
        mer::data::is_dataset_cache(args.data)
            ? "dataset cache " + args.data
            : (args.landmarks.empty() ? args.data + "/" + mer::data::kLandmarksFile
                                      : args.landmarks);
    if (!args.parts.empty()) {
      std::string list;
      for (const auto& p : args.parts) list += (list.empty() ? "" : ",") + p;
      args.loso.data_label += " (parts " + list + ")";
    }
    apply_training_defaults(args, false);
  }
  mer::models::DataTraits traits;
  traits.faces = dataset.faces.defined();
  traits.onsets = dataset.onsets.defined();
  traits.aus = dataset.aus.defined();
  const auto fitted = mer::models::fit_model_to_data(train.model, train.model_options, traits);
  if (!fitted.empty()) std::fprintf(stderr, "%s\n", fitted.c_str());
  train.validate();
  if (args.out.empty()) {
    args.out = "runs/loso-" + train.model + "-" + args.protocol + "-e" +
               std::to_string(train.epochs) + "-s" + std::to_string(train.seed);
  }
  args.loso.distribution = mpi.distribution();
  if (mpi.rank() != 0) args.loso.quiet = true;  // one progress display: rank 0's
  const auto result = mer::engine::run_loso(dataset, args.loso, args.out);
  if (mpi.size() > 1 && mpi.rank() != 0) return result.failures.empty() ? 0 : 1;
  if (!result.summary.is_null()) {
    std::cout << mer::engine::format_summary_table(result.summary);
    if (!fitted.empty()) std::cout << "  " << fitted << "\n";
    std::cout << "  results: " << args.out << "/summary.json, " << args.out
              << "/predictions.csv, checkpoints in " << args.out << "/folds/\n";
  }
  if (!result.failures.empty()) {
    std::cerr << "mer: " << result.failures.size() << " fold(s) failed:\n";
    for (const auto& f : result.failures) std::cerr << "  " << f << "\n";
    std::cerr << "rerun the same command to retry them; finished folds are kept\n";
    return 1;
  }
  return 0;
}

struct CacheArgs {
  std::string data, landmarks, out;
  int64_t crop_side = 224;
};

// Decodes a prepared folder once (flows, face and onset crops, landmarks, AUs) into one file
// that any build reads, also one without OpenCV (the GPU machine).
int run_cache(const CacheArgs& args) {
  if (std::filesystem::path(args.out).extension() != mer::data::kDatasetCacheExtension) {
    throw mer::ConfigError("--out " + args.out + ": a dataset cache file name must end in " +
                           mer::data::kDatasetCacheExtension);
  }
  const auto dataset = mer::data::read_prepared(
      args.data, mer::data::PreparedReadOptions()
                     .landmarks_file(args.landmarks)
                     .crops(true)
                     .crop_side(args.crop_side));
  mer::data::write_dataset_cache(dataset, args.out);
  const auto have = [](const torch::Tensor& t) { return t.defined() ? "yes" : "no"; };
  std::printf("wrote %s: %lld samples of %zu folds, flows %lldx%lld, face crops %s, onset crops "
              "%s, landmarks %s, AUs %s (%.1f MB); data checksum %s\n",
              args.out.c_str(), static_cast<long long>(dataset.size()),
              dataset.fold_keys().size(), static_cast<long long>(dataset.flow_side()),
              static_cast<long long>(dataset.flow_side()), have(dataset.faces),
              have(dataset.onsets), have(dataset.landmarks), have(dataset.aus),
              std::filesystem::file_size(args.out) / 1e6, dataset.checksum().c_str());
  return 0;
}

struct EvaluateArgs {
  std::string run, data, landmarks, out;
  bool other_data = false;
  std::vector<std::string> parts;
  SynthArgs synth;
};

int run_evaluate(EvaluateArgs& args) {
  // With the crops: the run may be of a model that looks at them (cheap to read).
  const auto dataset = load_dataset(args.data, args.landmarks, args.synth, args.parts, true);
  if (!args.out.empty() && !args.other_data) {
    throw mer::ConfigError("--out applies with --on-other-data only");
  }
  const auto report = mer::engine::evaluate_run(
      dataset, args.run,
      mer::engine::EvaluateOptions().other_data(args.other_data).out_dir(args.out).data_label(
          args.data.empty() ? dataset.root : args.data));
  const auto& m = report.metrics;
  if (report.other_data) {
    std::printf("evaluated %lld folds, %lld samples: trained on %s, tested on %s\n",
                static_cast<long long>(report.folds), static_cast<long long>(report.samples),
                report.trained_on.empty() ? args.run.c_str() : report.trained_on.c_str(),
                args.data.empty() ? "synthetic data" : args.data.c_str());
    std::printf("  UF1 %.4f  UAR %.4f  accuracy %.4f\n", m.uf1, m.uar, m.accuracy);
    if (report.missing > 0) {
      std::printf("  %lld test samples of the run are not in %s: left out\n",
                  static_cast<long long>(report.missing), args.data.c_str());
    }
    if (!args.out.empty()) {
      std::printf("  predictions.csv, summary.json (and explain.json for models that explain "
                  "themselves) in %s\n", args.out.c_str());
    }
    return 0;
  }
  std::printf("re-evaluated %lld folds, %lld samples of %s from their checkpoints%s\n",
              static_cast<long long>(report.folds), static_cast<long long>(report.samples),
              args.run.c_str(),
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

#ifdef MER_WITH_VISION
struct ExplainArgs {
  std::string run, data, landmarks, out_dir;
  std::vector<std::string> samples;
  SynthArgs synth;
};

int run_explain(ExplainArgs& args) {
  const auto dataset = load_dataset(args.data, args.landmarks, args.synth, {}, true);
  if (args.samples.empty()) {
    throw mer::ConfigError("give at least one --sample dataset/subject/sample (see the 'key' "
                           "column of " + args.run + "/explain.json, or predictions.csv)");
  }
  if (args.out_dir.empty()) args.out_dir = args.run + "/figures";
  std::filesystem::create_directories(args.out_dir);
  for (const auto& key : args.samples) {
    std::string file = key;
    std::replace(file.begin(), file.end(), '/', '_');
    const std::string png = args.out_dir + "/explain_" + file + ".png";
    mer::report::write_explanation_png(args.run, dataset, key, png);
    std::printf("wrote %s\n", png.c_str());
  }
  return 0;
}

struct LandmarksArgs {
  std::string data, out, model = mer::face::kDefaultLandmarkModel;
  int jobs = 1;
};

int run_landmarks(LandmarksArgs& args) {
  // Existing landmarks are not read: they are about to be replaced.
  const auto dataset =
      mer::data::read_prepared(args.data, mer::data::PreparedReadOptions().landmarks(false));
  if (args.out.empty()) args.out = args.data + "/" + mer::data::kLandmarksFile;
  std::vector<std::string> paths;
  for (const auto& s : dataset.samples) paths.push_back(args.data + "/" + s.face_path);
  std::fprintf(stderr, "fitting landmarks on %zu face crops of %s with %d job(s)...\n",
               paths.size(), args.data.c_str(), args.jobs);
  const auto fits = mer::face::fit_face_crops(
      paths, mer::face::CropLandmarksOptions().landmark_model(args.model).jobs(args.jobs));
  std::vector<mer::data::LandmarkRow> rows;
  std::map<std::string, int64_t> by_source;
  std::vector<std::string> fallbacks;
  for (size_t i = 0; i < fits.size(); ++i) {
    const auto& s = dataset.samples[i];
    const auto& fit = fits[i];
    if (fit.width != fit.height) {
      throw mer::DataError(paths[i] + " is " + std::to_string(fit.width) + "x" +
                           std::to_string(fit.height) +
                           ": face crops must be square (the flow map is the crop scaled)");
    }
    mer::data::LandmarkRow row;
    row.dataset = s.dataset;
    row.subject = s.subject;
    row.sample = s.sample;
    row.face_size = fit.width;
    row.source = fit.source;
    for (int p = 0; p < mer::face::kNumLandmarks; ++p) {
      row.xy[2 * p] = fit.points[p].x;
      row.xy[2 * p + 1] = fit.points[p].y;
    }
    rows.push_back(std::move(row));
    ++by_source[fit.source];
    if (fit.source == "fallback") fallbacks.push_back(s.dataset + "/" + s.subject + "/" + s.sample);
  }
  mer::data::write_landmarks(args.out, rows);
  const int64_t found = static_cast<int64_t>(fits.size()) - by_source["fallback"];
  std::printf("wrote %s: a face was found on %lld of %zu crops (", args.out.c_str(),
              static_cast<long long>(found), fits.size());
  bool first = true;
  for (const auto& [source, count] : by_source) {
    if (source == "fallback") continue;
    std::printf("%s%s %lld", first ? "" : ", ", source.c_str(), static_cast<long long>(count));
    first = false;
  }
  std::printf(")\n");
  if (!fallbacks.empty()) {
    std::printf("no face found on %zu crop(s); their landmarks were fitted in the typical face "
                "box of the others (source 'fallback'):\n",
                fallbacks.size());
    for (const auto& key : fallbacks) std::printf("  %s\n", key.c_str());
  }
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  mer::cli::MpiSession mpi(&argc, &argv);
  CLI::App app{"mer: micro-expression recognition toolkit (version " + std::string(mer::kVersion) +
               ")"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(mer::kVersion));

  auto* models = app.add_subcommand("models", "List the registered models");
  models->footer("Example: mer models");

  SynthArgs synth;
  std::string synth_out;
  auto* synth_cmd = app.add_subcommand(
      "synth", "Write the built-in synthetic dataset as a prepared-dataset folder");
  synth_cmd->add_option("--out", synth_out, "output folder")->required();
  add_synth_options(synth_cmd, synth, "Synthetic data");
  synth_cmd->footer("Example: mer synth --out data/synth --synth-subjects 16");

  LosoArgs loso;
  auto& train = loso.loso.train;
  auto* loso_cmd = app.add_subcommand(
      "loso", "Leave-one-subject-out training and evaluation of a model");
  loso.command = loso_cmd;
  const std::string g_data = "Data and output", g_train = "Training", g_proto = "Protocol",
                    g_run = "Execution";
  loso_cmd->add_option("--model", train.model, "model name (see `mer models`)")
      ->capture_default_str()->group(g_train);
  loso_cmd->add_option("--data", loso.data,
                       "prepared dataset folder (labels.csv + files) or its `mer cache` file "
                       "(.pt); default: built-in synthetic")
      ->check(CLI::ExistingPath)->group(g_data);
  loso_cmd->add_option("--landmarks", loso.landmarks,
                       "landmarks file of --data (default DATA/landmarks.csv when present; "
                       "see `mer landmarks`); used by landmark models (dere-grl)")
      ->check(CLI::ExistingFile)->group(g_data);
  loso_cmd->add_option("--parts", loso.parts,
                       "train and test on these dataset parts of --data only (e.g. casme2 of "
                       "the MEGC2019 composite; comma-separated)")
      ->delimiter(',')->group(g_data);
  loso_cmd->add_option("--out", loso.out,
                       "output folder; rerunning with the same folder resumes finished folds "
                       "(default runs/loso-MODEL-PROTOCOL-eEPOCHS-sSEED)")
      ->group(g_data);
  loso_cmd->add_option("--epochs", loso.epochs,
                       "epochs per fold (default: the model's, see `mer models`; STSTNet 500, "
                       "200 on the synthetic set)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))->group(g_train);
  loso_cmd->add_option("--lr", train.lr, "learning rate (default: the model's)")
      ->check(CLI::PositiveNumber)->group(g_train);
  loso_cmd->add_option("--batch-size", train.batch_size, "mini-batch size (default: the model's)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->group(g_train);
  loso_cmd->add_option("--optimizer", train.optimizer, "adam, adamw or sgd (default: the model's)")
      ->check(CLI::IsMember({"adam", "adamw", "sgd"}))->group(g_train);
  loso_cmd->add_option("--weight-decay", train.weight_decay, "weight decay (default: the model's)")
      ->check(CLI::NonNegativeNumber)->group(g_train);
  loso_cmd->add_option("--lr-decay", train.lr_decay,
                       "exponential learning-rate decay per epoch, in (0, 1] (default: the model's)")
      ->check(CLI::Range(1e-6, 1.0))->group(g_train);
  loso_cmd->add_option("--momentum", train.momentum, "SGD momentum")
      ->capture_default_str()->check(CLI::Range(0.0, 0.999999))->group(g_train);
  loso_cmd->add_option("--seed", train.seed, "random seed (same seed, same results on CPU)")
      ->capture_default_str()->group(g_train);
  loso_cmd->add_option("--class-weights", train.class_weights,
                       "none, or balanced (inverse class frequency of each fold's training set)")
      ->capture_default_str()->check(CLI::IsMember({"none", "balanced"}))->group(g_train);
  loso_cmd->add_option("--model-opt", loso.model_opts,
                       "model-specific option key=value (repeatable; see `mer models`)")
      ->group(g_train);
  loso_cmd->add_option("--protocol", loso.protocol,
                       "honest (fixed epochs, last epoch), inner-val (epoch chosen on held-out "
                       "training subjects) or oracle (best epoch on the TEST subject: inflated, "
                       "for reproducing paper tables only)")
      ->capture_default_str()->check(CLI::IsMember({"honest", "inner-val", "oracle"}))
      ->group(g_proto);
  loso_cmd->add_option("--val-fraction", train.validation_fraction,
                       "inner-val: share of training subjects held out for validation")
      ->capture_default_str()->check(CLI::Range(0.01, 0.9))->group(g_proto);
  loso_cmd->add_option("--patience", train.patience,
                       "inner-val: stop a fold after this many epochs without validation gain "
                       "(0 = train all epochs)")
      ->capture_default_str()->check(CLI::NonNegativeNumber)->group(g_proto);
  loso_cmd->add_option("--folds", loso.loso.folds,
                       "subset of folds: N (the first N) or keys like casme2/sub01,samm/006")
      ->group(g_run);
  loso_cmd->add_flag("--list-folds", loso.list_folds,
                     "print the data's fold keys (the values --folds takes) and exit")
      ->group(g_run);
  loso_cmd->add_option("--threads", loso.loso.threads, "worker threads (0 = all cores)")
      ->capture_default_str()->check(CLI::Range(0, 1024))->group(g_run);
  loso_cmd->add_option("--backend", train.backend,
                       "auto (fused CPU kernel where a model has one), fused or torch")
      ->capture_default_str()->check(CLI::IsMember({"auto", "fused", "torch"}))->group(g_run);
  loso_cmd->add_option("--device", train.device, "cpu or cuda")
      ->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}))->group(g_run);
  loso_cmd->add_flag("--quiet", loso.loso.quiet, "no progress output")->group(g_run);
  add_synth_options(loso_cmd, loso.synth, "Synthetic data (when no --data)");
  loso_cmd->footer(
      "Examples:\n"
      "  mer loso                                   # STSTNet on the built-in synthetic set\n"
      "  mer loso --model ststnet --data ../shared/data/megc2019 --epochs 500 --out runs/st\n"
      "  mer loso --data DIR --protocol inner-val --patience 50 --folds 4\n"
      "  mpirun -np 4 --hostfile hosts mer loso --data DIR --out /shared/run   # folds over 4 "
      "processes");

  CacheArgs cache;
  auto* cache_cmd = app.add_subcommand(
      "cache",
      "Decode a prepared dataset once into one file (.pt) that `--data` takes instead of the "
      "folder, also in a build without OpenCV (e.g. on a GPU machine)");
  cache_cmd->add_option("--data", cache.data, "prepared dataset folder")
      ->required()->check(CLI::ExistingDirectory);
  cache_cmd->add_option("--landmarks", cache.landmarks,
                        "landmarks file to include (default DATA/landmarks.csv when present)")
      ->check(CLI::ExistingFile);
  cache_cmd->add_option("--crop-side", cache.crop_side,
                        "side the face and onset crops are stored at")
      ->capture_default_str()->check(CLI::Range(8, 1024));
  cache_cmd->add_option("--out", cache.out, "cache file to write (name ending in .pt)")
      ->required();
  cache_cmd->footer(
      "Example: mer cache --data data/casme2-5class --out data/casme2-5class.pt\n"
      "         mer loso --model cva-fpf --data data/casme2-5class.pt --device cuda");

  EvaluateArgs evaluate;
  auto* evaluate_cmd = app.add_subcommand(
      "evaluate", "Re-predict every fold of a finished LOSO run from its checkpoints");
  evaluate_cmd->add_option("--run", evaluate.run, "output folder of `mer loso`")
      ->required()->check(CLI::ExistingDirectory);
  evaluate_cmd->add_option("--data", evaluate.data,
                           "the prepared dataset (folder or `mer cache` file) the run used "
                           "(default: built-in synthetic)")
      ->check(CLI::ExistingPath);
  evaluate_cmd->add_option("--landmarks", evaluate.landmarks,
                           "the landmarks file the run used (default DATA/landmarks.csv when "
                           "present)")
      ->check(CLI::ExistingFile);
  evaluate_cmd->add_option("--parts", evaluate.parts,
                           "the --parts the run was trained with (comma-separated)")
      ->delimiter(',');
  evaluate_cmd->add_flag("--on-other-data", evaluate.other_data,
                         "test the run's fold models on other data with the same samples (e.g. "
                         "an occluded copy from `mer occlude`) instead of checking they reproduce "
                         "the run");
  evaluate_cmd->add_option("--out", evaluate.out,
                           "with --on-other-data: write predictions.csv, summary.json, "
                           "explain.json there");
  add_synth_options(evaluate_cmd, evaluate.synth, "Synthetic data (when no --data)");
  evaluate_cmd->footer(
      "Examples: mer evaluate --run runs/st --data ../shared/data/megc2019\n"
      "          mer evaluate --run runs/st --data data/megc2019-mask --on-other-data "
      "--out runs/st-on-mask");

#ifdef MER_WITH_VISION
  ExplainArgs explain;
  auto* explain_cmd = app.add_subcommand(
      "explain", "Draw what a trained LOSO run's model looked at for given test samples");
  explain_cmd->add_option("--run", explain.run, "output folder of `mer loso`")
      ->required()->check(CLI::ExistingDirectory);
  explain_cmd->add_option("--data", explain.data,
                          "the prepared dataset (folder or `mer cache` file) the run used "
                          "(default: built-in synthetic)")
      ->check(CLI::ExistingPath);
  explain_cmd->add_option("--landmarks", explain.landmarks,
                          "the landmarks file the run used (default DATA/landmarks.csv when "
                          "present)")
      ->check(CLI::ExistingFile);
  explain_cmd->add_option("--sample", explain.samples,
                          "sample key dataset/subject/sample (repeatable)")->required();
  explain_cmd->add_option("--out-dir", explain.out_dir, "where the PNGs go (default RUN/figures)");
  add_synth_options(explain_cmd, explain.synth, "Synthetic data (when no --data)");
  explain_cmd->footer(
      "Example: mer explain --run runs/fr --data ../shared/data/megc2019 "
      "--sample casme2/sub01/EP02_01f");

  LandmarksArgs landmarks;
  auto* landmarks_cmd = app.add_subcommand(
      "landmarks",
      "Find the 68 facial landmarks on every face crop of a prepared dataset (dlib) and write "
      "them as a landmarks file for landmark models (dere-grl)");
  landmarks_cmd->add_option("--data", landmarks.data, "prepared dataset folder")
      ->required()->check(CLI::ExistingDirectory);
  landmarks_cmd->add_option("--out", landmarks.out,
                            "landmarks file to write (default DATA/landmarks.csv, which "
                            "`mer loso --data DATA` then reads by itself)");
  landmarks_cmd->add_option("--jobs", landmarks.jobs, "worker threads")
      ->capture_default_str()->check(CLI::Range(1, 256));
  landmarks_cmd->add_option("--landmark-model", landmarks.model,
                            "dlib 68-point shape predictor")
      ->capture_default_str()->check(CLI::ExistingFile);
  landmarks_cmd->footer(
      "Example: mer landmarks --data ../shared/data/megc2019 --out runs/megc2019-landmarks.csv "
      "--jobs 2\n"
      "         mer loso --model dere-grl --data ../shared/data/megc2019 --landmarks "
      "runs/megc2019-landmarks.csv");

  mer::cli::PrepareCommand prepare(app);
  mer::cli::PredictCommand predict(app);
  mer::cli::OccludeCommand occlude(app);
  mer::cli::ReportCommand report(app);
#endif

  if (argc == 1) {  // no subcommand: show what there is
    std::cout << app.help();
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (models->parsed()) return run_models();
    if (synth_cmd->parsed()) return run_synth(synth, synth_out);
    if (loso_cmd->parsed()) return run_loso(loso, mpi);
    if (evaluate_cmd->parsed()) return run_evaluate(evaluate);
    if (cache_cmd->parsed()) return run_cache(cache);
#ifdef MER_WITH_VISION
    if (explain_cmd->parsed()) return run_explain(explain);
    if (landmarks_cmd->parsed()) return run_landmarks(landmarks);
    if (prepare.parsed()) return prepare.run();
    if (predict.parsed()) return predict.run();
    if (occlude.parsed()) return occlude.run();
    if (report.parsed()) return report.run();
#endif
  } catch (const mer::Error& e) {
    std::fprintf(stderr, "mer: error: %s\n", e.what());
    mpi.abort(1);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "mer: torch error: %s\n", e.what_without_backtrace());
    mpi.abort(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mer: error: %s\n", e.what());
    mpi.abort(1);
  }
  return 0;
}

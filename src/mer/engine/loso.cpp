#include "mer/engine/loso.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "mer/core/atomic_file.h"
#include "mer/core/checksum.h"
#include "mer/core/error.h"
#include "mer/core/utf8.h"
#include "mer/core/progress.h"
#include "mer/core/version.h"
#include "mer/engine/batch_source.h"
#include "mer/engine/checkpoint.h"
#include "mer/engine/explain.h"
#include "mer/engine/fold_batch_trainer.h"
#include "mer/engine/results.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {

std::string fold_folder_name(const std::string& fold_key) {
  std::string name;
  for (char c : fold_key) {
    if (c == '/') {
      name += "__";
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') {
      name += c;
    } else {
      name += '_';
    }
  }
  return name;
}

// Threads do not change a fold's result (folds are independent and each is deterministic),
// so a run may be resumed with another --threads.
nlohmann::json run_settings(const TrainOptions& o, const std::string& backend,
                            const data::Dataset& dataset) {
  const auto& spec = models::find_model(o.model);
  nlohmann::json j = {{"model", o.model},
                      {"model_options", o.model_options},
                      {"model_spec_version", spec.version},
                      {"epochs", o.epochs},
                      {"lr", o.lr},
                      {"batch_size", o.batch_size},
                      {"optimizer", o.optimizer},
                      {"weight_decay", o.weight_decay},
                      {"seed", o.seed},
                      {"class_weights", o.class_weights},
                      {"protocol", protocol_name(o.protocol)},
                      {"backend", backend},
                      {"device", o.device},
                      {"data_checksum", dataset.checksum()}};
  // Landmarks change the results of the models that read them ("" = none: the model's
  // fallback layout).
  if (spec.inputs_for(spec.resolve_options(o.model_options)).landmarks) {
    j["landmarks_checksum"] = dataset.landmarks_checksum();
  }
  if (o.optimizer == "sgd") j["momentum"] = o.momentum;
  if (o.lr_decay != 1.0) j["lr_decay"] = o.lr_decay;  // absent when constant: older runs resume
  if (o.protocol == Protocol::kInnerVal) {
    j["val_fraction"] = o.validation_fraction;
    j["patience"] = o.patience;
  }
  // Stacked folds are another run (a batched form draws dropout from one stream per group;
  // the loss and optimiser round differently). Absent fold by fold.
  if (stacks_folds(o)) {
    j["fold_batch"] = o.fold_batch > 1 ? nlohmann::json(o.fold_batch) : nlohmann::json("all");
  }
  if (o.precision != "fp32") j["precision"] = o.precision;  // absent in fp32: older runs resume
  if (o.augment != "none") j["augment"] = o.augment;        // absent without: older runs resume
  // Absent for subject folds, so that runs recorded before grouping existed resume.
  if (o.group_by != Grouping::kSubject) j["group_by"] = grouping_name(o.group_by);
  return j;
}

namespace {

void check_or_write_settings(const fs::path& out, const nlohmann::json& settings) {
  const fs::path path = out / "run.json";
  if (fs::exists(path)) {
    nlohmann::json previous;
    try {
      std::ifstream in(path);
      previous = nlohmann::json::parse(in).at("settings");
    } catch (const std::exception& e) {
      throw ConfigError(path.string() + ": unreadable (" + e.what() +
                        "); remove it or use another --out");
    }
    // Model options recorded by an older mer (a partial table, no version) stand for the
    // full table they resolve to.
    if (previous.contains("model") && previous.value("model", "") == settings.value("model", "") &&
        !previous.contains("model_spec_version")) {
      try {
        previous["model_options"] =
            models::recorded_model_options(previous["model"].get<std::string>(), previous);
        previous["model_spec_version"] = settings.at("model_spec_version");
      } catch (const Error&) {
        // left as recorded: the difference is reported below
      }
    }
    std::string diff;
    for (const auto& [key, value] : settings.items()) {
      if (!previous.contains(key) || previous[key] != value) {
        diff += (diff.empty() ? "" : ", ") + key + " " +
                (previous.contains(key) ? previous[key].dump() : "(unset)") + " -> " + value.dump();
      }
    }
    // Settings recorded only away from their default (subject folds, fold by fold, a
    // constant learning rate): a run with one recorded is another run.
    for (const auto& [key, default_text] : std::vector<std::pair<std::string, std::string>>{
             {"group_by", "\"subject\""}, {"fold_batch", "1"}, {"lr_decay", "1"},
             {"precision", "\"fp32\""}, {"augment", "\"none\""}}) {
      if (previous.contains(key) && !settings.contains(key)) {
        diff += (diff.empty() ? "" : ", ") + key + " " + previous[key].dump() + " -> " + default_text;
      }
    }
    if (!diff.empty()) {
      throw ConfigError(out.string() + " holds a run with other settings (" + diff +
                        "); use another --out to start a new run");
    }
    return;
  }
  write_file_atomic(path.string(),
                    nlohmann::json({{"version", kResultsVersion}, {"settings", settings}}).dump(2));
}

// One line for a fold's failure: LibTorch's message without its C++ stack trace.
std::string failure_text(const std::exception& e) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e)) {
    const std::string& message = torch_error->msg();
    return "LibTorch: " + message.substr(0, message.find('\n'));
  }
  return e.what();
}

// A finished fold has a readable fold.json (written after its model.pt) for the same data
// whose recorded checkpoint hash matches model.pt (fold.json of an older mer records none:
// there the checkpoint must load). Otherwise returns false and, where a fold.json exists,
// says in `why` what is wrong with it.
bool load_finished(const fs::path& dir, const data::Dataset& dataset, FoldOutcome& outcome,
                   std::string* why = nullptr) {
  const fs::path result = dir / "fold.json";
  const fs::path model = dir / "model.pt";
  if (!fs::is_regular_file(result)) return false;
  const auto retrain = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (!fs::is_regular_file(model)) return retrain(model.string() + " is missing");
  nlohmann::json j;
  try {
    std::ifstream in(result);
    j = nlohmann::json::parse(in);
    outcome = outcome_from_json(j, dataset);
  } catch (const std::exception&) {
    return retrain(result.string() + " is unreadable or from other data");
  }
  try {
    if (j.contains("model_hash")) {
      if (file_hash(model.string()) != j.at("model_hash").get<std::string>()) {
        return retrain(model.string() + " does not match the hash recorded in fold.json "
                       "(truncated or replaced)");
      }
    } else {
      load_checkpoint(model.string());
    }
  } catch (const std::exception&) {
    return retrain(model.string() + " is unreadable (truncated or corrupt)");
  }
  return true;
}

// Holds OUT/.lock with flock(2) while a run writes OUT: a second process on the same folder
// is refused. The kernel drops the lock when the holder exits, however it exits (kill -9
// included), so a stale file never blocks a later run.
class OutLock {
 public:
  explicit OutLock(const fs::path& out) {
    const std::string path = (out / ".lock").string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError(path + ": cannot create the lock file: " + io_failure_reason(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      ::close(fd_);
      if (e == EWOULDBLOCK) {
        throw ConfigError(out.string() + ": another mer process is writing this folder (it "
                          "holds " + path + "); wait for it to finish or use another --out");
      }
      throw IoError(path + ": cannot lock: " + io_failure_reason(e));
    }
  }
  ~OutLock() { ::close(fd_); }
  OutLock(const OutLock&) = delete;
  OutLock& operator=(const OutLock&) = delete;

 private:
  int fd_ = -1;
};

// Failures that a rerun cannot fix (a setting or the data is wrong) stop the run at once;
// any other (a full disk, memory, a signal) leaves the fold to a rerun.
bool is_permanent_failure(const std::exception& e) {
  return dynamic_cast<const ConfigError*>(&e) != nullptr ||
         dynamic_cast<const DataError*>(&e) != nullptr;
}

// OUT/explain.json: every finished fold's explanations, in fold order, labelled with the
// protocol. Written only for models that explain themselves.
void write_run_explanations(const fs::path& out, const std::vector<Fold>& folds,
                            const data::Dataset& dataset, const TrainOptions& train) {
  nlohmann::json samples = nlohmann::json::array();
  nlohmann::json model_info;  // the same in every fold: taken from the first
  for (const auto& fold : folds) {
    const fs::path file = out / "folds" / fold_folder_name(fold.key) / "explain.json";
    if (!fs::is_regular_file(file)) continue;
    try {
      std::ifstream in(file);
      const auto fold_json = nlohmann::json::parse(in);
      if (model_info.is_null() && fold_json.contains("model_info")) {
        model_info = fold_json.at("model_info");
      }
      for (auto sample : fold_json.at("samples")) {
        sample["fold"] = fold.key;
        sample["model_epoch"] = fold_json.at("model_epoch");
        samples.push_back(std::move(sample));
      }
    } catch (const std::exception& e) {
      throw DataError(file.string() + ": unreadable explanation file: " + e.what());
    }
  }
  if (samples.empty()) return;
  nlohmann::json run = {{"format", "mer-explanations"},
                        {"version", 1},
                        {"model", train.model},
                        {"protocol", protocol_name(train.protocol)},
                        {"protocol_note", protocol_note(train.protocol)},
                        {"explanations", explanation_schema(models::find_model(train.model))},
                        {"class_names", dataset.class_names},
                        {"samples", samples}};
  if (!model_info.is_null()) run["model_info"] = model_info;
  write_file_atomic((out / "explain.json").string(), run.dump());
}

}  // namespace

std::string default_run_folder(const TrainOptions& options, const data::Dataset& dataset,
                               const std::string& data_name) {
  TrainOptions train = options;
  train.model_options =
      models::resolve_model_options(train.model, train.model_options, data_traits(dataset));
  Fnv1a hash;
  hash.update(run_settings(train, resolve_backend(train), dataset).dump());
  std::string name;
  for (char c : data_name) {
    name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '-';
  }
  return "runs/loso-" + train.model + "-" + (name.empty() ? "data" : name) + "-" +
         protocol_name(train.protocol) +
         (train.group_by == Grouping::kSubject ? "" : "-by-" + grouping_name(train.group_by)) + "-e" + std::to_string(train.epochs) + "-s" +
         std::to_string(train.seed) + "-" + hash.hex().substr(0, 8);
}

LosoResult run_loso(const data::Dataset& dataset, const LosoOptions& options,
                    const std::string& out_dir) {
  const auto start = std::chrono::steady_clock::now();
  dataset.validate();
  options.train.validate();
  // The options the run trains with: the user's, fitted to the data and resolved to the
  // model's full option table, so that run.json and every checkpoint say exactly what was
  // trained (idempotent when the caller has resolved them already).
  TrainOptions train = options.train;
  train.model_options =
      models::resolve_model_options(train.model, train.model_options, data_traits(dataset));
  const auto& spec = models::find_model(train.model);
  const auto inputs = spec.inputs_for(spec.resolve_options(train.model_options));
  const std::string backend = resolve_backend(train);
  FoldOptions fold_options;
  fold_options.seed = train.seed;
  fold_options.group_by = train.group_by;
  if (train.protocol == Protocol::kInnerVal) fold_options.validation_fraction = train.validation_fraction;
  const auto all_folds = make_loso_folds(dataset, fold_options);
  check_fold_invariants(dataset, all_folds, /*complete=*/true, train.group_by);
  const auto folds = select_folds(all_folds, options.folds);

  // Paths and labels go into run.json, every checkpoint and the summary: refused now rather
  // than when the first fold's results are written (nlohmann::json refuses invalid UTF-8 when
  // it dumps).
  for (const auto& [what, text] : std::vector<std::pair<std::string, std::string>>{
           {"--out", out_dir},
           {"--data", options.data_label.empty() ? dataset.root : options.data_label},
           {"--landmarks", options.landmarks_label}}) {
    if (!is_valid_utf8(text)) {
      throw ConfigError(what + " " + text + ": the path is not valid UTF-8, and the results "
                        "record it as JSON text; rename it");
    }
  }
  try {
    (void)run_settings(train, backend, dataset).dump();
    (void)nlohmann::json(options.preprocessing).dump();
  } catch (const nlohmann::json::exception&) {
    throw ConfigError("the run's settings (model options, data description) hold text that is "
                      "not valid UTF-8");
  }

  const fs::path out(out_dir);
  std::error_code ec;
  fs::create_directories(out / "folds", ec);
  if (ec) throw ConfigError(out_dir + ": cannot create output folder: " + ec.message());
  const std::string checksum = dataset.checksum();
  const auto& dist = options.distribution;
  MER_CHECK(dist.size >= 1 && dist.rank >= 0 && dist.rank < dist.size,
            "invalid fold distribution rank/size");
  MER_CHECK(dist.size == 1 || dist.barrier, "several processes need a barrier");
  // One process (or one mpirun's rank 0, for all its ranks) writes OUT at a time.
  std::unique_ptr<OutLock> lock;
  if (dist.rank == 0) lock = std::make_unique<OutLock>(out);
  // Rank 0 writes run.json before the others compare against it.
  if (dist.rank == 0) check_or_write_settings(out, run_settings(train, backend, dataset));
  if (dist.size > 1) dist.barrier();
  if (dist.rank != 0) check_or_write_settings(out, run_settings(train, backend, dataset));

  LosoResult result;
  std::vector<FoldOutcome> outcomes(folds.size());
  std::vector<bool> done(folds.size(), false);
  std::vector<size_t> queue;
  size_t unfinished = 0;
  std::vector<std::string> retrain_notes;
  for (size_t f = 0; f < folds.size(); ++f) {
    std::string why;
    if (load_finished(out / "folds" / fold_folder_name(folds[f].key), dataset, outcomes[f], &why)) {
      done[f] = true;
      ++result.resumed;
    } else if (!why.empty()) {
      retrain_notes.push_back("fold " + folds[f].key + " is trained again: " + why);
    }
    if (done[f]) {
      continue;
    } else if (unfinished++ % dist.size == static_cast<size_t>(dist.rank)) {
      queue.push_back(f);
    }
  }

  int64_t threads = options.threads > 0 ? options.threads
                                        : std::max<int64_t>(1, std::thread::hardware_concurrency());
  // Folds are independent: on the CPU, one fold per thread (the fused kernel is
  // single-threaded; torch models draw dropout from a per-fold generator, and the tensors of
  // these small models are far too small for torch's intra-op threads to pay). On CUDA folds
  // run one at a time on the device.
  const bool stacked = stacks_folds(train);
  const bool parallel_folds = !stacked && (backend == "fused" || train.device == "cpu");
  const int64_t workers =
      parallel_folds ? std::max<int64_t>(1, std::min<int64_t>(threads, queue.size())) : 1;
  at::set_num_threads(parallel_folds ? 1 : static_cast<int>(threads));

  const std::string who =
      dist.size > 1 ? " [rank " + std::to_string(dist.rank) + "/" + std::to_string(dist.size) + "]"
                    : "";
  Progress progress("loso " + train.model + who, static_cast<int64_t>(queue.size()) * train.epochs);
  progress.set_quiet(options.quiet);
  if (options.on_progress) progress.set_listener(options.on_progress);
  if (result.resumed > 0 && dist.rank == 0) {
    progress.message("resuming: " + std::to_string(result.resumed) + " of " +
                     std::to_string(folds.size()) + " folds already finished in " + out_dir);
  }
  if (dist.rank == 0) {
    for (const auto& note : retrain_notes) progress.message(note);
  }
  if (!options.quiet && !queue.empty()) {
    progress.message("training " + std::to_string(queue.size()) + " folds" + who + ", " +
                     std::to_string(train.epochs) + " epochs, backend " + backend + ", " +
                     (stacked ? "folds stacked in groups of " +
                                    std::to_string(train.fold_batch > 1
                                                       ? std::min<int64_t>(train.fold_batch, queue.size())
                                                       : static_cast<int64_t>(queue.size())) +
                                    (models::find_model(train.model).fold_stack
                                         ? " (batched form)"
                                         : " (generic stack: each fold's own module in lockstep)")
                              : std::to_string(workers) + " parallel fold(s)") +
                     (train.precision != "fp32" ? ", precision " + train.precision : std::string()) +
                     (train.augment != "none" ? ", augment " + train.augment : std::string()) +
                     ", protocol " + protocol_name(train.protocol));
  }
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::exception_ptr permanent;  // the first failure no rerun fixes: ends the run
  // Writes a trained fold (checkpoint, explanations, fold.json last) and reports it.
  auto save_fold = [&](size_t f, FoldOutcome outcome, const models::ModelPtr& model) {
    const auto& fold = folds[f];
    if (outcome.epochs_run < train.epochs) {
      progress.message("fold " + fold.key + ": stopped early after epoch " +
                       std::to_string(outcome.epochs_run) + " of " + std::to_string(train.epochs) +
                       " (no validation gain for " + std::to_string(train.patience) +
                       " epochs); epoch " + std::to_string(outcome.epoch_used) + " kept");
    }
    const fs::path dir = out / "folds" / fold_folder_name(fold.key);
    fs::create_directories(dir);
    const auto meta = checkpoint_metadata(
        train, dataset, options.data_label.empty() ? dataset.root : options.data_label, checksum,
        options.preprocessing, fold.key, outcome.epoch_used);
    const std::string model_hash = save_checkpoint((dir / "model.pt").string(), model, meta);
    // The saved model's epoch: the last one, except under inner-val (restored best).
    const int64_t model_epoch = train.protocol == Protocol::kInnerVal ? outcome.epoch_used
                                                                      : outcome.epochs_run;
    const auto explanation = explain_fold(model, dataset, outcome, model_epoch);
    if (!explanation.is_null()) {
      write_file_atomic((dir / "explain.json").string(), explanation.dump());
    }
    // fold.json last: its presence marks the fold finished.
    auto fold_json = outcome_to_json(outcome, dataset);
    fold_json["model_hash"] = model_hash;  // resume trusts model.pt only if it matches
    write_file_atomic((dir / "fold.json").string(), fold_json.dump());
    int64_t correct = 0;
    for (size_t i = 0; i < outcome.samples.size(); ++i) {
      correct += outcome.predictions[i] == dataset.samples[outcome.samples[i]].label;
    }
    progress.message("fold " + fold.key + ": " + std::to_string(correct) + "/" +
                     std::to_string(outcome.samples.size()) + " correct, " +
                     format_duration(outcome.seconds));
    std::lock_guard<std::mutex> lock(mutex);
    outcomes[f] = std::move(outcome);
    done[f] = true;
  };
  // A fold that failed: a failure no rerun fixes ends the run, any other is reported.
  auto record_failure = [&](const std::string& key, const std::exception& e) {
    const std::string why = failure_text(e);
    std::lock_guard<std::mutex> lock(mutex);
    if (is_permanent_failure(e)) {
      if (!permanent) {
        const std::string text = "fold " + key + ": " + why;
        permanent = dynamic_cast<const ConfigError*>(&e)
                        ? std::make_exception_ptr(ConfigError(text))
                        : std::make_exception_ptr(DataError(text));
      }
      return;
    }
    progress.message("fold " + key + " FAILED: " + why);
    result.failures.push_back(key + ": " + why);
  };
  const FoldTrainer trainer(dataset, train);
  auto work = [&] {
    for (size_t q = next++; q < queue.size(); q = next++) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (permanent) return;
      }
      const size_t f = queue[q];
      const auto& fold = folds[f];
      int64_t reported = 0;
      try {
        models::ModelPtr model;
        auto outcome = trainer.run(fold, model, [&](int64_t epoch) {
          progress.advance(epoch - reported, "fold " + fold.key + " epoch " +
                                                 std::to_string(epoch) + "/" +
                                                 std::to_string(train.epochs));
          reported = epoch;
        });
        progress.advance(train.epochs - reported);  // early stop: the rest counts as done
        save_fold(f, std::move(outcome), model);
      } catch (const std::exception& e) {
        progress.advance(train.epochs - reported);
        record_failure(fold.key, e);
      }
    }
  };
  // Stacked folds: groups of fold_batch folds, each group one computation on all threads.
  auto work_stacked = [&] {
    const size_t group = train.fold_batch > 1 ? static_cast<size_t>(train.fold_batch) : queue.size();
    const FoldBatchTrainer stacked_trainer(dataset, train);
    for (size_t first = 0; first < queue.size() && !permanent; first += group) {
      std::vector<size_t> members(queue.begin() + first,
                                  queue.begin() + std::min(queue.size(), first + group));
      std::vector<Fold> group_folds;
      for (auto f : members) group_folds.push_back(folds[f]);
      const std::string label = group_folds.size() == 1
                                    ? "fold " + group_folds.front().key
                                    : std::to_string(group_folds.size()) + " folds (" +
                                          group_folds.front().key + " ... " +
                                          group_folds.back().key + ")";
      int64_t reported = 0;
      const int64_t width = static_cast<int64_t>(members.size());
      std::vector<FoldOutcome> group_outcomes;
      std::vector<models::ModelPtr> models;
      try {
        group_outcomes = stacked_trainer.run(group_folds, models, [&](int64_t epoch) {
          progress.advance((epoch - reported) * width, label + " epoch " + std::to_string(epoch) +
                                                           "/" + std::to_string(train.epochs));
          reported = epoch;
        });
        progress.advance((train.epochs - reported) * width);
      } catch (const std::exception& e) {
        progress.advance((train.epochs - reported) * width);
        for (const auto& fold : group_folds) record_failure(fold.key, e);
        continue;
      }
      for (size_t i = 0; i < members.size(); ++i) {
        try {
          save_fold(members[i], std::move(group_outcomes[i]), models[i]);
        } catch (const std::exception& e) {
          record_failure(group_folds[i].key, e);
        }
      }
    }
  };
  if (stacked) {
    work_stacked();
  } else {
    std::vector<std::thread> pool;
    for (int64_t w = 1; w < workers; ++w) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
  }
  progress.finish();
  if (permanent) std::rethrow_exception(permanent);

  if (dist.size > 1) {
    dist.barrier();  // every rank's folds are on disk now
    if (dist.rank != 0) return result;
    for (size_t f = 0; f < folds.size(); ++f) {
      if (!done[f]) {
        done[f] = load_finished(out / "folds" / fold_folder_name(folds[f].key), dataset, outcomes[f]);
        if (!done[f] && std::find_if(result.failures.begin(), result.failures.end(),
                                     [&](const std::string& m) { return m.rfind(folds[f].key + ":", 0) == 0; }) ==
                            result.failures.end()) {
          result.failures.push_back(folds[f].key + ": not finished (failed on another rank)");
        }
      }
    }
  }
  for (size_t f = 0; f < folds.size(); ++f) {
    if (done[f]) result.outcomes.push_back(std::move(outcomes[f]));
  }
  RunDescription run;
  run.model = train.model;
  run.options = train;
  run.backend = backend;
  run.data = options.data_label.empty() ? dataset.root : options.data_label;
  run.data_checksum = checksum;
  run.folds_total = static_cast<int64_t>(all_folds.size());
  run.threads = threads;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result.outcomes.empty()) {
    result.summary = make_summary(result.outcomes, dataset, run);
    if (inputs.landmarks) {
      result.summary["landmarks"] =
          dataset.landmarks.defined()
              ? (options.landmarks_label.empty() ? std::string("given") : options.landmarks_label)
              : std::string("none: the model's template layout");
      result.summary["landmarks_checksum"] = dataset.landmarks_checksum();
    }
    result.summary["resumed_folds"] = result.resumed;
    result.summary["failed_folds"] = result.failures;
    write_file_atomic((out / "summary.json").string(), result.summary.dump(2));
    write_file_atomic((out / "predictions.csv").string(),
                      predictions_csv(result.outcomes, dataset, train.protocol));
    write_run_explanations(out, folds, dataset, train);
  }
  return result;
}

}  // namespace mer::engine

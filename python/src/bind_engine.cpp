// mer.loso(...): a LOSO run as `mer loso` makes it (same defaults, same output folder, same
// summary); mer.load_checkpoint(path): a trained model callable on a batch.
#include <filesystem>
#include <optional>
#include <set>

#include "bindings.h"
#include "mer/core/error.h"
#include "mer/engine/batch_source.h"
#include "mer/engine/inference.h"
#include "mer/engine/loso.h"
#include "mer/models/registry.h"

namespace mer::python {

namespace {

// Where a LOSO reads its data from: a mer.Dataset, a path, or None (the synthetic set).
engine::OpenedData data_of(const py::object& data, const std::string& model,
                           const std::map<std::string, std::string>& options) {
  if (data.is_none()) return engine::open_dataset(engine::DataSourceOptions());
  if (py::isinstance<DatasetHandle>(data)) return data.cast<const DatasetHandle&>().opened;
  const auto path = py::str(data).cast<std::string>();
  py::gil_scoped_release release;
  return engine::open_dataset(
      engine::DataSourceOptions().path(path).crops(engine::may_read_crops(model, options)));
}

// Per-sample result columns (pandas.DataFrame(result["predictions"])): one row per test
// sample in fold order, with each class's probability as p_<class>.
py::dict prediction_columns(const engine::LosoResult& result, const data::Dataset& dataset) {
  py::list fold, sample, subject, label, prediction, predicted, emotion, epoch_used;
  std::vector<py::list> probabilities(dataset.class_names.size());
  for (const auto& o : result.outcomes) {
    for (size_t i = 0; i < o.samples.size(); ++i) {
      const auto& s = dataset.samples.at(static_cast<size_t>(o.samples[i]));
      fold.append(o.key);
      subject.append(s.subject);
      sample.append(s.sample);
      label.append(s.label);
      emotion.append(s.emotion);
      prediction.append(o.predictions[i]);
      predicted.append(dataset.class_names.at(static_cast<size_t>(o.predictions[i])));
      epoch_used.append(o.epoch_used);
      for (size_t k = 0; k < probabilities.size() && i < o.probabilities.size(); ++k) {
        probabilities[k].append(o.probabilities[i].at(k));
      }
    }
  }
  py::dict columns;
  columns["fold"] = fold;
  columns["subject"] = subject;
  columns["sample"] = sample;
  columns["label"] = label;
  columns["emotion"] = emotion;
  columns["prediction"] = prediction;
  columns["predicted"] = predicted;
  columns["epoch_used"] = epoch_used;
  for (size_t k = 0; k < probabilities.size(); ++k) {
    columns[py::str("p_" + dataset.class_names[k])] = probabilities[k];
  }
  return columns;
}

py::dict loso(const py::object& data, const std::string& model, const py::dict& model_options,
              const std::optional<std::string>& out, std::optional<int64_t> epochs,
              std::optional<double> lr, std::optional<int64_t> batch_size,
              std::optional<std::string> optimizer, std::optional<double> weight_decay,
              std::optional<double> lr_decay, std::optional<double> momentum, uint64_t seed,
              const std::string& protocol, const std::string& class_weights,
              std::optional<double> val_fraction, std::optional<int64_t> patience,
              const std::string& backend, const std::string& device, int64_t fold_batch,
              const std::string& precision, const std::string& augment, const std::string& folds, int64_t threads, const py::object& progress, bool quiet) {
  engine::TrainOptions train;
  train.model = model;
  train.model_options = option_texts(model_options);
  train.seed = seed;
  train.protocol = engine::parse_protocol(protocol);
  train.class_weights = class_weights;
  train.backend = backend;
  train.device = device;
  train.fold_batch = fold_batch;
  train.precision = precision;
  train.augment = augment;
  if (train.protocol != engine::Protocol::kInnerVal && (val_fraction || patience)) {
    throw ConfigError("val_fraction and patience apply to protocol=\"inner-val\" only");
  }
  if (val_fraction) train.validation_fraction = *val_fraction;
  if (patience) train.patience = *patience;
  if (momentum) train.momentum = *momentum;
  // The settings given; the others are the model's own training defaults, as with `mer loso`.
  std::set<std::string> given;
  if (epochs) train.epochs = *epochs, given.insert("epochs");
  if (lr) train.lr = *lr, given.insert("lr");
  if (batch_size) train.batch_size = *batch_size, given.insert("batch_size");
  if (optimizer) train.optimizer = *optimizer, given.insert("optimizer");
  if (weight_decay) train.weight_decay = *weight_decay, given.insert("weight_decay");
  if (lr_decay) train.lr_decay = *lr_decay, given.insert("lr_decay");

  const auto opened = data_of(data, train.model, train.model_options);
  engine::apply_training_defaults(train, given, opened.synthetic);
  if (momentum && train.optimizer != "sgd") {
    throw ConfigError("momentum has no effect with optimizer \"" + train.optimizer +
                      "\" (it applies to optimizer \"sgd\" only)");
  }
  train.model_options = models::resolve_model_options(train.model, train.model_options,
                                                      engine::data_traits(opened.dataset));
  train.validate();

  engine::LosoOptions options;
  options.train = train;
  options.folds = folds;
  options.threads = threads;
  options.quiet = quiet;
  options.data_label = opened.label;
  options.landmarks_label = opened.landmarks_label;
  options.preprocessing = opened.preprocessing;
  std::string out_dir = out.value_or("");
  if (out_dir.empty()) {
    const std::string data_name =
        opened.synthetic ? "synthetic"
                         : std::filesystem::path(opened.dataset.root).filename().string();
    out_dir = engine::default_run_folder(train, opened.dataset, data_name);
  }
  // The callback runs under the GIL; the first exception it raises is re-raised after the
  // run (finished folds are on disk by then) and silences it for the rest of the run.
  std::optional<py::error_already_set> callback_error;
  if (!progress.is_none()) {
    options.on_progress = [&progress, &callback_error](const ProgressUpdate& update) {
      py::gil_scoped_acquire acquire;
      if (callback_error) return;
      try {
        py::dict event;
        event["done"] = update.done;
        event["total"] = update.total;
        event["status"] = update.status;
        event["message"] = update.message;
        progress(event);
      } catch (py::error_already_set& e) {
        callback_error = std::move(e);
      }
    };
  }
  engine::LosoResult result;
  {
    py::gil_scoped_release release;
    result = engine::run_loso(opened.dataset, options, out_dir);
  }
  if (callback_error) throw *callback_error;
  py::dict out_dict;
  out_dict["summary"] = to_python(result.summary);
  out_dict["predictions"] = prediction_columns(result, opened.dataset);
  out_dict["out"] = out_dir;
  out_dict["failures"] = result.failures;
  out_dict["resumed"] = result.resumed;
  return out_dict;
}

// A checkpoint's model as a callable: model(flow, landmarks=None, face=None, onset=None,
// aus=None) -> logits [N, classes].
struct CheckpointModel {
  engine::LoadedCheckpoint checkpoint;

  models::Output forward(const torch::Tensor& flow, const std::optional<torch::Tensor>& landmarks,
                         const std::optional<torch::Tensor>& face,
                         const std::optional<torch::Tensor>& onset,
                         const std::optional<torch::Tensor>& aus) const {
    models::Batch batch;
    batch.flow = flow.dim() == 3 ? flow.unsqueeze(0) : flow;
    const auto n = batch.flow.dim() > 0 ? batch.flow.size(0) : 0;
    // One sample's inputs may come without their batch dimension, like the flow map.
    auto batched = [n](const std::optional<torch::Tensor>& t, int64_t sample_dims) {
      if (!t) return torch::Tensor();
      return (t->dim() == sample_dims && n == 1) ? t->unsqueeze(0) : *t;
    };
    batch.landmarks = batched(landmarks, 2);
    batch.face = batched(face, 3);
    batch.onset = batched(onset, 3);
    batch.aus = batched(aus, 1);
    py::gil_scoped_release release;
    return engine::run_checkpoint(checkpoint, batch);
  }
};

// A Model method taking the model's inputs, returning `pick` of the forward pass's output.
template <typename Pick>
auto model_method(Pick pick) {
  return [pick](const CheckpointModel& self, const torch::Tensor& flow,
                const std::optional<torch::Tensor>& landmarks,
                const std::optional<torch::Tensor>& face, const std::optional<torch::Tensor>& onset,
                const std::optional<torch::Tensor>& aus) {
    return pick(self.forward(flow, landmarks, face, onset, aus));
  };
}

// The keyword arguments of model_method's methods: flow, then the optional inputs.
struct ModelInputArgs {
  py::arg flow{"flow"};
  py::arg_v landmarks{"landmarks", py::none()}, face{"face", py::none()},
      onset{"onset", py::none()}, aus{"aus", py::none()};
};

}  // namespace

void bind_engine(py::module_& m) {
  m.def("loso", &loso, py::arg("data") = py::none(), py::arg("model") = models::kDefaultModel,
        py::arg("model_options") = py::dict(), py::arg("out") = py::none(),
        py::arg("epochs") = py::none(), py::arg("lr") = py::none(),
        py::arg("batch_size") = py::none(), py::arg("optimizer") = py::none(),
        py::arg("weight_decay") = py::none(), py::arg("lr_decay") = py::none(),
        py::arg("momentum") = py::none(), py::arg("seed") = 1, py::arg("protocol") = "honest",
        py::arg("class_weights") = "none", py::arg("val_fraction") = py::none(),
        py::arg("patience") = py::none(), py::arg("backend") = "auto",
        py::arg("device") = "cpu", py::arg("fold_batch") = 0, py::arg("precision") = "fp32",
        py::arg("augment") = "none", py::arg("folds") = "",
        py::arg("threads") = 0,
        py::arg("progress") = py::none(), py::arg("quiet") = true,
        R"(Leave-one-subject-out training and testing, as `mer loso` does it.

data: a mer.Dataset, a prepared folder's path, or None for the built-in synthetic set.
Training settings left as None are the model's own defaults (as on the command line); the
run is written to `out` (default: the folder `mer loso` would pick) and resumes from the
finished folds there. fold_batch: folds trained as one computation (`mer loso --fold-batch`;
0 = all at once on cuda where the model has a batched stacked form, else fold by fold;
N > 1: groups of N, every model). precision: "fp32", "tf32" (cuda) or "bf16" (mixed
precision), as `mer loso --precision`. augment: "none" or "flip" (training samples
mirrored left-right at random), as `mer loso --augment`.
progress(event) is called with {"done", "total", "status", "message"}.
Returns {"summary": summary.json as a dict, "predictions": per-sample columns
(pandas.DataFrame(...)), "out": the run folder, "failures": [...], "resumed": n}.)");

  const ModelInputArgs in;
  py::class_<CheckpointModel>(m, "Model", "A trained model loaded from a mer checkpoint.")
      .def("__call__", model_method([](models::Output out) { return out.logits; }), in.flow,
           in.landmarks, in.face, in.onset, in.aus,
           "Logits [N, classes] of flow maps [N, 3, S, S] (0..255 as stored) and the other "
           "inputs the model reads (see .inputs).")
      .def("probabilities",
           model_method([](models::Output out) { return torch::softmax(out.logits, 1); }), in.flow,
           in.landmarks, in.face, in.onset, in.aus, "Class probabilities [N, classes].")
      .def("explain", model_method([](models::Output out) { return out.explain; }), in.flow,
           in.landmarks, in.face, in.onset, in.aus,
           "The model's explanations ({name: tensor [N, ...]}; see model_spec(name)).")
      .def_property_readonly("name", [](const CheckpointModel& self) {
        return self.checkpoint.meta.value("model", std::string());
      })
      .def_property_readonly("class_names", [](const CheckpointModel& self) {
        return engine::checkpoint_class_names(self.checkpoint);
      })
      .def_property_readonly("inputs", [](const CheckpointModel& self) {
        return engine::checkpoint_inputs(self.checkpoint).names();
      })
      .def_property_readonly("input_size", [](const CheckpointModel& self) {
        return self.checkpoint.meta.value("input_size", int64_t{0});
      })
      .def_property_readonly("meta", [](const CheckpointModel& self) { return to_python(self.checkpoint.meta); },
                             "Everything the checkpoint records (options, data, fold, protocol, ...).")
      .def_property_readonly("state_dict", [](const CheckpointModel& self) {
        py::dict tensors;
        for (const auto& item : self.checkpoint.model->named_parameters()) tensors[py::str(item.key())] = item.value().detach();
        for (const auto& item : self.checkpoint.model->named_buffers()) tensors[py::str(item.key())] = item.value();
        return tensors;
      }, "The weights under their PyTorch names (tensors shared with the model).")
      .def("__repr__", [](const CheckpointModel& self) {
        return "<mer.Model " + self.checkpoint.meta.value("model", std::string()) + ", " +
               std::to_string(self.checkpoint.meta.value("num_classes", int64_t{0})) + " classes, " +
               std::to_string(self.checkpoint.meta.value("input_size", int64_t{0})) + "x" +
               std::to_string(self.checkpoint.meta.value("input_size", int64_t{0})) + " maps>";
      });
  m.def(
      "load_checkpoint",
      [](const std::string& path) { return CheckpointModel{engine::load_checkpoint(path)}; },
      py::arg("path"), "A mer checkpoint (a fold's model.pt, or `mer train`'s) as a mer.Model.");
}

}  // namespace mer::python

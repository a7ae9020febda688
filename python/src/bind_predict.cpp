// mer.Predictor / mer.predict(...): trained models on new clips (frame folders, videos or an
// onset/apex pair), as `mer predict` runs them; mer.prepare(...): `mer prepare`.
#include <optional>

#include "bindings.h"
#include "mer/core/error.h"
#include "mer/pipeline/prepare.h"
#include "mer/predict/prediction_json.h"
#include "mer/predict/predictor.h"

namespace mer::python {

namespace {

std::vector<std::string> checkpoints_of(const std::optional<std::string>& checkpoint,
                                        const std::optional<std::string>& run) {
  if (checkpoint.has_value() == run.has_value()) {
    throw ConfigError("give exactly one of checkpoint= (one model) and run= (a run's fold "
                      "models as an ensemble, or a `mer train` folder)");
  }
  return checkpoint ? std::vector<std::string>{*checkpoint} : predict::run_checkpoints(*run);
}

predict::ClipSource clip_source(const std::optional<std::string>& clip,
                                const std::optional<std::string>& video,
                                const std::optional<std::vector<std::string>>& files,
                                std::optional<int64_t> onset, std::optional<int64_t> apex,
                                const std::string& aus) {
  const int given = clip.has_value() + video.has_value() + files.has_value();
  if (given != 1) {
    throw ConfigError("give exactly one of clip= (a frame folder), video= (a video file) and "
                      "files=[onset, apex] (two frame files)");
  }
  predict::ClipSource source;
  source.aus = aus;
  if (files) {
    if (files->size() != 2) throw ConfigError("files= takes two frame files: [onset, apex]");
    if (onset || apex) throw ConfigError("onset= and apex= are frame numbers within clip= or video=");
    source.files = *files;
  } else {
    source.path = clip ? *clip : *video;
    source.onset = onset;
    source.apex = apex;
  }
  return source;
}

struct PredictorHandle {
  std::unique_ptr<predict::Predictor> predictor;

  py::object predict(const std::optional<std::string>& clip, const std::optional<std::string>& video,
                     const std::optional<std::vector<std::string>>& files,
                     std::optional<int64_t> onset, std::optional<int64_t> apex,
                     const std::string& aus) const {
    const auto source = clip_source(clip, video, files, onset, apex, aus);
    nlohmann::json result;
    {
      py::gil_scoped_release release;
      auto worker = predictor->make_worker();
      result = predict::clip_prediction_json(predictor->predict(source, worker), *predictor);
    }
    return to_python(result);
  }
};

PredictorHandle make_predictor(const std::optional<std::string>& checkpoint,
                               const std::optional<std::string>& run,
                               const std::optional<std::string>& like) {
  predict::PredictorOptions options;
  if (like) options.preprocessing(pipeline::read_preprocessing(*like));
  const auto checkpoints = checkpoints_of(checkpoint, run);
  py::gil_scoped_release release;
  return {std::make_unique<predict::Predictor>(checkpoints, options)};
}

py::dict report_dict(const pipeline::PrepareReport& r) {
  py::list skipped;
  for (const auto& s : r.skipped) {
    py::dict row;
    row["dataset"] = s.dataset;
    row["subject"] = s.subject;
    row["clip"] = s.clip;
    row["reason"] = s.reason;
    row["file"] = s.file;
    row["detail"] = s.detail;
    skipped.append(row);
  }
  py::dict d;
  d["out"] = r.out_dir;
  d["annotated"] = r.annotated;
  d["selected"] = r.selected;
  d["computed"] = r.computed;
  d["cached"] = r.cached;
  d["prepared"] = r.prepared();
  d["failed"] = r.failed();
  d["skipped"] = skipped;
  d["skipped_by_reason"] = r.skipped_by_reason();
  d["notes"] = r.notes;
  d["class_names"] = r.class_names;
  d["seconds"] = r.seconds;
  d["text"] = pipeline::format_report(r);
  return d;
}

py::dict prepare(const std::string& dataset, const std::string& root,
                 const std::string& annotations, const std::string& out,
                 const std::string& protocol, bool videos, int jobs, int flow_size,
                 const std::string& framing, bool quiet) {
  pipeline::PrepareOptions options;
  options.dataset(dataset).frames_root(root).annotations(annotations).protocol(protocol);
  options.videos(videos).jobs(jobs).quiet(quiet);
  auto preprocessing = pipeline::default_preprocessing();
  preprocessing.map().output_size(flow_size);
  if (!framing.empty()) preprocessing.alignment(pipeline::framing_by_name(framing));
  options.preprocessing(preprocessing);
  options.validate();
  pipeline::PrepareReport report;
  {
    py::gil_scoped_release release;
    report = pipeline::prepare_dataset(options, out);
  }
  return report_dict(report);
}

}  // namespace

void bind_predict(py::module_& m) {
  py::class_<PredictorHandle>(m, "Predictor",
                              "Trained models loaded once for many clips (what `mer predict` runs).")
      .def(py::init(&make_predictor), py::arg("checkpoint") = py::none(), py::arg("run") = py::none(),
           py::arg("like") = py::none(),
           "checkpoint= one model, or run= every fold model of a run (an ensemble) or a `mer "
           "train` folder; like= a `mer prepare` folder whose preprocessing to use.")
      .def("predict", &PredictorHandle::predict, py::arg("clip") = py::none(),
           py::arg("video") = py::none(), py::arg("files") = py::none(),
           py::arg("onset") = py::none(), py::arg("apex") = py::none(), py::arg("aus") = "",
           "One clip -> the dict `mer predict --json` prints. onset/apex: frame numbers (a "
           "folder's file numbers, a video's 0-based index); without apex it is spotted.")
      .def_property_readonly("class_names", [](const PredictorHandle& h) { return h.predictor->class_names(); })
      .def_property_readonly("checkpoints", [](const PredictorHandle& h) { return h.predictor->checkpoint_paths(); });
  m.def(
      "predict",
      [](const std::optional<std::string>& clip, const std::optional<std::string>& video,
         const std::optional<std::vector<std::string>>& files, std::optional<int64_t> onset,
         std::optional<int64_t> apex, const std::optional<std::string>& checkpoint,
         const std::optional<std::string>& run, const std::string& aus) {
        return make_predictor(checkpoint, run, std::nullopt).predict(clip, video, files, onset, apex, aus);
      },
      py::arg("clip") = py::none(), py::arg("video") = py::none(), py::arg("files") = py::none(),
      py::arg("onset") = py::none(), py::arg("apex") = py::none(),
      py::arg("checkpoint") = py::none(), py::arg("run") = py::none(), py::arg("aus") = "",
      "One clip with one checkpoint or a run (loads the models each call: use mer.Predictor "
      "for many clips).");
  m.def("prepare", &prepare, py::arg("dataset"), py::arg("root"), py::arg("annotations"),
        py::arg("out"), py::arg("protocol") = "all", py::arg("videos") = false,
        py::arg("jobs") = 2, py::arg("flow_size") = 28, py::arg("framing") = "",
        py::arg("quiet") = true,
        "`mer prepare`: a database's frame folders (or videos=True: one video per clip) and "
        "its annotation sheet -> a prepared folder for mer.Dataset. Returns the report.");
}

}  // namespace mer::python

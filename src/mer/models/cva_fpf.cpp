#include "mer/models/cva_fpf.h"

#include <cmath>
#include <sstream>

#include "mer/core/error.h"
#include "mer/models/registry.h"
#include "mer/data/dataset.h"

namespace mer::models {

namespace F = torch::nn::functional;

namespace {
constexpr int64_t kNumAUs = 21;       // data::kNumActionUnits
constexpr int64_t kFirstFC = 512;     // published
constexpr int64_t kSecondFC = 128;    // published
}  // namespace

void CVAFPFOptions::validate() const {
  if (num_classes() < 2) throw ConfigError("cva-fpf: num_classes must be >= 2");
  if (!(width() > 0.0) || width() > 4.0) throw ConfigError("cva-fpf: width must be in (0, 4]");
  if (input() != "crops" && input() != "flow") throw ConfigError("cva-fpf: input must be crops or flow");
  if (au() != "none" && au() != "oracle" && au() != "predicted") {
    throw ConfigError("cva-fpf: au must be none, oracle or predicted");
  }
  if (fpf() != "auto" && fpf() != "face" && fpf() != "magnitude") {
    throw ConfigError("cva-fpf: fpf must be auto, face or magnitude");
  }
  if (au_weight() < 0.0) throw ConfigError("cva-fpf: au_weight must be >= 0");
  if (dropout() < 0.0 || dropout() >= 1.0) throw ConfigError("cva-fpf: dropout must be in [0, 1)");
  if (depths().size() != 3) {
    throw ConfigError("cva-fpf: the FPF Swin has three stages (depths and heads list 3 values) "
                      "so that its map meets the main branch at input_size / 16");
  }
  if (input_size() % 16 != 0) throw ConfigError("cva-fpf: input_size must be a multiple of 16");
  swin().validate(input_size());
}

SwinOptions CVAFPFOptions::swin() const {
  SwinOptions s;
  s.in_channels(1).patch(4).embed(embed()).depths(depths()).heads(heads()).window(window());
  return s;
}

int64_t CVAFPFOptions::channels(int64_t published) const {
  return std::max<int64_t>(8, std::llround(static_cast<double>(published) * width()));
}

CVAFPFImpl::CVAFPFImpl(const CVAFPFOptions& options) : options_(options) {
  options_.validate();
  const auto& o = options_;
  auto conv3 = [](int64_t i, int64_t out, int64_t s) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(i, out, 3).stride(s).padding(1).bias(false));
  };
  const int64_t c180 = o.channels(180), c128 = o.channels(128), c256 = o.channels(256),
                c512 = o.channels(512);
  stem = register_module("stem", conv3(o.main_input_channels(), c180, 2));
  stem_bn = register_module("stem_bn", torch::nn::BatchNorm2d(c180));
  stem2 = register_module("stem2", conv3(c180, c128, 1));
  stem2_bn = register_module("stem2_bn", torch::nn::BatchNorm2d(c128));
  blocks = register_module("blocks", torch::nn::ModuleList());
  blocks->push_back(CVABlock(CVABlockOptions(c128, c128).stride(1)));
  blocks->push_back(CVABlock(CVABlockOptions(c128, c128).stride(2).previous_channels(c128)));
  blocks->push_back(CVABlock(CVABlockOptions(c128, c256).stride(2).previous_channels(c128)));
  blocks->push_back(CVABlock(CVABlockOptions(c256, c512).stride(2).previous_channels(c256)));
  const auto swin = o.swin();
  fpf = register_module("fpf", Swin(swin, o.input_size()));
  if (swin.out_channels() != c512) {
    fpf_proj = register_module("fpf_proj",
                               torch::nn::Conv2d(torch::nn::Conv2dOptions(swin.out_channels(), c512, 1)));
  }
  fc1 = register_module("fc1", torch::nn::Linear(c512, kFirstFC));
  const int64_t fused = kFirstFC + (o.au() == "none" ? 0 : kNumAUs);
  fusion_bn = register_module("fusion_bn", torch::nn::BatchNorm1d(fused));
  fc2 = register_module("fc2", torch::nn::Linear(fused, kSecondFC));
  classifier = register_module("classifier", torch::nn::Linear(kSecondFC, o.num_classes()));
  if (o.au() == "predicted") au_head = register_module("au_head", torch::nn::Linear(kFirstFC, kNumAUs));
}

CVAFPFImpl::Inputs CVAFPFImpl::inputs(const Batch& batch) const {
  const int64_t s = options_.input_size();
  auto resize = [s](const torch::Tensor& x) {
    if (x.size(2) == s && x.size(3) == s) return x;
    // Area averaging when shrinking (224 -> 112 is a 2x2 mean), bilinear when growing.
    if (x.size(2) > s) {
      return F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{s, s}).mode(torch::kArea));
    }
    return F::interpolate(x, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{s, s})
                                 .mode(torch::kBilinear)
                                 .align_corners(false));
  };
  Inputs in;
  if (options_.input() == "crops") {
    if (!batch.onset.defined() || !batch.face.defined()) {
      throw ConfigError("cva-fpf with input=crops needs the aligned onset and apex crops of a "
                        "`mer prepare` folder; this data has none (flow-only data: input=flow)");
    }
    const auto onset = resize(batch.onset.to(torch::kFloat32)) / 255.0;
    const auto apex = resize(batch.face.to(torch::kFloat32)) / 255.0;
    in.motion = apex - onset;
    in.faces = {onset - 0.5, apex - 0.5};
    return in;
  }
  MER_CHECK(batch.flow.defined() && batch.flow.dim() == 4 && batch.flow.size(1) == 3,
            "cva-fpf with input=flow needs flow maps [B, 3, H, W]");
  in.motion = resize(batch.flow / 255.0);
  if (options_.fpf() == "face" && !batch.face.defined()) {
    throw ConfigError("cva-fpf with fpf=face needs the face crops (Batch::face)");
  }
  if (batch.face.defined() && options_.fpf() != "magnitude") {
    in.faces = {resize(batch.face.to(torch::kFloat32)) / 255.0 - 0.5};
  } else {
    // No crop: the motion's magnitude (u, v centred on the map's mid-grey) locates the face.
    const auto u = batch.flow.narrow(1, data::kFlowU, 1) / 255.0 - 0.5;
    const auto v = batch.flow.narrow(1, data::kFlowV, 1) / 255.0 - 0.5;
    in.faces = {resize(torch::sqrt(u * u + v * v + 1e-12)) - 0.5};
  }
  return in;
}

Output CVAFPFImpl::forward(const Batch& batch) {
  const auto in = inputs(batch);
  auto x = torch::relu(stem_bn(stem(in.motion)));
  x = torch::relu(stem2_bn(stem2(x)));
  torch::Tensor attention;
  for (size_t i = 0; i < blocks->size(); ++i) {
    auto r = blocks[i]->as<CVABlockImpl>()->forward(x, attention);
    x = r.out;
    attention = r.attention;
  }
  torch::Tensor position;
  for (const auto& face : in.faces) {
    auto p = fpf(face);
    position = position.defined() ? position + p : p;
  }
  if (fpf_proj) position = fpf_proj(position);
  MER_CHECK(position.sizes() == x.sizes(), "cva-fpf: position map and main branch disagree in shape");
  x = x + position;
  const auto feature = fc1(x.mean({2, 3}));  // [B, 512]
  Output out;
  torch::Tensor fused = feature;
  const auto& mode = options_.au();
  if (mode == "oracle") {
    if (!batch.aus.defined()) {
      throw ConfigError("cva-fpf au=oracle needs the ground-truth AU vectors (au1..au45 columns "
                        "of a `mer prepare` labels.csv); this data has none: use au=none");
    }
    fused = torch::cat({feature, batch.aus.to(feature.dtype())}, 1);
  } else if (mode == "predicted") {
    const auto au_logits = au_head(feature);
    const auto au_probability = torch::sigmoid(au_logits);
    fused = torch::cat({feature, au_probability}, 1);
    if (is_training() && batch.labels.defined()) {
      if (!batch.aus.defined()) {
        throw ConfigError("cva-fpf au=predicted trains its AU head on the training subjects' AU "
                          "vectors; this data has none: use au=none");
      }
      if (options_.au_weight() > 0.0) {
        out.aux_loss = options_.au_weight() *
                       F::binary_cross_entropy_with_logits(au_logits, batch.aus.to(au_logits.dtype()));
      }
    }
    out.explain["au_probability"] = au_probability.detach();
  }
  // A training batch of one (the remainder of an epoch) has no batch statistics: use the
  // running ones for it rather than fail.
  const auto normed =
      is_training() && fused.size(0) == 1
          ? F::batch_norm(fused, fusion_bn->running_mean, fusion_bn->running_var,
                          F::BatchNormFuncOptions().weight(fusion_bn->weight).bias(fusion_bn->bias).training(false))
          : fusion_bn(fused);
  auto h = torch::relu(fc2(torch::relu(normed)));
  out.logits = classifier(dropout(h, options_.dropout()));
  out.explain["vertical_attention"] = attention.detach().mean(1).squeeze(-1);  // [B, H]
  return out;
}

}  // namespace mer::models

MER_MODEL_SPEC(cva_fpf) {
  using namespace mer::models;
  const CVAFPFOptions d;
  ModelSpec spec;
  spec.name = "cva-fpf";
  spec.summary =
      "CVA + FPF + AU (ICLR 2024 submission): continuously vertical attention on apex - onset, "
      "a Swin facial position focalizer on the crops, AU vector fused before the classifier";
  spec.version = 1;
  spec.options = {
      choice_option("au", d.au(), {"none", "oracle", "predicted"},
                    "AU input: oracle = the sheet's ground-truth AUs, also at test time (as "
                    "published); predicted = an AU head trained on the training subjects"),
      choice_option("input", "auto", {"auto", "crops", "flow"},
                    "crops: apex - onset of the aligned crops; flow: the flow map stands in for "
                    "it (flow-only data); auto: crops where the data has them"),
      choice_option("fpf", d.fpf(), {"auto", "face", "magnitude"},
                    "input=flow: what feeds the FPF (auto: the face crop where the data has it)"),
      int_option("input_size", d.input_size(), 16, 1024, "side the inputs are resized to "
                 "(multiple of 16, keeping every Swin stage a multiple of the window)", "224"),
      float_option("width", d.width(), 0.01, 4.0, "main-branch channel scale", "1"),
      int_option("embed", d.embed(), 1, 1024, "Swin embedding size", "128"),
      int_list_option("depths", d.depths(), 1, 64, "Swin blocks per stage (3 stages)"),
      int_list_option("heads", d.heads(), 1, 64, "Swin attention heads per stage", "4,8,16"),
      int_option("window", d.window(), 1, 64, "Swin window side"),
      float_option("au_weight", d.au_weight(), 0.0, 100.0, "au=predicted: AU loss weight"),
      float_option("dropout", d.dropout(), 0.0, 0.99, "dropout before the classifier"),
  };
  spec.training = TrainingDefaults{20, 10, 8e-4, 50, "adamw", 0.6, 0.987};
  spec.inputs = [](const OptionValues& o) {
    ModelInputs in;
    if (o.text("input") == "crops") {
      in.apex_crop = in.onset_crop = true;
    } else {
      in.apex_crop = o.text("fpf") != "magnitude";
    }
    if (o.text("au") == "oracle") in.action_units = ModelInputs::ActionUnits::kAlways;
    if (o.text("au") == "predicted") in.action_units = ModelInputs::ActionUnits::kTrainingOnly;
    return in;
  };
  spec.explanations = {
      {"vertical_attention", ExplanationKind::kRowProfile,
       "the last CVA block's attention over the rows of the face, top to bottom (0..1)", "attention"},
      {"au_probability", ExplanationKind::kActionUnitProbabilities,
       "au=predicted: the AU head's probability of each action unit (0..1)", "probability"},
  };
  spec.fit_to_data = [](std::map<std::string, std::string>& options, const DataTraits& data) {
    const bool crops = data.faces && data.onsets;
    if (!options.count("input") || options.at("input") == "auto") {
      options["input"] = crops ? "crops" : "flow";
    }
    if (!options.count("au")) options["au"] = CVAFPFOptions().au();
    const auto input = options.at("input");
    const auto au = options.at("au");
    if (input == "crops" && !crops) {
      throw mer::ConfigError("cva-fpf input=crops: the data has no onset/apex crops (a `mer "
                             "prepare` folder has them); use input=flow, the flow stand-in");
    }
    if (au != "none" && !data.aus) {
      throw mer::ConfigError("cva-fpf au=" + au + ": the data has no AU vectors (the au1..au45 "
                             "columns of a `mer prepare` labels.csv); use au=none");
    }
    if (input == "flow" && (!options.count("fpf") || options.at("fpf") == "auto")) {
      options["fpf"] = data.faces ? "face" : "magnitude";
    }
    if (input == "flow" && options.at("fpf") == "face" && !data.faces) {
      throw mer::ConfigError("cva-fpf fpf=face: the data has no face crops; use fpf=magnitude");
    }
    std::string line = "cva-fpf: input=" + input;
    line += input == "crops" ? " (apex - onset of the aligned crops; FPF on both crops)"
                             : std::string(" (STAND-IN: the flow map replaces apex - onset; FPF on ") +
                                   (options.at("fpf") == "face" ? "the face crop)"
                                                                : "the flow magnitude, no crop)");
    line += ", au=" + au;
    if (au == "oracle") {
      line += " (ORACLE INPUT: the ground-truth AUs of the sheet, also for the TEST subject, as "
              "published)";
    } else if (au == "predicted") {
      line += " (an AU head trained on the training subjects' AUs; its predictions are fused)";
    } else {
      line += " (no AU input)";
    }
    return line;
  };
  spec.make = [](int64_t num_classes, int64_t, const OptionValues& o) -> ModelPtr {
    if (o.text("input") == "auto") {
      throw mer::ConfigError("cva-fpf input=auto is chosen from the data: fit the options to "
                             "the data first (models::resolve_model_options)");
    }
    CVAFPFOptions options;
    options.num_classes(num_classes)
        .input_size(o.integer("input_size"))
        .width(o.number("width"))
        .input(o.text("input"))
        .fpf(o.text("fpf"))
        .au(o.text("au"))
        .au_weight(o.number("au_weight"))
        .embed(o.integer("embed"))
        .depths(o.int_list("depths"))
        .heads(o.int_list("heads"))
        .window(o.integer("window"))
        .dropout(o.number("dropout"));
    return std::make_shared<CVAFPFImpl>(options);
  };
  return spec;
}

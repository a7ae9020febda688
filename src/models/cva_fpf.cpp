#include "models/cva_fpf.h"

#include <cmath>
#include <sstream>

#include "core/error.h"
#include "data/dataset.h"

namespace mer::models {

namespace F = torch::nn::functional;

namespace {
constexpr int64_t kNumAUs = 21;       // data::kNumActionUnits
constexpr int64_t kFirstFC = 512;     // published
constexpr int64_t kSecondFC = 128;    // published
}  // namespace

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size()) throw std::invalid_argument("trailing");
      out.push_back(v);
    } catch (const std::exception&) {
      throw ConfigError(what + " '" + text + "': expected comma-separated integers like 2,2,6");
    }
  }
  if (out.empty()) throw ConfigError(what + " is empty");
  return out;
}

void CVAFPFOptions::validate() const {
  if (num_classes() < 2) throw ConfigError("cva-fpf: num_classes must be >= 2");
  if (!(width() > 0.0) || width() > 4.0) throw ConfigError("cva-fpf: width must be in (0, 4]");
  if (input() != "crops" && input() != "flow") throw ConfigError("cva-fpf: input must be crops or flow");
  if (au() != "none" && au() != "oracle" && au() != "predicted") {
    throw ConfigError("cva-fpf: au must be none, oracle or predicted");
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
  if (batch.face.defined()) {
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

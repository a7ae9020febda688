#include "mer/models/fr.h"

#include "mer/core/error.h"
#include "mer/models/fr_stack.h"
#include "mer/models/registry.h"
#include "mer/data/dataset.h"

namespace mer::models {

namespace F = torch::nn::functional;

void FROptions::validate() const {
  if (num_classes() < 2) throw ConfigError("fr: num_classes must be >= 2");
  if (input_size() < 8 || input_size() % 2 != 0) {
    throw ConfigError("fr: input_size must be even and >= 8");
  }
  if (streams() != "uv" && streams() != "uvs") throw ConfigError("fr: streams must be uv or uvs");
  if (branch_channels() < 1 || shared_channels() < 4 || feature_dim() < 1) {
    throw ConfigError("fr: branch_channels >= 1, shared_channels >= 4 and feature_dim >= 1");
  }
  if (attention() != "both" && attention() != "spatial" && attention() != "channel" &&
      attention() != "none") {
    throw ConfigError("fr: attention must be both, spatial, channel or none");
  }
  if (proposal_weight() < 0.0) throw ConfigError("fr: proposal_weight must be >= 0");
  if (dropout() < 0.0 || dropout() >= 1.0) throw ConfigError("fr: dropout must be in [0, 1)");
  if (feature_pool() < 1 || feature_pool() > input_size() / 2) {
    throw ConfigError("fr: feature_pool must be in 1..input_size/2");
  }
}

torch::Tensor fr_stream_channels(const FROptions& options) {
  std::vector<int64_t> channels{data::kFlowU, data::kFlowV};
  if (options.streams() == "uvs") channels.push_back(data::kFlowStrain);
  return torch::tensor(channels, torch::kInt64);
}

torch::Tensor fr_proposal_loss(const torch::Tensor& scores, const torch::Tensor& labels) {
  MER_CHECK(scores.dim() == 2 && labels.dim() == 1 && scores.size(0) == labels.size(0),
            "fr_proposal_loss: scores [B, K] and labels [B]");
  const auto classes = torch::arange(scores.size(1), labels.options());
  const auto targets = (labels.unsqueeze(1) == classes.unsqueeze(0)).to(scores.scalar_type());
  // Mean over the batch for each k, then the sum over k.
  return F::binary_cross_entropy_with_logits(
             scores, targets, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
      .mean(0)
      .sum();
}

InceptionImpl::InceptionImpl(int64_t streams, int64_t c) {
  auto conv = [&](int64_t k, int64_t stride, int64_t padding) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(streams, streams * c, k)
                                 .stride(stride)
                                 .padding(padding)
                                 .groups(streams)
                                 .bias(false));
  };
  b2 = register_module("b2", conv(2, 2, 0));
  b3 = register_module("b3", conv(3, 2, 1));
  b5 = register_module("b5", conv(5, 2, 2));
  bp = register_module("bp", conv(1, 1, 0));
  n2 = register_module("n2", torch::nn::BatchNorm2d(streams * c));
  n3 = register_module("n3", torch::nn::BatchNorm2d(streams * c));
  n5 = register_module("n5", torch::nn::BatchNorm2d(streams * c));
  np = register_module("np", torch::nn::BatchNorm2d(streams * c));
}

torch::Tensor InceptionImpl::forward(const torch::Tensor& x) {
  const auto pooled = F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
  return torch::cat({torch::relu(n2(b2(x))), torch::relu(n3(b3(x))), torch::relu(n5(b5(x))),
                     torch::relu(np(bp(pooled)))},
                    1);
}

ExpressionBranchImpl::ExpressionBranchImpl(int64_t channels, int64_t cells, int64_t feature_dim,
                                           bool use_channel) {
  if (use_channel) {
    const int64_t reduced = std::max<int64_t>(channels / 4, 1);
    channel_reduce = register_module("channel_reduce", torch::nn::Linear(channels, reduced));
    channel_expand = register_module("channel_expand", torch::nn::Linear(reduced, channels));
  }
  embed = register_module("embed", torch::nn::Linear(channels * cells, feature_dim));
  proposal = register_module("proposal", torch::nn::Linear(feature_dim, 1));
}

ExpressionBranchImpl::Result ExpressionBranchImpl::forward(const torch::Tensor& shared,
                                                           const torch::Tensor& attention,
                                                           int64_t pool) {
  auto x = attention.defined() ? shared * attention : shared;
  if (channel_reduce) {
    const auto g = torch::sigmoid(channel_expand(torch::relu(channel_reduce(shared.mean({2, 3})))));
    x = x * g.unsqueeze(-1).unsqueeze(-1);
  }
  // Keep a coarse layout (where on the face the motion is), as STSTNet's 5x5 map does.
  if (pool > 1) x = F::avg_pool2d(x, F::AvgPool2dFuncOptions(pool).stride(pool));
  Result result;
  result.feature = torch::relu(embed(x.flatten(1)));
  result.score = proposal(result.feature).squeeze(1);
  return result;
}

FRImpl::FRImpl(const FROptions& options) : options_(options) {
  options_.validate();
  const int64_t stream_count = options_.streams() == "uvs" ? 3 : 2;
  inception = register_module("inception", Inception(stream_count, options_.branch_channels()));
  const int64_t stacked = stream_count * 4 * options_.branch_channels();
  merge = register_module("merge", torch::nn::Conv2d(torch::nn::Conv2dOptions(
                                       stacked, options_.shared_channels(), 1)
                                       .bias(false)));
  merge_bn = register_module("merge_bn", torch::nn::BatchNorm2d(options_.shared_channels()));
  const int64_t side = options_.input_size() / 2;
  if (options_.spatial_attention()) {
    spatial_attention = register_module(
        "spatial_attention",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(options_.shared_channels(), options_.num_classes(), 1)));
    position_bias = register_parameter("position_bias",
                                       torch::zeros({1, options_.num_classes(), side, side}));
  }
  const int64_t cells_side = (side - options_.feature_pool()) / options_.feature_pool() + 1;
  branches = register_module("branches", torch::nn::ModuleList());
  for (int64_t k = 0; k < options_.num_classes(); ++k) {
    branches->push_back(ExpressionBranch(options_.shared_channels(), cells_side * cells_side,
                                         options_.feature_dim(), options_.channel_attention()));
  }
  classifier = register_module(
      "classifier",
      torch::nn::Linear(options_.num_classes() * options_.feature_dim(), options_.num_classes()));
}

Output FRImpl::forward(const Batch& batch) {
  const int64_t side = options_.input_size();
  MER_CHECK(batch.flow.dim() == 4 && batch.flow.size(1) == 3 && batch.flow.size(2) == side &&
                batch.flow.size(3) == side,
            "fr expects flow of shape [B, 3, " + std::to_string(side) + ", " +
                std::to_string(side) + "]");
  const auto x = batch.flow.index_select(1, fr_stream_channels(options_).to(batch.flow.device())) / 255.0;
  auto shared = torch::relu(merge_bn(merge(inception(x))));

  const int64_t classes = options_.num_classes();
  torch::Tensor attention;  // [B, K, h, w]
  if (spatial_attention) attention = torch::sigmoid(spatial_attention(shared) + position_bias);
  std::vector<torch::Tensor> features, scores;
  for (int64_t k = 0; k < classes; ++k) {
    auto r = branches[k]->as<ExpressionBranchImpl>()->forward(
        shared, attention.defined() ? attention.narrow(1, k, 1) : torch::Tensor(),
        options_.feature_pool());
    features.push_back(r.feature);
    scores.push_back(r.score);
  }
  const auto score = torch::stack(scores, 1);  // [B, K]
  auto fused = dropout(torch::cat(features, 1), options_.dropout());
  Output out;
  out.logits = classifier(fused);
  if (batch.labels.defined() && options_.proposal_weight() > 0.0) {
    out.aux_loss = options_.proposal_weight() * fr_proposal_loss(score, batch.labels);
  }
  out.explain["attention"] =
      attention.defined()
          ? attention.detach()
          : torch::ones({shared.size(0), classes, shared.size(2), shared.size(3)}, shared.options());
  out.explain["proposal"] = torch::sigmoid(score).detach();
  return out;
}

}  // namespace mer::models

MER_MODEL_SPEC(fr) {
  using namespace mer::models;
  const FROptions d;
  ModelSpec spec;
  spec.name = "fr";
  spec.summary =
      "FR, Feature Refinement (Zhou et al. 2021): Inception flow features, one attention "
      "branch per expression with a proposal loss, fused classifier";
  spec.options = {
      choice_option("streams", d.streams(), {"uv", "uvs"},
                    "input channels that get an Inception stream"),
      int_option("branch_channels", d.branch_channels(), 1, 256, "kernels per Inception branch"),
      int_option("shared_channels", d.shared_channels(), 4, 1024, "channels of the shared map F"),
      choice_option("attention", d.attention(), {"both", "spatial", "channel", "none"},
                    "attention factors of each expression branch (none: the ablation)"),
      int_option("feature_dim", d.feature_dim(), 1, 4096, "size of each expression-specific feature"),
      float_option("proposal_weight", d.proposal_weight(), 0.0, 100.0,
                   "weight of the proposal loss (0: the ablation without it)"),
      float_option("dropout", d.dropout(), 0.0, 0.99, "dropout before the fused classifier"),
      int_option("feature_pool", d.feature_pool(), 1, 512,
                 "average-pool size before each branch's embedding"),
  };
  spec.training = TrainingDefaults{20, 20, 1e-3, 64, "adam", 1e-4};
  spec.explanations = {
      {"attention", ExplanationKind::kClassSpatialMaps,
       "each expression branch's spatial attention over the shared map (0..1)", "attention"},
      {"proposal", ExplanationKind::kClassScores,
       "each expression branch's proposal probability that the sample shows its class (0..1)", "probability"},
  };
  auto options_of = [](int64_t num_classes, int64_t input_size, const OptionValues& o) {
    return FROptions()
        .num_classes(num_classes)
        .input_size(input_size)
        .streams(o.text("streams"))
        .branch_channels(o.integer("branch_channels"))
        .shared_channels(o.integer("shared_channels"))
        .attention(o.text("attention"))
        .feature_dim(o.integer("feature_dim"))
        .proposal_weight(o.number("proposal_weight"))
        .dropout(o.number("dropout"))
        .feature_pool(o.integer("feature_pool"));
  };
  spec.make = [options_of](int64_t num_classes, int64_t input_size, const OptionValues& o) -> ModelPtr {
    return std::make_shared<FRImpl>(options_of(num_classes, input_size, o));
  };
  spec.fold_stack = [options_of](int64_t num_classes, int64_t input_size, const OptionValues& o,
                                 int64_t folds) -> std::shared_ptr<FoldStack> {
    return std::make_shared<FRStack>(options_of(num_classes, input_size, o), folds);
  };
  return spec;
}

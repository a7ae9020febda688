#include "models/registry.h"

#include "core/error.h"
#include "models/cva_fpf.h"
#include "models/dere_grl.h"
#include "models/fr.h"
#include "models/rrrn.h"
#include "models/ststnet.h"

namespace mer::models {

namespace {

double option_double(const ModelConfig& config, const std::string& key, double fallback) {
  auto it = config.options.find(key);
  if (it == config.options.end()) return fallback;
  try {
    size_t used = 0;
    const double value = std::stod(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument("trailing characters");
    return value;
  } catch (const std::exception&) {
    throw ConfigError("--model-opt " + key + "=" + it->second + ": not a number");
  }
}

int64_t option_int(const ModelConfig& config, const std::string& key, int64_t fallback) {
  const double value = option_double(config, key, static_cast<double>(fallback));
  if (value != static_cast<double>(static_cast<int64_t>(value))) {
    throw ConfigError("--model-opt " + key + "=" + config.options.at(key) + ": not an integer");
  }
  return static_cast<int64_t>(value);
}

std::string option_string(const ModelConfig& config, const std::string& key,
                          const std::string& fallback) {
  auto it = config.options.find(key);
  return it == config.options.end() ? fallback : it->second;
}

void reject_unknown(const ModelConfig& config, const std::string& model,
                    const std::vector<std::string>& known) {
  for (const auto& [key, value] : config.options) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw ConfigError("--model-opt " + key + ": unknown option for model '" + model +
                        "' (known: " + (list.empty() ? "none" : list) + ")");
    }
  }
}

ModelPtr make_ststnet(const ModelConfig& config) {
  reject_unknown(config, "ststnet", {"dropout"});
  STSTNetOptions options;
  options.num_classes(config.num_classes)
      .input_size(config.input_size)
      .dropout(option_double(config, "dropout", options.dropout()));
  return std::make_shared<STSTNetImpl>(options);
}

ModelPtr make_fr(const ModelConfig& config) {
  reject_unknown(config, "fr",
                 {"streams", "branch_channels", "shared_channels", "attention", "feature_dim",
                  "proposal_weight", "dropout", "feature_pool"});
  FROptions o;
  o.num_classes(config.num_classes)
      .input_size(config.input_size)
      .streams(option_string(config, "streams", o.streams()))
      .branch_channels(option_int(config, "branch_channels", o.branch_channels()))
      .shared_channels(option_int(config, "shared_channels", o.shared_channels()))
      .attention(option_string(config, "attention", o.attention()))
      .feature_dim(option_int(config, "feature_dim", o.feature_dim()))
      .proposal_weight(option_double(config, "proposal_weight", o.proposal_weight()))
      .dropout(option_double(config, "dropout", o.dropout()))
      .feature_pool(option_int(config, "feature_pool", o.feature_pool()));
  return std::make_shared<FRImpl>(o);
}

ModelPtr make_dere_grl(const ModelConfig& config) {
  reject_unknown(config, "dere-grl",
                 {"partition", "centering", "patch", "patch_step", "cnn_channels", "node_dim",
                  "gcn_layers", "neighbours", "adjacency_sigma", "action_dim", "relation_dim", "dropout", "action_sparsity",
                  "adm_pool"});
  DeReGRLOptions o;
  o.num_classes(config.num_classes)
      .input_size(config.input_size)
      .partition(option_string(config, "partition", o.partition()))
      .centering(option_string(config, "centering", o.centering()))
      .patch(option_int(config, "patch", o.patch()))
      .patch_step(option_double(config, "patch_step", o.patch_step()))
      .cnn_channels(option_int(config, "cnn_channels", o.cnn_channels()))
      .node_dim(option_int(config, "node_dim", o.node_dim()))
      .gcn_layers(option_int(config, "gcn_layers", o.gcn_layers()))
      .neighbours(option_int(config, "neighbours", o.neighbours()))
      .adjacency_sigma(option_double(config, "adjacency_sigma", o.adjacency_sigma()))
      .action_dim(option_int(config, "action_dim", o.action_dim()))
      .relation_dim(option_int(config, "relation_dim", o.relation_dim()))
      .dropout(option_double(config, "dropout", o.dropout()))
      .action_sparsity(option_double(config, "action_sparsity", o.action_sparsity()))
      .adm_pool(option_string(config, "adm_pool", o.adm_pool()));
  return std::make_shared<DeReGRLImpl>(o);
}

bool option_bool(const ModelConfig& config, const std::string& key, bool fallback) {
  auto it = config.options.find(key);
  if (it == config.options.end()) return fallback;
  if (it->second == "1" || it->second == "true") return true;
  if (it->second == "0" || it->second == "false") return false;
  throw ConfigError("--model-opt " + key + "=" + it->second + ": not a boolean (1|0|true|false)");
}

ModelPtr make_rrrn(const ModelConfig& config) {
  reject_unknown(config, "rrrn",
                 {"centering", "margin", "min_box", "channels", "grid", "region_dim",
                  "relation_attention", "gcn_layers", "dropout", "region_drop", "group_drop",
                  "visibility", "visibility_weight"});
  RRRNOptions o;
  o.num_classes(config.num_classes)
      .input_size(config.input_size)
      .centering(option_string(config, "centering", o.centering()))
      .margin(option_double(config, "margin", o.margin()))
      .min_box(option_double(config, "min_box", o.min_box()))
      .channels(option_int(config, "channels", o.channels()))
      .grid(option_int(config, "grid", o.grid()))
      .region_dim(option_int(config, "region_dim", o.region_dim()))
      .relation_attention(option_bool(config, "relation_attention", o.relation_attention()))
      .gcn_layers(option_int(config, "gcn_layers", o.gcn_layers()))
      .dropout(option_double(config, "dropout", o.dropout()))
      .region_drop(option_double(config, "region_drop", o.region_drop()))
      .group_drop(option_double(config, "group_drop", o.group_drop()))
      .visibility(option_string(config, "visibility", o.visibility()))
      .visibility_weight(option_double(config, "visibility_weight", o.visibility_weight()));
  return std::make_shared<RRRNImpl>(o);
}

// New runs pool the ADM by max (see DeReGRLOptions::adm_pool): written into the options, so
// that the run records it and older runs, which lack it, keep their mean pooling.
std::string fit_dere_grl(std::map<std::string, std::string>& options, const DataTraits&) {
  if (!options.count("adm_pool")) options["adm_pool"] = "max";
  return "";
}

// visibility=auto (or absent): "appearance" when the data has face crops, else "none".
std::string fit_rrrn(std::map<std::string, std::string>& options, const DataTraits& data) {
  auto it = options.find("visibility");
  if (it == options.end() || it->second == "auto") {
    options["visibility"] = data.faces ? "appearance" : "none";
    return data.faces ? "rrrn: visibility=appearance (region weights also from the face crops)"
                      : "rrrn: visibility=none (the data has no face crops)";
  }
  if (it->second == "appearance" && !data.faces) {
    throw ConfigError("rrrn visibility=appearance: the data has no face crops");
  }
  return "";
}

const std::vector<std::string> kCVAFPFKeys = {"input_size", "width", "input",  "au",
                                             "au_weight",  "embed", "depths", "heads",
                                             "window",     "dropout"};

ModelPtr make_cva_fpf(const ModelConfig& config) {
  reject_unknown(config, "cva-fpf", kCVAFPFKeys);
  CVAFPFOptions o;
  o.num_classes(config.num_classes)
      .input_size(option_int(config, "input_size", o.input_size()))
      .width(option_double(config, "width", o.width()))
      .input(option_string(config, "input", o.input()))
      .au(option_string(config, "au", o.au()))
      .au_weight(option_double(config, "au_weight", o.au_weight()))
      .embed(option_int(config, "embed", o.embed()))
      .window(option_int(config, "window", o.window()))
      .dropout(option_double(config, "dropout", o.dropout()));
  if (config.options.count("depths")) o.depths(parse_int_list(config.options.at("depths"), "depths"));
  if (config.options.count("heads")) o.heads(parse_int_list(config.options.at("heads"), "heads"));
  return std::make_shared<CVAFPFImpl>(o);
}

std::string fit_cva_fpf(std::map<std::string, std::string>& options, const DataTraits& data) {
  ModelConfig probe;
  probe.options = options;
  reject_unknown(probe, "cva-fpf", kCVAFPFKeys);
  const bool crops = data.faces && data.onsets;
  if (!options.count("input") || options.at("input") == "auto") options["input"] = crops ? "crops" : "flow";
  if (!options.count("au")) options["au"] = CVAFPFOptions().au();
  const auto& input = options.at("input");
  const auto& au = options.at("au");
  if (input == "crops" && !crops) {
    throw ConfigError("cva-fpf input=crops: the data has no onset/apex crops (a `mer prepare` "
                      "folder has them); use input=flow, the flow stand-in");
  }
  if (au != "none" && !data.aus) {
    throw ConfigError("cva-fpf au=" + au + ": the data has no AU vectors (the au1..au45 columns "
                      "of a `mer prepare` labels.csv); use au=none");
  }
  std::string line = "cva-fpf: input=" + input;
  line += input == "crops" ? " (apex - onset of the aligned crops; FPF on both crops)"
                           : std::string(" (STAND-IN: the flow map replaces apex - onset; FPF on ") +
                                 (data.faces ? "the face crop)" : "the flow magnitude, no crop)");
  line += ", au=" + au;
  if (au == "oracle") {
    line += " (ORACLE INPUT: the ground-truth AUs of the sheet, also for the TEST subject, as "
            "published)";
  } else if (au == "predicted") {
    line += " (an AU head trained on the training subjects' AUs; its predictions are fused)";
  } else if (au == "none") {
    line += " (no AU input)";
  }
  return line;
}

}  // namespace

const std::vector<ModelInfo>& model_registry() {
  static const std::vector<ModelInfo> registry = {
      {"ststnet",
       "STSTNet (Liong et al. 2019): three shallow conv streams over (u, v, strain); the "
       "reference baseline",
       "dropout=0.5: dropout after each stream's max-pool", make_ststnet, TrainingDefaults{}},
      {"fr",
       "FR, Feature Refinement (Zhou et al. 2021): Inception flow features, one attention "
       "branch per expression with a proposal loss, fused classifier",
       "streams=uvs (uv|uvs); branch_channels=6; shared_channels=32; attention=both "
       "(both|spatial|channel|none); feature_dim=32; proposal_weight=1 (0 = no proposal "
       "loss); dropout=0.5; feature_pool=2 (average pool before each branch's embedding)",
       make_fr, TrainingDefaults{20, 20, 1e-3, 64, "adam", 1e-4}},
      {"dere-grl",
       "DeRe-GRL (Wei et al. 2023): graph over the 68 landmarks carrying local motion, "
       "per-component action features (ADM), learned relations among them (RRM); explains "
       "each component's action strength and the relation matrix",
       "partition=fine (fine: 8 components | coarse: 5); centering=median (median|none); "
       "patch=3 (odd side of the sampling grid per landmark); patch_step=1 (flow pixels); "
       "cnn_channels=8 (0 = no CNN embedding); node_dim=24; gcn_layers=2; "
       "neighbours=8 (adjacency support per node; 68 = dense); "
       "adjacency_sigma=0.05 (face-side fraction); action_dim=16; relation_dim=16; dropout=0.3; "
       "action_sparsity=0 (weight of a group-lasso loss on the action features); "
       "adm_pool=max (max|mean: how ADM pools a component's nodes; runs recorded without "
       "it used mean)",
       make_dere_grl, TrainingDefaults{30, 30, 1e-3, 64, "adam", 1e-4}, true, false, fit_dere_grl},
      {"rrrn",
       "RRRN, Region-inspired Relation Reasoning Network (Mao, Zhou et al.): features of 9 "
       "facial regions (face + landmark boxes), a weight per region (RI attention), graph "
       "reasoning over the regions (RR); explains each region's weight",
       "centering=median (median|none); margin=0.04 and min_box=0.18 (region boxes, "
       "fractions of the side); channels=16 (backbone width); grid=3 (RoI cells per box "
       "side); region_dim=64; relation_attention=1 (RI beta from [region; face]); "
       "gcn_layers=2; dropout=0.5; region_drop=0.2 (training-time occlusion of each region); "
       "group_drop=0 (training-time occlusion of the upper or lower half of the face); "
       "visibility=auto (appearance: region weights also from the face crop, trained on "
       "painted-over regions; none; auto = appearance when the data has face crops); "
       "visibility_weight=1 (auxiliary visibility loss)",
       make_rrrn, TrainingDefaults{25, 30, 1e-3, 64, "adam", 1e-4}, true, true, fit_rrrn},
      {"cva-fpf",
       "CVA + FPF + AU (ICLR 2024 submission): continuously vertical attention on apex - onset, "
       "a Swin facial position focalizer on the crops, AU vector fused before the classifier",
       "au=none (none|oracle|predicted; oracle = ground-truth AUs also at test time, as "
       "published); input=auto (crops on `mer prepare` data, else flow: the flow map stands in "
       "for apex - onset); input_size=112 [published 224]; width=0.25 [1]; embed=32 [128]; "
       "depths=2,2,6; heads=1,2,4 [4,8,16]; window=7; au_weight=1 (predicted: AU loss weight); "
       "dropout=0",
       make_cva_fpf, TrainingDefaults{20, 10, 8e-4, 50, "adamw", 0.6, 0.987},
       /*uses_landmarks=*/false, /*uses_crops=*/true, fit_cva_fpf},
  };
  return registry;
}

const ModelInfo& find_model(const std::string& name) {
  for (const auto& info : model_registry()) {
    if (info.name == name) return info;
  }
  std::string known;
  for (const auto& info : model_registry()) known += (known.empty() ? "" : ", ") + info.name;
  throw ConfigError("unknown model '" + name + "' (known: " + known + "; see `mer models`)");
}

ModelPtr make_model(const std::string& name, const ModelConfig& config) {
  return find_model(name).make(config);
}

std::string fit_model_to_data(const std::string& name, std::map<std::string, std::string>& options,
                              const DataTraits& traits) {
  const auto& info = find_model(name);
  return info.fit_to_data ? info.fit_to_data(options, traits) : std::string();
}

}  // namespace mer::models

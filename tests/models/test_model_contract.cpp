// The model contract, checked for every registered model (a new model is covered by
// registering it): output shapes, a gradient reaching every parameter, save -> load gives
// identical outputs, the help lists exactly the accepted keys, every explanation is declared
// with a kind whose shape it has, and the inputs declared are the inputs read.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/engine/checkpoint.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::models {
namespace {

constexpr int64_t kBatch = 4, kClasses = 3, kSide = 28, kCrop = 64;

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto* spec : model_registry()) names.push_back(spec->name);
  return names;
}

// A batch with every input any model reads: synthetic flows, landmarks and faces, plus onset
// crops and AUs.
Batch full_batch() {
  const auto data = data::make_synthetic(
      data::SyntheticOptions().subjects(2).samples_per_subject(3).face_size(kCrop).seed(5));
  Batch batch;
  const auto idx = torch::arange(kBatch);
  batch.flow = data.flows.index_select(0, idx);
  batch.labels = torch::tensor({0, 1, 2, 0}, torch::kInt64);
  batch.landmarks = data.landmarks.index_select(0, idx);
  batch.face = data.faces.index_select(0, idx).unsqueeze(1).to(torch::kFloat32);
  batch.onset = batch.face.flip({3});
  batch.aus = (torch::rand({kBatch, 21}) > 0.7).to(torch::kFloat32);
  return batch;
}

DataTraits everything() {
  DataTraits t;
  t.faces = t.onsets = t.aus = true;
  return t;
}

// The model with its default options (at its smoke-check size, ModelSpec::smoke_options)
// fitted to data that has everything.
ModelPtr default_model(const std::string& name) {
  ModelConfig config;
  config.num_classes = kClasses;
  config.input_size = kSide;
  config.options = resolve_model_options(name, find_model(name).smoke_options, everything());
  return make_model(name, config);
}

std::vector<int64_t> dims_of(ExplanationKind kind) {
  switch (kind) {
    case ExplanationKind::kClassSpatialMaps: return {3};
    case ExplanationKind::kSpatialMap:
    case ExplanationKind::kRegionBoxes:
    case ExplanationKind::kRelationMatrix:
    case ExplanationKind::kLandmarks: return {2};
    default: return {1};
  }
}

class ModelContract : public ::testing::TestWithParam<std::string> {
 protected:
  const ModelSpec& spec() const { return find_model(GetParam()); }
};

TEST_P(ModelContract, OutputsHaveTheirShapesAndEveryParameterGetsAGradient) {
  torch::manual_seed(1);
  auto model = default_model(GetParam());
  model->train();
  const auto batch = full_batch();
  const auto out = model->forward(batch);
  ASSERT_EQ(out.logits.sizes(), (std::vector<int64_t>{kBatch, kClasses}));
  EXPECT_EQ(model->num_classes(), kClasses);
  auto loss = torch::nn::functional::cross_entropy(out.logits, batch.labels);
  if (out.aux_loss.defined()) loss = loss + out.aux_loss;
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key() << " gets no gradient";
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key() << " gets a zero gradient";
  }
}

TEST_P(ModelContract, SaveThenLoadGivesIdenticalOutputs) {
  torch::manual_seed(2);
  auto model = default_model(GetParam());
  model->train();
  const auto batch = full_batch();
  {  // one step moves batch-norm statistics off their start
    torch::NoGradGuard no_grad;
    model->forward(batch);
  }
  const auto path = (fs::temp_directory_path() / ("mer_contract_" + GetParam() + ".pt")).string();
  const auto options = resolve_model_options(GetParam(), spec().smoke_options, everything());
  const nlohmann::json meta = {{"model", GetParam()},
                               {"model_options", options},
                               {"model_spec_version", spec().version},
                               {"num_classes", kClasses},
                               {"input_size", kSide}};
  engine::save_checkpoint(path, model, meta);
  const auto loaded = engine::load_checkpoint(path);
  fs::remove(path);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto a = model->forward(batch), b = loaded.model->forward(batch);
  EXPECT_TRUE(torch::equal(a.logits, b.logits));
  ASSERT_EQ(a.explain.size(), b.explain.size());
  for (const auto& [name, tensor] : a.explain) EXPECT_TRUE(torch::equal(tensor, b.explain.at(name))) << name;
}

TEST_P(ModelContract, HelpListsExactlyTheAcceptedKeys) {
  const auto& s = spec();
  const auto lines = s.option_help_lines();
  ASSERT_EQ(lines.size(), s.options.size());
  std::set<std::string> documented;
  for (const auto& line : lines) documented.insert(line.substr(0, line.find('=')));
  for (const auto& o : s.options) {
    EXPECT_TRUE(documented.count(o.name)) << o.name;
    EXPECT_FALSE(o.help.empty()) << o.name;
    // Every key is accepted with its own default, and its default is valid for its type.
    EXPECT_NO_THROW(s.resolve_options({{o.name, o.default_value}})) << o.name;
  }
  // The resolved table has exactly the documented keys; anything else is refused by name.
  std::set<std::string> resolved;
  const auto defaults = s.resolve_options({});
  for (const auto& [key, value] : defaults.map()) resolved.insert(key);
  EXPECT_EQ(resolved, documented);
  try {
    s.resolve_options({{"no_such_option", "1"}});
    ADD_FAILURE() << "an unknown key was accepted";
  } catch (const ConfigError& e) {
    for (const auto& key : documented) EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << key;
  }
  EXPECT_FALSE(s.summary.empty());
  EXPECT_EQ(s.to_json().at("options").size(), s.options.size());
}

TEST_P(ModelContract, EveryExplanationIsDeclaredWithTheShapeOfItsKind) {
  torch::manual_seed(3);
  auto model = default_model(GetParam());
  model->eval();
  torch::NoGradGuard no_grad;
  const auto out = model->forward(full_batch());
  for (const auto& [name, tensor] : out.explain) {
    const auto* declared = spec().find_explanation(name);
    ASSERT_NE(declared, nullptr) << "explanation '" << name << "' is not in the model's spec";
    EXPECT_EQ(tensor.dim() - 1, dims_of(declared->kind)[0])
        << name << " is not shaped as a " << explanation_kind_name(declared->kind);
    EXPECT_EQ(tensor.size(0), kBatch) << name;
    EXPECT_FALSE(declared->description.empty()) << name;
  }
}

// The inputs a model declares are the ones its output depends on: without a declared input
// it fails or changes; an undeclared one changes nothing.
TEST_P(ModelContract, DeclaredInputsAreTheOnesRead) {
  torch::manual_seed(4);
  auto model = default_model(GetParam());
  model->eval();
  const auto inputs = spec().inputs_for(spec().resolve_options(resolve_model_options(GetParam(), {}, everything())));
  torch::NoGradGuard no_grad;
  const auto batch = full_batch();
  const auto reference = model->forward(batch).logits;
  auto changed = [&](Batch altered) {
    try {
      return !torch::allclose(model->forward(altered).logits, reference, 1e-5, 1e-6);
    } catch (const Error&) {
      return true;  // refused without it: read
    }
  };
  auto perturbed = batch;
  perturbed.face = batch.face.flip({2});
  EXPECT_EQ(changed(perturbed), inputs.apex_crop) << "apex crop";
  perturbed = batch;
  perturbed.onset = batch.onset.flip({2});
  EXPECT_EQ(changed(perturbed), inputs.onset_crop) << "onset crop";
  perturbed = batch;
  perturbed.landmarks = batch.landmarks.flip({1});
  EXPECT_EQ(changed(perturbed), inputs.landmarks) << "landmarks";
  perturbed = batch;
  perturbed.aus = 1 - batch.aus;
  EXPECT_EQ(changed(perturbed), inputs.action_units == ModelInputs::ActionUnits::kAlways) << "AUs";
}

INSTANTIATE_TEST_SUITE_P(EveryRegisteredModel, ModelContract, ::testing::ValuesIn(model_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (auto& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(ModelSpec, OptionValuesAreCanonicalAndChecked) {
  const auto o = float_option("dropout", 0.5, 0.0, 0.99, "p");
  EXPECT_EQ(canonical_option_text(o, "0.50"), "0.5");
  EXPECT_EQ(canonical_option_text(o, ".1"), "0.1");
  EXPECT_THROW(canonical_option_text(o, "nan"), ConfigError);
  EXPECT_THROW(canonical_option_text(o, "1.5"), ConfigError);
  EXPECT_THROW(canonical_option_text(o, "0.5x"), ConfigError);
  const auto i = int_option("layers", 2, 1, 8, "n");
  EXPECT_EQ(canonical_option_text(i, "3.0"), "3");
  EXPECT_THROW(canonical_option_text(i, "2.5"), ConfigError);
  EXPECT_THROW(canonical_option_text(i, "9"), ConfigError);
  const auto b = bool_option("flag", true, "b");
  EXPECT_EQ(canonical_option_text(b, "1"), "true");
  EXPECT_EQ(canonical_option_text(b, "false"), "false");
  EXPECT_THROW(canonical_option_text(b, "maybe"), ConfigError);
  const auto c = choice_option("mode", "a", {"a", "b"}, "m");
  EXPECT_THROW(canonical_option_text(c, "z"), ConfigError);
  const auto l = int_list_option("heads", {1, 2, 4}, 1, 64, "h");
  EXPECT_EQ(l.default_value, "1,2,4");
  EXPECT_EQ(canonical_option_text(l, "4, 8,16"), "4,8,16");
  EXPECT_THROW(canonical_option_text(l, "2,x"), ConfigError);
  EXPECT_THROW(canonical_option_text(l, "2,"), ConfigError);
  try {
    canonical_option_text(i, "9");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "--model-opt layers=9: out of range 1..8");
  }
}

TEST(ModelSpec, RecordedOptionsResolveToTheFullTableOfTheirVersion) {
  // A record of the current version resolves to itself.
  const auto full = resolve_model_options("ststnet", {{"dropout", "0.25"}}, DataTraits{});
  EXPECT_EQ(full.at("dropout"), "0.25");
  EXPECT_EQ(recorded_model_options("ststnet", {{"model_options", full}, {"model_spec_version", 1}}), full);
  // A record newer than this mer is refused.
  EXPECT_THROW(recorded_model_options("ststnet", {{"model_options", full}, {"model_spec_version", 99}}),
               ConfigError);
}

}  // namespace
}  // namespace mer::models

// mer -> .pth -> mer for every registered model: the imported checkpoint gives the outputs of
// the original, through the zip format and through the legacy format; mismatched weights and
// damaged files fail with one line naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "interop/legacy_fixture.h"
#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/engine/checkpoint.h"
#include "mer/interop/state_dict.h"
#include "mer/interop/torch_file.h"
#include "mer/interop/weights_exchange.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::interop {
namespace {

constexpr int64_t kBatch = 4, kSide = 28, kCrop = 64;

// Every input any model reads (as the model contract test builds it).
models::Batch full_batch() {
  const auto data = data::make_synthetic(
      data::SyntheticOptions().subjects(2).samples_per_subject(3).face_size(kCrop).seed(5));
  models::Batch batch;
  const auto idx = torch::arange(kBatch);
  batch.flow = data.flows.index_select(0, idx);
  batch.landmarks = data.landmarks.index_select(0, idx);
  batch.face = data.faces.index_select(0, idx).unsqueeze(1).to(torch::kFloat32);
  batch.onset = batch.face.flip({3});
  batch.aus = (torch::rand({kBatch, 21}) > 0.7).to(torch::kFloat32);
  return batch;
}

models::DataTraits everything() {
  models::DataTraits t;
  t.faces = t.onsets = t.aus = true;
  return t;
}

class TempDir {
 public:
  explicit TempDir(const std::string& name) : path_(fs::temp_directory_path() / name) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& file) const { return (path_ / file).string(); }

 private:
  fs::path path_;
};

// A checkpoint of `name` with default options (fitted to data with crops) and batch-norm
// statistics moved off their start, as a trained fold's.
std::string write_checkpoint(const std::string& name, const std::string& path,
                             std::map<std::string, std::string>* options) {
  torch::manual_seed(11);
  // CVA-FPF's default Swin backbone takes seconds per forward pass: a small one keeps the test
  // lean and still has every kind of layer.
  std::map<std::string, std::string> given = models::find_model(name).smoke_options;
  if (name == "cva-fpf") {
    given = {{"input_size", "32"}, {"window", "2"}, {"width", "0.125"}, {"embed", "8"}, {"depths", "2,2,2"}};
  }
  *options = models::resolve_model_options(name, given, everything());
  const auto& spec = models::find_model(name);
  auto model = spec.make(3, kSide, spec.resolve_options(*options));
  model->train();
  {
    torch::NoGradGuard no_grad;
    model->forward(full_batch());
  }
  nlohmann::json meta = {{"model", name},
                         {"model_options", *options},
                         {"model_spec_version", spec.version},
                         {"num_classes", 3},
                         {"input_size", kSide},
                         {"class_names", {"negative", "positive", "surprise"}}};
  if (spec.inputs_for(spec.resolve_options(*options)).crops()) meta["crop_side"] = kCrop;
  engine::save_checkpoint(path, model, meta);
  return path;
}

void expect_same_outputs(const engine::LoadedCheckpoint& a, const engine::LoadedCheckpoint& b) {
  torch::NoGradGuard no_grad;
  const auto batch = full_batch();
  const auto x = a.model->forward(batch), y = b.model->forward(batch);
  EXPECT_TRUE(torch::equal(x.logits, y.logits));
  for (const auto& [name, tensor] : x.explain) EXPECT_TRUE(torch::equal(tensor, y.explain.at(name))) << name;
}

class WeightsRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(WeightsRoundTrip, ExportThenImportGivesIdenticalOutputs) {
  const std::string name = GetParam();
  TempDir dir("mer_interop_" + name);
  std::map<std::string, std::string> options;
  const auto original_path = write_checkpoint(name, dir / "original.pt", &options);
  const auto summary = export_checkpoint_weights(original_path, dir / "weights.pth");
  EXPECT_EQ(summary.model, name);

  ImportOptions import;
  import.model = name;
  import.weights = dir / "weights.pth";
  import.model_options = options;
  import.input_size = kSide;
  import.crop_side = kCrop;
  const auto imported = import_weights(import, dir / "imported.pt");
  EXPECT_EQ(imported.meta.at("imported_from").at("file"), "weights.pth");

  const auto original = engine::load_checkpoint(original_path);
  const auto loaded = engine::load_checkpoint(dir / "imported.pt");
  EXPECT_EQ(loaded.meta.at("model_options"), original.meta.at("model_options"));
  EXPECT_EQ(loaded.meta.at("inputs"), original.meta.at("inputs"));
  expect_same_outputs(original, loaded);

  // The same weights in torch.save's legacy format.
  const auto weights = read_torch_state_dict(dir / "weights.pth");
  EXPECT_EQ(weights.size(), state_dict_of(*original.model).size());
  std::ofstream(dir / "legacy.pth", std::ios::binary) << testing::legacy_torch_file(weights);
  import.weights = dir / "legacy.pth";
  import_weights(import, dir / "from_legacy.pt");
  expect_same_outputs(original, engine::load_checkpoint(dir / "from_legacy.pt"));
}

INSTANTIATE_TEST_SUITE_P(EveryRegisteredModel, WeightsRoundTrip,
                         ::testing::ValuesIn([] {
                           std::vector<std::string> names;
                           for (const auto* spec : models::model_registry()) names.push_back(spec->name);
                           return names;
                         }()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (auto& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(WeightsImport, NamesAndShapesThatDifferAreListed) {
  TempDir dir("mer_interop_mismatch");
  std::map<std::string, std::string> options;
  write_checkpoint("ststnet", dir / "st.pt", &options);
  export_checkpoint_weights(dir / "st.pt", dir / "st.pth");
  auto weights = read_torch_state_dict(dir / "st.pth");
  weights.erase(weights.begin());  // c1.weight
  weights.emplace_back("head.weight", torch::zeros({2}));
  write_torch_state_dict(dir / "edited.pth", weights);

  ImportOptions import;
  import.model = "ststnet";
  import.weights = dir / "edited.pth";
  import.class_names = {"a", "b", "c", "d", "e"};
  try {
    import_weights(import, dir / "out.pt");
    FAIL() << "mismatched weights were imported";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find("edited.pth"), std::string::npos) << message;
    EXPECT_NE(message.find("missing: c1.weight"), std::string::npos) << message;
    EXPECT_NE(message.find("unexpected: head.weight"), std::string::npos) << message;
    EXPECT_NE(message.find("fc.weight: file [3, 400], model [5, 400]"), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(dir / "out.pt"));
}

TEST(WeightsImport, DamagedFilesGiveOneLineNamingTheFile) {
  TempDir dir("mer_interop_damaged");
  std::map<std::string, std::string> options;
  write_checkpoint("ststnet", dir / "st.pt", &options);
  export_checkpoint_weights(dir / "st.pt", dir / "st.pth");
  std::ifstream in(dir / "st.pth", std::ios::binary);
  const std::string zip((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto legacy = testing::legacy_torch_file(read_torch_state_dict(dir / "st.pth"));

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"garbage.pth", "this is not a weights file"},
      {"empty.pth", ""},
      {"truncated_zip.pth", zip.substr(0, zip.size() / 2)},
      {"truncated_legacy.pth", legacy.substr(0, legacy.size() - 100)},
      {"legacy_header_only.pth", legacy.substr(0, 40)},
  };
  for (const auto& [file, bytes] : cases) {
    std::ofstream(dir / file, std::ios::binary) << bytes;
    try {
      read_torch_state_dict(dir / file);
      ADD_FAILURE() << file << " was read";
    } catch (const DataError& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      EXPECT_EQ(message.rfind(dir / file, 0), 0u) << message;
    }
  }
  EXPECT_THROW(read_torch_state_dict(dir / "missing.pth"), DataError);
}

TEST(WeightsImport, OptionsAreCheckedBeforeTheFileIsRead) {
  ImportOptions import;
  import.model = "no-such-model";
  import.weights = "/nonexistent.pth";
  EXPECT_THROW(import_weights(import, "/tmp/unused.pt"), ConfigError);
  import.model = "ststnet";
  import.model_options = {{"dropout", "2"}};
  EXPECT_THROW(import_weights(import, "/tmp/unused.pt"), ConfigError);
  import.model_options = {{"no_such_key", "1"}};
  EXPECT_THROW(import_weights(import, "/tmp/unused.pt"), ConfigError);
}

}  // namespace
}  // namespace mer::interop

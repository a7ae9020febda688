// `mer export` and `mer import` through the real binary: a trained model survives
// mer -> .pth -> mer with identical logits, and bad weights files fail with one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cli/cli_runner.h"
#include "mer/engine/checkpoint.h"

namespace fs = std::filesystem;

namespace {

fs::path temp(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("mer_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

size_t lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST(CliInterop, ExportThenImportGivesTheTrainedModelsLogits) {
  const auto dir = temp("interop");
  const std::string out = dir.string();
  auto r = run_mer_binary("train --epochs 2 --synth-subjects 4 --synth-samples 5 --quiet --out " + out + "/st");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_mer_binary("export --checkpoint " + out + "/st/model.pt --out " + out + "/st.pth");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("23 tensors"), std::string::npos) << r.output;
  r = run_mer_binary("import --model ststnet --weights " + out + "/st.pth --model-opt dropout=0.5 --out " +
                     out + "/imported/model.pt");
  ASSERT_EQ(r.code, 0) << r.output;

  const auto trained = mer::engine::load_checkpoint(out + "/st/model.pt");
  const auto imported = mer::engine::load_checkpoint(out + "/imported/model.pt");
  EXPECT_EQ(imported.meta.at("imported_from").at("file"), "st.pth");
  EXPECT_EQ(imported.meta.at("class_names"), trained.meta.at("class_names"));
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({4, 3, 28, 28}) * 255;
  EXPECT_TRUE(torch::equal(trained.model->forward({x, {}}).logits, imported.model->forward({x, {}}).logits));

  // Weights of another model: the keys that differ are listed, on one line naming the file.
  r = run_mer_binary("import --model fr --weights " + out + "/st.pth --out " + out + "/fr/model.pt");
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(lines(r.output), 1u) << r.output;
  EXPECT_NE(r.output.find("st.pth"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("unexpected: c1.weight"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out + "/fr/model.pt"));

  std::ofstream(out + "/garbage.pth") << "not weights";
  r = run_mer_binary("import --weights " + out + "/garbage.pth --out " + out + "/g.pt");
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(lines(r.output), 1u) << r.output;
  EXPECT_NE(r.output.find("garbage.pth"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

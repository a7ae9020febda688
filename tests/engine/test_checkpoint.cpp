#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mer/core/error.h"
#include "mer/engine/checkpoint.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {

TEST(Checkpoint, SaveLoadGivesIdenticalOutputs) {
  torch::manual_seed(3);
  auto model = models::make_model("ststnet", {});
  // Non-trivial batch-norm buffers, as after training.
  model->train();
  model->forward({torch::rand({8, 3, 28, 28}) * 255, {}});
  model->eval();
  const auto path = fs::temp_directory_path() / "mer_test_ckpt.pt";
  save_checkpoint(path.string(), model,
                  {{"model", "ststnet"}, {"num_classes", 3}, {"input_size", 28}, {"fold", "a/s1"}});
  const auto loaded = load_checkpoint(path.string());
  EXPECT_EQ(loaded.meta["fold"], "a/s1");
  const auto x = torch::rand({5, 3, 28, 28}) * 255;
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(model->forward({x, {}}).logits, loaded.model->forward({x, {}}).logits));
  fs::remove(path);
}

TEST(Checkpoint, CorruptMissingAndForeignFilesGiveClearErrors) {
  const auto dir = fs::temp_directory_path() / "mer_test_ckpt_bad";
  fs::create_directories(dir);
  EXPECT_THROW(load_checkpoint((dir / "missing.pt").string()), CheckpointError);
  std::ofstream(dir / "garbage.pt") << "not a checkpoint";
  try {
    load_checkpoint((dir / "garbage.pt").string());
    FAIL();
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("garbage.pt"), std::string::npos);
  }
  // A LibTorch archive that mer did not write (no version entry).
  torch::serialize::OutputArchive archive;
  archive.write("x", torch::ones({2}));
  archive.save_to((dir / "foreign.pt").string());
  EXPECT_THROW(load_checkpoint((dir / "foreign.pt").string()), CheckpointError);
  fs::remove_all(dir);
}

}  // namespace mer::engine

// mer <-> PyTorch itself (Debian's python3-torch, run as /usr/bin/python3): an exported STSTNet
// loads into a PyTorch STSTNet of the official layout (ststnet_pytorch.py) with the same logits
// within 1e-5, and state_dicts torch.save wrote, in its zip and its legacy format, import into
// mer with PyTorch's logits. Skips with the reason where python3-torch is missing.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "mer/engine/checkpoint.h"
#include "mer/interop/torch_file.h"
#include "mer/interop/weights_exchange.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::interop {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr double kTolerance = 1e-5;

std::string script() { return std::string(MER_SOURCE_DIR) + "/tests/interop/ststnet_pytorch.py"; }

struct CommandResult {
  int code;
  std::string output;
};

CommandResult run(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// Why PyTorch cannot be run here, or "" when it can (probed once: importing torch takes seconds).
std::string pytorch_missing() {
  static const std::string reason = [] {
    if (!fs::exists(kPython)) return std::string(kPython) + " not found (Debian: python3)";
    const auto probe = run(std::string(kPython) + " -c 'import torch'");
    if (probe.code != 0) return "python3-torch is not installed for " + std::string(kPython);
    return std::string();
  }();
  return reason;
}

class TempDir {
 public:
  explicit TempDir(const std::string& name) : path_(fs::temp_directory_path() / name) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& file) const { return (path_ / file).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// Exports a trained-like STSTNet and its logits on a random batch into `dir` (st.pth,
// case.pth), then runs the check; `peer` (a .py file) replaces the script's own model.
CommandResult export_and_check(const TempDir& dir, const std::string& peer = "") {
  torch::manual_seed(4);
  auto model = models::make_model("ststnet", {});
  model->train();
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i) model->forward({torch::rand({16, 3, 28, 28}) * 255, {}});
  }
  engine::save_checkpoint(dir / "st.pt", model,
                          {{"model", "ststnet"}, {"num_classes", 3}, {"input_size", 28}});
  export_checkpoint_weights(dir / "st.pt", dir / "st.pth");

  const auto loaded = engine::load_checkpoint(dir / "st.pt");
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({6, 3, 28, 28}) * 255;
  write_torch_state_dict(dir / "case.pth",
                         {{"input", x}, {"logits", loaded.model->forward({x, {}}).logits}});
  return run(std::string(kPython) + " " + script() + " check " + (dir / "st.pth") + " " +
             (dir / "case.pth") + (peer.empty() ? "" : " " + peer));
}

TEST(PyTorchInterop, ExportedStstnetGivesTheSameLogitsInPyTorch) {
  const auto missing = pytorch_missing();
  if (!missing.empty()) GTEST_SKIP() << missing;
  TempDir dir("mer_pytorch_export");
  const auto result = export_and_check(dir);
  EXPECT_EQ(result.code, 0) << result.output;
  EXPECT_NE(result.output.find("tensors=23"), std::string::npos) << result.output;
}

// The reference peer's own model class (../shared/peers, beside the data): the layout mer
// exports is the one the official code defines.
TEST(PyTorchInterop, RealDataPeerStstnetLoadsExportedWeightsWithTheSameLogits) {
  const auto missing = pytorch_missing();
  if (!missing.empty()) GTEST_SKIP() << missing;
  const auto peer = fs::path(MER_SHARED_DATA) / ".." / "peers" / "ststnet_torch.py";
  if (!fs::exists(peer)) GTEST_SKIP() << peer.string() << " is absent (the shared reference code)";
  TempDir dir("mer_pytorch_peer");
  const auto result = export_and_check(dir, peer.string());
  EXPECT_EQ(result.code, 0) << result.output;
}

TEST(PyTorchInterop, StateDictsTorchSaveWroteImportWithPyTorchsLogits) {
  const auto missing = pytorch_missing();
  if (!missing.empty()) GTEST_SKIP() << missing;
  TempDir dir("mer_pytorch_import");
  const auto written = run(std::string(kPython) + " " + script() + " write " + dir.str());
  ASSERT_EQ(written.code, 0) << written.output;
  StateDict case_tensors = read_torch_state_dict(dir / "case.pth");
  ASSERT_EQ(case_tensors.size(), 2u);
  const auto x = case_tensors[0].second, expected = case_tensors[1].second;

  for (const char* file : {"zip.pth", "legacy.pth"}) {
    ImportOptions options;
    options.model = "ststnet";
    options.weights = dir / file;
    import_weights(options, dir / (std::string(file) + ".pt"));
    const auto loaded = engine::load_checkpoint(dir / (std::string(file) + ".pt"));
    torch::NoGradGuard no_grad;
    const auto logits = loaded.model->forward({x, {}}).logits;
    EXPECT_LE((logits - expected).abs().max().item<double>(), kTolerance) << file;
    // num_batches_tracked came through as PyTorch counted it.
    for (const auto& b : loaded.model->named_buffers()) {
      if (b.key().find("num_batches_tracked") != std::string::npos) {
        EXPECT_EQ(b.value().item<int64_t>(), 3) << file << " " << b.key();
      }
    }
  }
}

}  // namespace
}  // namespace mer::interop

// torch.save's legacy (non-zip) format: a file built opcode by opcode reads back exactly, and
// every truncation or byte-level damage gives a PickleError instead of a crash or a wrong read.
#include <gtest/gtest.h>

#include "interop/legacy_fixture.h"
#include "mer/interop/legacy_torch_file.h"
#include "mer/interop/pickle_reader.h"

namespace mer::interop {
namespace {

std::vector<std::pair<std::string, torch::Tensor>> sample_tensors() {
  torch::manual_seed(2);
  return {{"conv.weight", torch::randn({2, 3})},
          {"bn.running_mean", torch::randn({3})},
          {"bn.num_batches_tracked", torch::tensor(12, torch::kLong)}};
}

TEST(LegacyTorchFile, ReadsWhatTorchSaveWrites) {
  const auto tensors = sample_tensors();
  const auto bytes = testing::legacy_torch_file(tensors);
  ASSERT_TRUE(looks_like_legacy_torch_file(bytes));
  const auto read = read_legacy_torch_file(bytes);
  ASSERT_EQ(read.size(), tensors.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].first, tensors[i].first);
    EXPECT_EQ(read[i].second.scalar_type(), tensors[i].second.scalar_type());
    EXPECT_TRUE(torch::equal(read[i].second, tensors[i].second)) << read[i].first;
  }
}

TEST(LegacyTorchFile, EveryTruncationThrows) {
  const auto bytes = testing::legacy_torch_file(sample_tensors());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(read_legacy_torch_file(std::string_view(bytes).substr(0, n)), PickleError)
        << "prefix of " << n << " bytes";
  }
  EXPECT_THROW(read_legacy_torch_file(bytes + "x"), PickleError);  // trailing bytes
}

TEST(LegacyTorchFile, DamagedBytesThrowOrReadSafely) {
  const auto original = testing::legacy_torch_file(sample_tensors());
  for (size_t i = 0; i < original.size(); ++i) {
    for (unsigned char value : {0x00, 0x7f, 0xff}) {
      auto bytes = original;
      bytes[i] = static_cast<char>(value);
      try {
        read_legacy_torch_file(bytes);  // damage to tensor data or a name still reads
      } catch (const PickleError&) {
      }
    }
  }
}

}  // namespace
}  // namespace mer::interop

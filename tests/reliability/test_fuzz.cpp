// Deterministic mutation fuzz of the readers of user files: labels.csv (read_prepared), .xlsx
// sheets (read_sheet), landmarks.csv (read_landmarks), dataset caches (read_dataset_cache) and
// checkpoints (load_checkpoint).
// Each input is a valid file with 1-4 random mutations (bit flips, bytes that matter to the
// format, deletions, duplications, truncation, tokens like nan, -1 or invalid UTF-8). Every
// input must be read or refused with a mer::Error; any other exception fails the test, and a
// crash ends it. CI runs MER_FUZZ_INPUTS inputs per reader (default 300); bench/fuzz.sh runs
// them for MER_FUZZ_SECONDS each. MER_FUZZ_SEED picks the sequence (default 1).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "mer/core/error.h"
#include "mer/data/dataset_cache.h"
#include "mer/data/landmarks_io.h"
#include "mer/data/prepared_io.h"
#include "mer/data/sheet.h"
#include "data/sheet_fixtures.h"
#include "mer/data/synthetic.h"
#include "mer/engine/checkpoint.h"
#include "mer/models/registry.h"

namespace mer::reliability {
namespace {

namespace fs = std::filesystem;

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string mutate(std::string s, std::mt19937_64& rng) {
  static const std::vector<std::string> tokens = {
      ",", "\n", "\r\n", "\"", ",,,,", "nan", "inf", "-1", "-0", "1e308", "99999999999999999999",
      "\xff", "\xc3", "\xe9", "\xef\xbb\xbf", "0", " ", "<", ">", "</c>", "<v>", "&amp;", "\x00"};
  const auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  const int count = 1 + static_cast<int>(rng() % 4);
  for (int m = 0; m < count; ++m) {
    const size_t at = pick(s.size() + 1);
    switch (rng() % 8) {
      case 0:  // bit flip
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // a byte that matters
        if (!s.empty()) s[pick(s.size())] = "\x00\xff,\n\"-9<"[rng() % 8];
        break;
      case 2:  // delete a range
        s.erase(at, 1 + pick(64));
        break;
      case 3: {  // duplicate a range
        const std::string part = s.substr(at, 1 + pick(256));
        s.insert(pick(s.size() + 1), part);
        break;
      }
      case 4:  // truncate
        s.resize(pick(s.size() + 1));
        break;
      case 5:  // insert a token
      case 6: {
        const auto& t = tokens[pick(tokens.size())];
        s.insert(at, t.size() == 0 ? std::string(1, '\0') : t);
        break;
      }
      default:  // overwrite a run with random bytes
        for (size_t i = at, n = 1 + pick(16); i < s.size() && n > 0; ++i, --n) {
          s[i] = static_cast<char>(rng());
        }
    }
  }
  return s;
}

// Runs `read` on mutations of `valid` written to `file` until the input count or the time
// budget is spent; returns the number of inputs tried. Unexpected exceptions fail the test.
int64_t fuzz(const std::string& reader, const std::string& valid, const fs::path& file,
             const std::function<void()>& read,
             const std::function<std::string(const std::string&, std::mt19937_64&)>& mutator = nullptr) {
  const int64_t seconds = env_int("MER_FUZZ_SECONDS", 0);
  const int64_t inputs = env_int("MER_FUZZ_INPUTS", 300);
  std::mt19937_64 rng(static_cast<uint64_t>(env_int("MER_FUZZ_SEED", 1)) * 1000003u +
                      std::hash<std::string>()(reader) % 1000);
  const auto start = std::chrono::steady_clock::now();
  int64_t tried = 0, refused = 0, unexpected = 0;
  for (;; ++tried) {
    if (seconds > 0 ? std::chrono::steady_clock::now() - start > std::chrono::seconds(seconds)
                    : tried >= inputs) {
      break;
    }
    write_bytes(file, mutator ? mutator(valid, rng) : mutate(valid, rng));
    try {
      read();
    } catch (const Error&) {
      ++refused;
    } catch (const std::exception& e) {
      ++unexpected;
      ADD_FAILURE() << reader << " input " << tried << ": not a mer::Error: " << e.what();
      write_bytes(file.string() + ".failing" + std::to_string(tried), read_bytes(file));
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("fuzz %s: %lld inputs in %.1f s, %lld refused with a mer::Error, %lld read, %lld "
              "unexpected, 0 crashes\n",
              reader.c_str(), static_cast<long long>(tried), elapsed,
              static_cast<long long>(refused), static_cast<long long>(tried - refused - unexpected),
              static_cast<long long>(unexpected));
  return tried;
}

class Fuzz : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mer_fuzz_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    dataset_ = data::make_synthetic(
        data::SyntheticOptions().subjects(3).samples_per_subject(3).flow_size(16).face_size(16));
  }
  void TearDown() override {
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  data::Dataset dataset_;
};

TEST_F(Fuzz, LabelsCsvReader) {
  const fs::path root = dir_ / "prepared";
  data::write_prepared(dataset_, root.string());
  const std::string valid = read_bytes(root / "labels.csv");
  const auto options = data::PreparedReadOptions().crops(true).crop_side(16);
  EXPECT_GT(fuzz("labels.csv", valid, root / "labels.csv",
                 [&] { data::read_prepared(root.string(), options); }),
            0);
}

TEST_F(Fuzz, XlsxReader) {
  using test::FixtureSheet;
  std::string rows;
  const std::vector<std::vector<std::string>> cells = {
      {"Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion"},
      {"1", "EP02_01f", "46", "59", "86", "12", "happiness"},
      {"2", "EP09_01", "26", "56", "125", "1+12", "surprise"},
      {"3", "EP01_2", "51", "/", "91", "1", "disgust"}};
  for (size_t r = 0; r < cells.size(); ++r) {
    rows += "<row r=\"" + std::to_string(r + 1) + "\">";
    for (size_t c = 0; c < cells[r].size(); ++c) {
      const std::string ref = std::string(1, static_cast<char>('A' + c)) + std::to_string(r + 1);
      const bool number = !cells[r][c].empty() && cells[r][c].find_first_not_of("0123456789") == std::string::npos;
      rows += number ? "<c r=\"" + ref + "\"><v>" + cells[r][c] + "</v></c>"
                     : "<c r=\"" + ref + "\" t=\"inlineStr\"><is><t>" + cells[r][c] + "</t></is></c>";
    }
    rows += "</row>";
  }
  const auto entries = test::xlsx_entries({FixtureSheet{"Sheet1", rows}}, {"shared", "text"});
  const fs::path file = dir_ / "sheet.xlsx";
  test::write_zip(file.string(), entries);
  const std::string valid = read_bytes(file);
  // Half the inputs mutate the zip's bytes, half one XML part inside a well-formed zip (so that
  // the XML and cell readers, not only libzip, see broken input).
  const auto mutator = [&](const std::string& zip, std::mt19937_64& rng) {
    if (rng() % 2 == 0) return mutate(zip, rng);
    auto changed = entries;
    auto& part = changed[rng() % changed.size()].second;
    part = mutate(part, rng);
    const fs::path scratch = dir_ / "scratch.xlsx";
    test::write_zip(scratch.string(), changed);
    return read_bytes(scratch);
  };
  EXPECT_GT(fuzz("xlsx", valid, file, [&] { data::read_sheet(file.string()); }, mutator), 0);
}

TEST_F(Fuzz, LandmarksCsvReader) {
  const fs::path file = dir_ / "landmarks.csv";
  data::write_landmarks(file.string(), data::landmark_rows(dataset_, 16.0, "test"));
  const std::string valid = read_bytes(file);
  EXPECT_GT(fuzz("landmarks.csv", valid, file, [&] { data::read_landmarks(file.string(), dataset_); }), 0);
}

TEST_F(Fuzz, DatasetCacheReader) {
  const fs::path file = dir_ / "set.pt";
  auto with_crops = dataset_;
  data::write_dataset_cache(with_crops, file.string());
  const std::string valid = read_bytes(file);
  EXPECT_GT(fuzz("cache", valid, file, [&] { data::read_dataset_cache(file.string()); }), 0);
}

// A small checkpoint written to `file` (STSTNet at 16x16: the format is the same for every
// model); returns the model saved.
models::ModelPtr write_small_checkpoint(const fs::path& file) {
  torch::manual_seed(1);
  auto model = models::make_model("ststnet", models::ModelConfig{3, 16, {}});
  engine::save_checkpoint(file.string(), model,
                          {{"model", "ststnet"}, {"num_classes", 3}, {"input_size", 16}});
  return model;
}

TEST_F(Fuzz, CheckpointReader) {
  const fs::path file = dir_ / "model.pt";
  const auto model = write_small_checkpoint(file);
  const std::string valid = read_bytes(file);
  // A mutation that loads must give the weights written: LibTorch alone loaded altered
  // weights without a word (it does not check its entries' CRCs).
  int64_t altered = 0;
  EXPECT_GT(fuzz("checkpoint", valid, file,
                 [&] {
                   const auto loaded = engine::load_checkpoint(file.string());
                   const auto expected = model->named_parameters(true);
                   const auto got = loaded.model->named_parameters(true);
                   bool same = expected.size() == got.size();
                   for (const auto& p : expected) {
                     const auto* q = got.find(p.key());
                     same = same && q && torch::equal(p.value(), *q);
                   }
                   if (!same && altered++ < 3) {
                     ADD_FAILURE() << "altered weights loaded silently";
                     write_bytes(file.string() + ".altered" + std::to_string(altered), read_bytes(file));
                   }
                 }),
            0);
  EXPECT_EQ(altered, 0);
}

// The two damages LibTorch's loader took silently, each refused by name: a changed byte in a
// tensor (the entry's CRC no longer matches) and an entry marked as a folder in the central
// directory (LibTorch's reader then loads that tensor as zeros).
TEST_F(Fuzz, CheckpointWithAlteredTensorOrFolderBitIsRefused) {
  const fs::path file = dir_ / "model.pt";
  write_small_checkpoint(file);
  const std::string valid = read_bytes(file);
  const auto refusal = [&](const std::string& bytes) -> std::string {
    write_bytes(file, bytes);
    try {
      engine::load_checkpoint(file.string());
    } catch (const CheckpointError& e) {
      return e.what();
    }
    return "(loaded)";
  };
  ASSERT_EQ(refusal(valid), "(loaded)");

  // The first tensor's bytes follow its local header: "PK\3\4", 26 bytes, name, extra field.
  const size_t header = valid.find(std::string("PK\x03\x04", 4));
  ASSERT_NE(header, std::string::npos);
  const auto le16 = [&](size_t at) {
    return static_cast<size_t>(static_cast<unsigned char>(valid[at])) |
           static_cast<size_t>(static_cast<unsigned char>(valid[at + 1])) << 8;
  };
  const size_t data = header + 30 + le16(header + 26) + le16(header + 28);
  std::string altered = valid;
  altered[data] = static_cast<char>(altered[data] ^ 0x40);
  const auto crc = refusal(altered);
  EXPECT_NE(crc.find(file.string() + ": damaged zip archive"), std::string::npos) << crc;

  // The MS-DOS folder bit in the external attributes (offset 38) of a central-directory entry.
  const size_t central = valid.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(central, std::string::npos);
  std::string folder = valid;
  folder[central + 38] = static_cast<char>(folder[central + 38] | 0x10);
  const auto bit = refusal(folder);
  EXPECT_NE(bit.find("is marked as a folder"), std::string::npos) << bit;
  EXPECT_NE(bit.find(file.string()), std::string::npos) << bit;
}

}  // namespace
}  // namespace mer::reliability

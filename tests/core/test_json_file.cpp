#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "mer/core/atomic_file.h"
#include "mer/core/json_file.h"

namespace mer {

namespace fs = std::filesystem;

// A record that is missing, cut short (a run killed mid-write by an older writer or a full
// disk) or not JSON means "not done": no exception, so the caller redoes the work.
TEST(JsonFile, ReadsOnlyWholeRecords) {
  const fs::path dir = fs::temp_directory_path() / ("mer-json-file-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto file = dir / "record.json";
  EXPECT_FALSE(read_json_if_valid(file).has_value());

  const std::string whole = R"({"format": "mer-record", "values": [1, 2, 3]})";
  write_file_atomic(file.string(), whole);
  const auto read = read_json_if_valid(file);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ((*read)["values"].size(), 3u);

  for (size_t cut : {size_t{0}, size_t{1}, whole.size() / 2, whole.size() - 1}) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << whole.substr(0, cut);
    EXPECT_FALSE(read_json_if_valid(file).has_value()) << "cut at " << cut;
  }
  EXPECT_FALSE(read_json_if_valid(dir).has_value());  // a folder under the record's name
  fs::remove_all(dir);
}

}  // namespace mer

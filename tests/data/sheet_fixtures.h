#pragma once
// Fixtures for the sheet tests, generated in code: temporary folders, csv files, zip archives
// and minimal .xlsx workbooks written with libzip from XML given by the test, plus access to
// the real sheets under MER_SHARED_DATA (tests using them are named RealData* and skip where
// the folder is absent).
#include <gtest/gtest.h>
#include <zip.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace mer::test {

namespace fs = std::filesystem;

// A fresh folder per test under the system temp folder, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("mer_sheets_" + std::string(info->test_suite_name()) + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return path;
}

// Writes a zip archive holding `entries` (name, content), deflated.
inline std::string write_zip(const std::string& path,
                             const std::vector<std::pair<std::string, std::string>>& entries) {
  int error = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (z == nullptr) throw std::runtime_error("cannot create zip " + path);
  for (const auto& [name, content] : entries) {
    // libzip reads the buffer at zip_close: the entries outlive it.
    zip_source_t* src = zip_source_buffer(z, content.data(), content.size(), 0);
    if (src == nullptr || zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE) < 0) {
      zip_source_free(src);
      zip_discard(z);
      throw std::runtime_error("cannot add " + name + " to " + path);
    }
  }
  if (zip_close(z) != 0) throw std::runtime_error("cannot write zip " + path);
  return path;
}

inline const char* kMainNs = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
inline const char* kRelNs = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

// One worksheet of a fixture workbook: its name and the XML inside <sheetData>.
struct FixtureSheet {
  std::string name;
  std::string rows_xml;
};

// A workbook with the given sheets (sheetN.xml in this order) and shared strings, in the
// layout Excel writes. Returns the zip entries, so that a test can alter one before writing.
inline std::vector<std::pair<std::string, std::string>> xlsx_entries(
    const std::vector<FixtureSheet>& sheets, const std::vector<std::string>& shared_strings = {}) {
  std::vector<std::pair<std::string, std::string>> e;
  e.emplace_back("[Content_Types].xml",
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types "
                 "xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>");
  e.emplace_back("_rels/.rels",
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships "
                 "xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
                 "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/"
                 "officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>"
                 "</Relationships>");
  std::string workbook =
      std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?><workbook xmlns=\"") + kMainNs +
      "\" xmlns:r=\"" + kRelNs + "\"><sheets>";
  std::string rels =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships "
      "xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">";
  for (size_t i = 0; i < sheets.size(); ++i) {
    const std::string n = std::to_string(i + 1);
    workbook +=
        "<sheet name=\"" + sheets[i].name + "\" sheetId=\"" + n + "\" r:id=\"rId" + n + "\"/>";
    rels += "<Relationship Id=\"rId" + n +
            "\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
            "worksheet\" Target=\"worksheets/sheet" +
            n + ".xml\"/>";
    e.emplace_back("xl/worksheets/sheet" + n + ".xml",
                   std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?><worksheet xmlns=\"") +
                       kMainNs + "\"><sheetData>" + sheets[i].rows_xml +
                       "</sheetData></worksheet>");
  }
  workbook += "</sheets></workbook>";
  rels +=
      "<Relationship Id=\"rIdS\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
      "relationships/sharedStrings\" Target=\"sharedStrings.xml\"/></Relationships>";
  e.emplace_back("xl/workbook.xml", workbook);
  e.emplace_back("xl/_rels/workbook.xml.rels", rels);
  std::string sst = std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?><sst xmlns=\"") +
                    kMainNs + "\" count=\"" + std::to_string(shared_strings.size()) + "\">";
  for (const auto& s : shared_strings) sst += "<si><t xml:space=\"preserve\">" + s + "</t></si>";
  sst += "</sst>";
  e.emplace_back("xl/sharedStrings.xml", sst);
  return e;
}

// A one-sheet workbook from rows of text, every cell an inline string (row r, column c at
// its reference), empty strings left out as gaps: enough for adapter fixtures.
inline std::string write_simple_xlsx(const std::string& path,
                                     const std::vector<std::vector<std::string>>& rows,
                                     const std::string& sheet_name = "Sheet1") {
  std::string xml;
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::string rn = std::to_string(r + 1);
    xml += "<row r=\"" + rn + "\">";
    for (size_t c = 0; c < rows[r].size(); ++c) {
      if (rows[r][c].empty()) continue;
      std::string ref;
      for (size_t k = c + 1; k > 0; k = (k - 1) / 26)
        ref.insert(ref.begin(), char('A' + (k - 1) % 26));
      xml += "<c r=\"" + ref + rn + "\" t=\"inlineStr\"><is><t>" + rows[r][c] + "</t></is></c>";
    }
    xml += "</row>";
  }
  return write_zip(path, xlsx_entries({{sheet_name, xml}}));
}

// A path under the real data folder (MER_SHARED_DATA, e.g. "annotations/smic_apex.xlsx").
inline std::string shared(const std::string& relative) {
  return (fs::path(MER_SHARED_DATA) / relative).string();
}

}  // namespace mer::test

// Skips the current test, with the reason, when a real data file is absent.
#define MER_REQUIRE_SHARED(relative)                                             \
  do {                                                                           \
    if (!std::filesystem::exists(::mer::test::shared(relative))) {               \
      GTEST_SKIP() << "real data absent (licensed; see shared/data/README.md): " \
                   << ::mer::test::shared(relative);                             \
    }                                                                            \
  } while (0)

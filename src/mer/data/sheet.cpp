#include "mer/data/sheet.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/data/xlsx.h"

namespace mer::data {
namespace {

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

bool blank_row(const SheetRow& row) {
  return std::all_of(row.cells.begin(), row.cells.end(),
                     [](const std::string& c) { return trim(c).empty(); });
}

}  // namespace

Sheet read_sheet(const std::string& path, const std::string& sheet) {
  const std::string ext = lower_extension(path);
  Sheet out;
  if (ext == ".csv") {
    if (!sheet.empty()) {
      throw DataError(path + ": a csv file has no worksheets (asked for '" + sheet + "')");
    }
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw DataError(path + ": no such file");
    out.source = path;
    for (auto& r : csv::read_file(path)) out.rows.push_back({r.line, std::move(r.fields)});
  } else if (ext == ".xlsx" || ext == ".xlsm") {
    auto x = read_xlsx(path, sheet);
    out.source = sheet.empty() ? path : path + " [" + x.name + "]";
    for (auto& r : x.rows) out.rows.push_back({r.row, std::move(r.cells)});
  } else {
    throw DataError(path + ": unknown sheet format '" + ext + "' (expected .csv or .xlsx)");
  }
  return out;
}

std::string normalize_header(std::string_view text) {
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) && c < 0x80) out += static_cast<char>(std::tolower(c));
  }
  return out;
}

std::string trim(std::string_view text) {
  auto is_space = [](std::string_view s, size_t i, bool forward) -> size_t {
    // Returns the byte length of a space at i (forward) or ending at i (backward), else 0.
    if (forward) {
      if (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) return 1;
      if (i + 1 < s.size() && s[i] == '\xC2' && s[i + 1] == '\xA0') return 2;
    } else {
      if (i >= 1 && std::isspace(static_cast<unsigned char>(s[i - 1]))) return 1;
      if (i >= 2 && s[i - 2] == '\xC2' && s[i - 1] == '\xA0') return 2;
    }
    return 0;
  };
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end) {
    const size_t n = is_space(text, begin, true);
    if (n == 0) break;
    begin += n;
  }
  while (end > begin) {
    const size_t n = is_space(text, end, false);
    if (n == 0) break;
    end -= n;
  }
  return std::string(text.substr(begin, end - begin));
}

Table::Table(Sheet sheet, std::vector<ColumnSpec> columns, int max_header_row)
    : sheet_(std::move(sheet)), columns_(std::move(columns)) {
  std::vector<std::vector<std::string>> wanted;
  for (const auto& spec : columns_) {
    std::vector<std::string> names;
    for (const auto& n : spec.names) names.push_back(normalize_header(n));
    wanted.push_back(std::move(names));
  }
  size_t header_index = sheet_.rows.size();
  for (size_t i = 0; i < sheet_.rows.size() && sheet_.rows[i].row <= max_header_row; ++i) {
    const auto& cells = sheet_.rows[i].cells;
    std::vector<int> found(columns_.size(), -1);
    for (size_t k = 0; k < columns_.size(); ++k) {
      for (size_t c = 0; c < cells.size() && found[k] < 0; ++c) {
        const std::string h = normalize_header(cells[c]);
        if (!h.empty() && std::find(wanted[k].begin(), wanted[k].end(), h) != wanted[k].end()) {
          found[k] = static_cast<int>(c);
        }
      }
    }
    bool complete = true;
    for (size_t k = 0; k < columns_.size(); ++k) {
      if (columns_[k].required && found[k] < 0) complete = false;
    }
    if (complete) {
      header_index = i;
      column_index_ = std::move(found);
      break;
    }
  }
  if (header_index == sheet_.rows.size()) {
    std::string expected;
    for (const auto& spec : columns_) {
      if (!spec.required) continue;
      std::string names;
      for (const auto& n : spec.names) names += (names.empty() ? "'" : "' or '") + n;
      expected += (expected.empty() ? "" : ", ") + names + "'";
    }
    throw DataError(sheet_.source + ": no header row with the columns " + expected +
                    " in its first " + std::to_string(max_header_row) + " rows");
  }
  header_row_ = sheet_.rows[header_index].row;
  for (size_t i = header_index + 1; i < sheet_.rows.size(); ++i) {
    if (!blank_row(sheet_.rows[i])) rows_.push_back(sheet_.rows[i]);
  }
}

bool Table::has(const std::string& key) const {
  for (size_t k = 0; k < columns_.size(); ++k) {
    if (columns_[k].key == key) return column_index_[k] >= 0;
  }
  return false;
}

std::string Table::get(const SheetRow& row, const std::string& key) const {
  for (size_t k = 0; k < columns_.size(); ++k) {
    if (columns_[k].key != key) continue;
    const int c = column_index_[k];
    if (c < 0 || static_cast<size_t>(c) >= row.cells.size()) return {};
    return trim(row.cells[c]);
  }
  MER_CHECK(false, "column key '" + key + "' was not declared for " + sheet_.source);
  return {};
}

std::string Table::where(const SheetRow& row) const {
  return sheet_.source + ":" + std::to_string(row.row);
}

}  // namespace mer::data

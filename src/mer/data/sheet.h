#pragma once
// Annotation sheets as tables, whatever their file format: the adapters read .csv and .xlsx
// alike, and find their header row by the column names they expect, because the official
// sheets put notes above it (SAMM has 13 rows of notes) and name the same column differently
// from one release to the next ("OnsetFrame", "Onset Frame", "Onset", "onset_frame").
#include <string>
#include <string_view>
#include <vector>

namespace mer::data {

struct SheetRow {
  int row = 0;                     // 1-based: the xlsx row number or the csv line number
  std::vector<std::string> cells;  // as read (not trimmed); absent cells are ""
};

struct Sheet {
  std::string source;  // the path, plus " [sheet name]" for an xlsx; starts every message
  std::vector<SheetRow> rows;
};

// Reads a .csv (RFC 4180, UTF-8 with or without BOM) or an .xlsx (see xlsx.h), chosen by the
// file's extension (case-insensitive). `sheet` names the xlsx worksheet (empty = the first)
// and must be empty for a csv. Throws DataError naming the path when the file is missing or
// unreadable or its extension is neither.
Sheet read_sheet(const std::string& path, const std::string& sheet = "");

// A column an adapter wants, under the names it goes by in the sheets it reads.
struct ColumnSpec {
  std::string key;                 // the adapter's own name for it, e.g. "onset"
  std::vector<std::string> names;  // header texts that mean it, compared by normalize_header
  bool required = true;
};

// Header text reduced to what identifies it: ASCII letters (lower case) and digits only, so
// "Onset Frame", "OnsetFrame" and "onset_frame" are all "onsetframe".
std::string normalize_header(std::string_view text);

// Trims ASCII whitespace (and the no-break space U+00A0) at both ends.
std::string trim(std::string_view text);

// A sheet with its header row located and its columns resolved by key.
class Table {
 public:
  // The header is the first row, among the first `max_header_row` rows of the sheet, that
  // holds a name of every required column. Throws DataError naming the source, the columns
  // expected (with their accepted names) and how far it looked, when no row does.
  Table(Sheet sheet, std::vector<ColumnSpec> columns, int max_header_row = 50);

  const std::string& source() const { return sheet_.source; }
  int header_row() const { return header_row_; }
  // Whether column `key` was found (an optional column may be absent).
  bool has(const std::string& key) const;
  // The rows below the header that hold at least one non-blank cell.
  const std::vector<SheetRow>& rows() const { return rows_; }
  // The trimmed cell of `row` under column `key`; "" when the column is absent or the row is
  // shorter. Throws mer::Error for a key not declared in the constructor (a programming error).
  std::string get(const SheetRow& row, const std::string& key) const;
  // "path:row" for messages about `row`.
  std::string where(const SheetRow& row) const;

 private:
  Sheet sheet_;
  std::vector<ColumnSpec> columns_;
  std::vector<int> column_index_;  // per column spec: the sheet column, -1 when absent
  int header_row_ = 0;
  std::vector<SheetRow> rows_;
};

}  // namespace mer::data

#pragma once
// Reading one worksheet of an Office Open XML workbook (.xlsx) as rows of text cells, with
// libzip and pugixml: the annotation sheets of CASME II, SAMM, SMIC and CAS(ME)^3 are
// distributed as .xlsx and are read as published, not from a hand-converted copy.
//
// What a cell's text is:
//   - shared and inline strings: the string; rich-text runs are concatenated, phonetic runs
//     (<rPh>) left out, OOXML escapes like _x000D_ decoded;
//   - numbers: an integral value without decimals ("46", also when stored as "46.0" or
//     "4.6E1"), any other value with up to 15 significant digits, as Excel shows it
//     ("0.3" for 0.30000000000000004). Styles are not read: a date stays its serial number;
//   - booleans: "TRUE" / "FALSE"; errors as stored ("#N/A"); formula results their cached
//     value (formulas are not evaluated); a cell without a value: "".
// Cells are placed by their reference (B7 -> column 1 of row 7), so gaps stay empty strings;
// cells and rows without a reference follow the previous one. Element prefixes (x:row) are
// accepted. Everything is read into memory: sheets are small.
//
// Errors: DataError naming the file (and the sheet and cell where it applies) for a missing
// file, a file that is not a zip archive or not a workbook, a missing sheet, malformed XML,
// a shared-string index out of range. Functions are reentrant (no shared state).
#include <string>
#include <string_view>
#include <vector>

namespace mer::data {

struct XlsxRow {
  int row = 0;                     // 1-based row number in the sheet, as Excel shows it
  std::vector<std::string> cells;  // index = column (A = 0); absent cells are ""
};

struct XlsxSheet {
  std::string name;           // the sheet's name in the workbook
  std::vector<XlsxRow> rows;  // rows the file lists (with at least one cell), in sheet order
};

// Names of the workbook's worksheets, in workbook (tab) order.
std::vector<std::string> xlsx_sheet_names(const std::string& path);

// Reads the worksheet named `sheet` (exact, then case-insensitive match), or the first one
// in workbook order when `sheet` is empty.
XlsxSheet read_xlsx(const std::string& path, const std::string& sheet = "");

// 0-based column of a cell reference's letters: "A7" -> 0, "AB12" -> 27; -1 when the
// reference does not start with 1..3 letters (of a column up to XFD).
int xlsx_column_index(std::string_view reference);

}  // namespace mer::data

#include "mer/core/csv.h"

#include <fstream>
#include <sstream>

#include "mer/core/error.h"

namespace mer::csv {

std::vector<Row> parse(const std::string& text, const std::string& source) {
  std::vector<Row> rows;
  Row row;
  std::string field;
  bool in_quotes = false;
  bool row_has_content = false;
  int line = 1;
  row.line = 1;
  auto end_field = [&] {
    row.fields.push_back(field);
    field.clear();
  };
  auto end_row = [&] {
    end_field();
    // Blank lines (e.g. a trailing newline) are not rows.
    if (row_has_content || row.fields.size() > 1) rows.push_back(row);
    row = Row{};
    row_has_content = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_quotes = true;
        row_has_content = true;
        break;
      case ',':
        end_field();
        row_has_content = true;
        break;
      case '\r':
        break;
      case '\n':
        end_row();
        ++line;
        row.line = line;
        break;
      default:
        field += c;
        row_has_content = true;
    }
  }
  if (in_quotes) {
    throw DataError(source + ":" + std::to_string(row.line) + ": unterminated quoted field");
  }
  end_row();
  return rows;
}

std::vector<Row> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw DataError(path + ": read error");
  std::string text = buffer.str();
  // A UTF-8 byte-order mark (spreadsheet exports) is not part of the first header name.
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
  return parse(text, path);
}

std::string escape(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string join(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += escape(fields[i]);
  }
  return out;
}

}  // namespace mer::csv

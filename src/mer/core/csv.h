#pragma once
// Minimal RFC 4180 CSV reading and writing (quoted fields, embedded commas, quotes and
// newlines inside quotes, CRLF line ends). Used for labels.csv and predictions.csv.
#include <string>
#include <vector>

namespace mer::csv {

struct Row {
  int line = 0;                     // 1-based line number where the row starts in the file
  std::vector<std::string> fields;
};

// Parses CSV text; throws DataError naming `source` and the line on an unterminated quote.
std::vector<Row> parse(const std::string& text, const std::string& source);
// Reads and parses a file; throws DataError naming the path if it cannot be read.
std::vector<Row> read_file(const std::string& path);
// Quotes a field if it needs it.
std::string escape(const std::string& field);
std::string join(const std::vector<std::string>& fields);

}  // namespace mer::csv

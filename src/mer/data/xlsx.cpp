#include "mer/data/xlsx.h"

#include <zip.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <pugixml.hpp>

#include "mer/core/error.h"

namespace mer::data {
namespace {

// Excel's last column is XFD (16384 columns).
constexpr int kMaxColumns = 16384;

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;

class Archive {
 public:
  explicit Archive(const std::string& path) : path_(path) {
    // libzip's own message for a missing file ("No such file") would not say which file.
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw DataError(path + ": no such file");
    if (std::filesystem::is_directory(path, ec)) {
      throw DataError(path + ": is a folder, not an .xlsx file");
    }
    int code = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &code);
    if (z == nullptr) {
      if (code == ZIP_ER_NOZIP || code == ZIP_ER_INCONS) {
        throw DataError(path + ": not an .xlsx file (not a zip archive)");
      }
      zip_error_t error;
      zip_error_init_with_code(&error, code);
      std::string message = zip_error_strerror(&error);
      zip_error_fini(&error);
      throw DataError(path + ": cannot open: " + message);
    }
    zip_.reset(z);
  }

  const std::string& path() const { return path_; }

  // The entry's bytes, or nothing when the archive has no such entry. Names are matched
  // exactly first, then ignoring case (some writers differ in case from their own rels).
  std::optional<std::string> read(const std::string& name) const {
    zip_int64_t index = zip_name_locate(zip_.get(), name.c_str(), 0);
    if (index < 0) index = zip_name_locate(zip_.get(), name.c_str(), ZIP_FL_NOCASE);
    if (index < 0) return std::nullopt;
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip_.get(), index, 0, &st) != 0) {
      throw DataError(path_ + ": " + name + ": cannot read entry: " + zip_strerror(zip_.get()));
    }
    zip_file_t* file = zip_fopen_index(zip_.get(), index, 0);
    if (file == nullptr) {
      throw DataError(path_ + ": " + name + ": cannot read entry: " + zip_strerror(zip_.get()));
    }
    std::string data;
    if (st.valid & ZIP_STAT_SIZE) data.reserve(static_cast<size_t>(st.size));
    char buffer[65536];
    zip_int64_t n = 0;
    while ((n = zip_fread(file, buffer, sizeof buffer)) > 0)
      data.append(buffer, static_cast<size_t>(n));
    const bool failed = n < 0;
    zip_fclose(file);
    if (failed) throw DataError(path_ + ": " + name + ": corrupt entry in the zip archive");
    return data;
  }

 private:
  std::string path_;
  ZipPtr zip_;
};

// Element names without their namespace prefix: writers differ ("row" vs "x:row").
std::string_view local_name(const char* name) {
  std::string_view s(name);
  const auto colon = s.find(':');
  return colon == std::string_view::npos ? s : s.substr(colon + 1);
}

pugi::xml_node child(const pugi::xml_node& node, std::string_view name) {
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && local_name(c.name()) == name) return c;
  }
  return {};
}

// The r:id attribute (relationship id), not to be confused with sheetId.
std::string relationship_id(const pugi::xml_node& node) {
  for (pugi::xml_attribute a = node.first_attribute(); a; a = a.next_attribute()) {
    const std::string_view name(a.name());
    if (name != "id" && local_name(a.name()) == "id") return a.value();
  }
  return {};
}

std::unique_ptr<pugi::xml_document> parse_xml(const Archive& archive, const std::string& entry,
                                              const std::string& data) {
  auto doc = std::make_unique<pugi::xml_document>();
  // Whitespace-only text (<t xml:space="preserve"> </t>) is a cell's value: keep it.
  const auto result = doc->load_buffer(data.data(), data.size(),
                                       pugi::parse_default | pugi::parse_ws_pcdata_single);
  if (!result) {
    throw DataError(archive.path() + ": " + entry + ": malformed XML at byte " +
                    std::to_string(result.offset) + ": " + result.description());
  }
  return doc;
}

std::string folder_of(const std::string& entry) {
  const auto slash = entry.rfind('/');
  return slash == std::string::npos ? std::string() : entry.substr(0, slash + 1);
}

// Resolves a relationship target against the folder of the part that names it; a leading
// '/' means the archive root. "a/b/../c" becomes "a/c".
std::string resolve_target(const std::string& base_folder, const std::string& target) {
  std::string joined =
      !target.empty() && target[0] == '/' ? target.substr(1) : base_folder + target;
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= joined.size()) {
    const auto slash = joined.find('/', start);
    const std::string part =
        joined.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

struct Relationship {
  std::string id;
  std::string type;    // a URI; only its last segment matters ("officeDocument", "worksheet")
  std::string target;  // resolved to a part name inside the archive
  bool is(std::string_view kind) const {
    const auto slash = type.rfind('/');
    return std::string_view(type).substr(slash == std::string::npos ? 0 : slash + 1) == kind;
  }
};

// The relationships of part `entry` ("" = the package itself), from its .rels part.
std::vector<Relationship> read_relationships(const Archive& archive, const std::string& entry) {
  const std::string folder = folder_of(entry);
  const std::string rels_name = folder + "_rels/" + entry.substr(folder.size()) + ".rels";
  std::vector<Relationship> rels;
  const auto data = archive.read(rels_name);
  if (!data) return rels;
  const auto doc = parse_xml(archive, rels_name, *data);
  const auto root = child(*doc, "Relationships");
  for (pugi::xml_node r = root.first_child(); r; r = r.next_sibling()) {
    if (r.type() != pugi::node_element || local_name(r.name()) != "Relationship") continue;
    const std::string mode = r.attribute("TargetMode").value();
    if (mode == "External") continue;
    rels.push_back({r.attribute("Id").value(), r.attribute("Type").value(),
                    resolve_target(folder, r.attribute("Target").value())});
  }
  return rels;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

void append_utf8(std::string& out, unsigned code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

// OOXML stores characters XML cannot carry as _xHHHH_ (e.g. _x000D_ for a carriage return).
std::string decode_ooxml_escapes(const std::string& s) {
  if (s.find("_x") == std::string::npos) return s;
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i + 6 < s.size() && s[i + 1] == 'x' && s[i + 6] == '_' &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 3])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 4])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 5]))) {
      append_utf8(out,
                  static_cast<unsigned>(std::strtoul(s.substr(i + 2, 4).c_str(), nullptr, 16)));
      i += 6;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Text of a string item (<si> or <is>): its own <t> plus the <t> of each rich-text run <r>;
// phonetic runs (<rPh>) are reading aids, not content.
std::string string_item_text(const pugi::xml_node& item) {
  std::string text;
  for (pugi::xml_node c = item.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    const auto name = local_name(c.name());
    if (name == "t") {
      text += c.child_value();
    } else if (name == "r") {
      const auto t = child(c, "t");
      if (t) text += t.child_value();
    }
  }
  return decode_ooxml_escapes(text);
}

std::string format_number(const std::string& stored) {
  const char* begin = stored.c_str();
  char* end = nullptr;
  const double value = std::strtod(begin, &end);
  // Not a plain number (never written by Excel): keep it as stored.
  if (end == begin || *end != '\0' || !std::isfinite(value)) return stored;
  char buffer[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof buffer, "%.0f", value);
    // "-0" is 0.
    if (std::string(buffer) == "-0") return "0";
  } else {
    std::snprintf(buffer, sizeof buffer, "%.15g", value);
  }
  return buffer;
}

struct Workbook {
  std::string path;                                         // the workbook part
  std::vector<std::pair<std::string, std::string>> sheets;  // name -> worksheet part
};

Workbook read_workbook(const Archive& archive) {
  Workbook book;
  // The package relationships name the workbook part; xl/workbook.xml when they do not.
  for (const auto& rel : read_relationships(archive, "")) {
    if (rel.is("officeDocument")) {
      book.path = rel.target;
      break;
    }
  }
  if (book.path.empty()) book.path = "xl/workbook.xml";
  const auto data = archive.read(book.path);
  if (!data) {
    throw DataError(archive.path() + ": not an .xlsx workbook (no " + book.path + " inside)");
  }
  const auto doc = parse_xml(archive, book.path, *data);
  const auto rels = read_relationships(archive, book.path);
  const auto sheets = child(child(*doc, "workbook"), "sheets");
  int position = 0;
  for (pugi::xml_node s = sheets.first_child(); s; s = s.next_sibling()) {
    if (s.type() != pugi::node_element || local_name(s.name()) != "sheet") continue;
    ++position;
    const std::string id = relationship_id(s);
    std::string target;
    for (const auto& rel : rels) {
      if (rel.id == id) target = rel.target;
    }
    // Without a relationship, fall back on the conventional part name.
    if (target.empty()) target = "xl/worksheets/sheet" + std::to_string(position) + ".xml";
    book.sheets.emplace_back(s.attribute("name").value(), target);
  }
  return book;
}

std::vector<std::string> read_shared_strings(const Archive& archive, const Workbook& book) {
  std::string entry;
  for (const auto& rel : read_relationships(archive, book.path)) {
    if (rel.is("sharedStrings")) entry = rel.target;
  }
  if (entry.empty()) entry = folder_of(book.path) + "sharedStrings.xml";
  std::vector<std::string> strings;
  const auto data = archive.read(entry);
  if (!data) return strings;
  const auto doc = parse_xml(archive, entry, *data);
  const auto sst = child(*doc, "sst");
  for (pugi::xml_node si = sst.first_child(); si; si = si.next_sibling()) {
    if (si.type() == pugi::node_element && local_name(si.name()) == "si") {
      strings.push_back(string_item_text(si));
    }
  }
  return strings;
}

// Splits "AB12" into column 27 and row 12; row 0 when the reference has no digits.
bool parse_reference(std::string_view ref, int& column, int& row) {
  column = xlsx_column_index(ref);
  if (column < 0) return false;
  size_t i = 0;
  while (i < ref.size() && std::isalpha(static_cast<unsigned char>(ref[i]))) ++i;
  row = 0;
  for (; i < ref.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(ref[i]))) return false;
    row = row * 10 + (ref[i] - '0');
    if (row > 1048576) return false;
  }
  return true;
}

}  // namespace

int xlsx_column_index(std::string_view reference) {
  int column = 0;
  size_t letters = 0;
  while (letters < reference.size() &&
         std::isalpha(static_cast<unsigned char>(reference[letters]))) {
    column = column * 26 + (std::toupper(static_cast<unsigned char>(reference[letters])) - 'A' + 1);
    ++letters;
  }
  if (letters == 0 || letters > 3 || column > kMaxColumns) return -1;
  return column - 1;
}

std::vector<std::string> xlsx_sheet_names(const std::string& path) {
  const Archive archive(path);
  std::vector<std::string> names;
  for (const auto& [name, target] : read_workbook(archive).sheets) {
    (void)target;
    names.push_back(name);
  }
  return names;
}

XlsxSheet read_xlsx(const std::string& path, const std::string& sheet) {
  const Archive archive(path);
  const Workbook book = read_workbook(archive);
  if (book.sheets.empty()) throw DataError(path + ": the workbook lists no worksheet");
  const std::pair<std::string, std::string>* chosen = nullptr;
  if (sheet.empty()) {
    chosen = &book.sheets.front();
  } else {
    for (const auto& s : book.sheets) {
      if (s.first == sheet) chosen = &s;
    }
    for (const auto& s : book.sheets) {
      if (chosen == nullptr && iequals(s.first, sheet)) chosen = &s;
    }
    if (chosen == nullptr) {
      std::string names;
      for (const auto& s : book.sheets) names += (names.empty() ? "'" : ", '") + s.first + "'";
      throw DataError(path + ": no worksheet named '" + sheet + "' (the workbook has " + names +
                      ")");
    }
  }
  XlsxSheet out;
  out.name = chosen->first;
  const std::string where = path + ": sheet '" + out.name + "'";
  const auto data = archive.read(chosen->second);
  if (!data) throw DataError(where + ": its part " + chosen->second + " is missing from the file");
  const auto strings = read_shared_strings(archive, book);
  const auto doc = parse_xml(archive, chosen->second, *data);
  const auto sheet_data = child(child(*doc, "worksheet"), "sheetData");

  int previous_row = 0;
  for (pugi::xml_node r = sheet_data.first_child(); r; r = r.next_sibling()) {
    if (r.type() != pugi::node_element || local_name(r.name()) != "row") continue;
    XlsxRow row;
    const auto r_attr = r.attribute("r");
    row.row = r_attr ? r_attr.as_int() : previous_row + 1;
    if (row.row <= 0) throw DataError(where + ": row number '" + r_attr.value() + "' is not valid");
    previous_row = row.row;
    int previous_column = -1;
    bool any_cell = false;
    for (pugi::xml_node c = r.first_child(); c; c = c.next_sibling()) {
      if (c.type() != pugi::node_element || local_name(c.name()) != "c") continue;
      any_cell = true;
      int column = previous_column + 1;
      const std::string ref = c.attribute("r").value();
      if (!ref.empty()) {
        int ref_row = 0;
        if (!parse_reference(ref, column, ref_row)) {
          throw DataError(where + ": malformed cell reference '" + ref + "' in row " +
                          std::to_string(row.row));
        }
      }
      if (column >= kMaxColumns) {
        throw DataError(where + ": row " + std::to_string(row.row) + " has more than " +
                        std::to_string(kMaxColumns) + " columns");
      }
      previous_column = column;
      const std::string cell_name = ref.empty() ? "column " + std::to_string(column + 1) +
                                                      " of row " + std::to_string(row.row)
                                                : "cell " + ref;
      const std::string type = c.attribute("t").value();
      const auto v = child(c, "v");
      std::string text;
      if (type == "s") {
        if (v) {
          const std::string stored = v.child_value();
          char* end = nullptr;
          const long index = std::strtol(stored.c_str(), &end, 10);
          if (stored.empty() || *end != '\0' || index < 0 ||
              index >= static_cast<long>(strings.size())) {
            throw DataError(where + " " + cell_name + ": shared string '" + stored +
                            "' out of range (the file has " + std::to_string(strings.size()) +
                            " strings)");
          }
          text = strings[static_cast<size_t>(index)];
        }
      } else if (type == "inlineStr") {
        const auto is = child(c, "is");
        text = is ? string_item_text(is) : decode_ooxml_escapes(v.child_value());
      } else if (type == "b") {
        const std::string stored = v.child_value();
        text = stored.empty() ? "" : (stored == "0" ? "FALSE" : "TRUE");
      } else if (type == "str" || type == "e" || type == "d") {
        text = decode_ooxml_escapes(v.child_value());
      } else {
        const std::string stored = v.child_value();
        text = stored.empty() ? "" : format_number(stored);
      }
      if (row.cells.size() <= static_cast<size_t>(column)) row.cells.resize(column + 1);
      row.cells[column] = std::move(text);
    }
    if (any_cell) out.rows.push_back(std::move(row));
  }
  return out;
}

}  // namespace mer::data

#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "data/sheet_fixtures.h"
#include "mer/data/xlsx.h"

namespace mer::data {
namespace {

using test::TempDir;

// Expects `fn` to throw DataError whose message holds every fragment.
template <class Fn>
void expect_data_error(Fn fn, const std::vector<std::string>& fragments) {
  try {
    fn();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    for (const auto& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
          << "message '" << e.what() << "' lacks '" << f << "'";
    }
  }
}

std::vector<std::string> cells(std::initializer_list<const char*> list) {
  return std::vector<std::string>(list.begin(), list.end());
}

}  // namespace

TEST(XlsxColumn, LettersToIndex) {
  EXPECT_EQ(xlsx_column_index("A1"), 0);
  EXPECT_EQ(xlsx_column_index("Z9"), 25);
  EXPECT_EQ(xlsx_column_index("AA12"), 26);
  EXPECT_EQ(xlsx_column_index("AB12"), 27);
  EXPECT_EQ(xlsx_column_index("xfd1"), 16383);
  EXPECT_EQ(xlsx_column_index("XFE1"), -1);
  EXPECT_EQ(xlsx_column_index("12"), -1);
  EXPECT_EQ(xlsx_column_index("ABCD1"), -1);
}

TEST(Xlsx, EveryCellKindAndGaps) {
  TempDir dir;
  const std::string rows =
      // Shared strings, a gap (B1 absent), an inline string at D1.
      "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"C1\" t=\"s\"><v>1</v></c>"
      "<c r=\"D1\" t=\"inlineStr\"><is><t>inline</t></is></c></row>"
      // Numbers as Excel stores them; a boolean; an error; a formula string; an empty cell.
      "<row r=\"2\"><c r=\"A2\"><v>46</v></c><c r=\"B2\" t=\"n\"><v>12.0</v></c>"
      "<c r=\"C2\"><v>0.30000000000000004</v></c><c r=\"D2\"><v>4.6E1</v></c>"
      "<c r=\"E2\" t=\"b\"><v>1</v></c><c r=\"F2\" t=\"b\"><v>0</v></c>"
      "<c r=\"G2\" t=\"e\"><v>#N/A</v></c><c r=\"H2\" t=\"str\"><f>A1</f><v>x</v></c>"
      "<c r=\"I2\" s=\"3\"/><c r=\"J2\"><v>-0.5</v></c></row>"
      // Row 3 absent; row 5 with a cell far to the right.
      "<row r=\"5\"><c r=\"AB5\" t=\"s\"><v>2</v></c></row>"
      // Rows and cells without references follow the previous ones.
      "<row><c t=\"inlineStr\"><is><t>a</t></is></c><c t=\"inlineStr\"><is><t>b</t></is></c></row>"
      // A row element without cells is not a row of the result.
      "<row r=\"9\" ht=\"15\"/>";
  auto entries = test::xlsx_entries({{"Data", rows}}, {"Subject", "Onset Frame", "far"});
  test::write_zip(dir.file("kinds.xlsx"), entries);

  const auto sheet = read_xlsx(dir.file("kinds.xlsx"));
  EXPECT_EQ(sheet.name, "Data");
  ASSERT_EQ(sheet.rows.size(), 4u);
  EXPECT_EQ(sheet.rows[0].row, 1);
  EXPECT_EQ(sheet.rows[0].cells, cells({"Subject", "", "Onset Frame", "inline"}));
  EXPECT_EQ(sheet.rows[1].row, 2);
  EXPECT_EQ(sheet.rows[1].cells,
            cells({"46", "12", "0.3", "46", "TRUE", "FALSE", "#N/A", "x", "", "-0.5"}));
  EXPECT_EQ(sheet.rows[2].row, 5);
  ASSERT_EQ(sheet.rows[2].cells.size(), 28u);
  EXPECT_EQ(sheet.rows[2].cells[27], "far");
  EXPECT_EQ(sheet.rows[2].cells[0], "");
  EXPECT_EQ(sheet.rows[3].row, 6);
  EXPECT_EQ(sheet.rows[3].cells, cells({"a", "b"}));
}

TEST(Xlsx, RichTextPhoneticEscapesAndWhitespace) {
  TempDir dir;
  auto entries = test::xlsx_entries(
      {{"S",
        "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c>"
        "<c r=\"C1\" t=\"inlineStr\"><is><r><t>in</t></r><r><t>line</t></r></is></c></row>"}});
  // Replace the shared strings: a rich-text item with a phonetic run, and one of a space and
  // an escaped carriage return.
  for (auto& [name, content] : entries) {
    if (name != "xl/sharedStrings.xml") continue;
    content = std::string("<?xml version=\"1.0\"?><sst xmlns=\"") + test::kMainNs +
              "\"><si><r><rPr><b/></rPr><t>Happi</t></r><r><t>ness</t></r>"
              "<rPh sb=\"0\" eb=\"1\"><t>PHONETIC</t></rPh></si>"
              "<si><t xml:space=\"preserve\"> </t></si></sst>";
  }
  // A second row with an escaped character in an inline string.
  for (auto& [name, content] : entries) {
    if (name != "xl/worksheets/sheet1.xml") continue;
    const auto at = content.find("</sheetData>");
    content.insert(
        at, "<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>a_x000D_b &amp; c</t></is></c></row>");
  }
  test::write_zip(dir.file("rich.xlsx"), entries);
  const auto sheet = read_xlsx(dir.file("rich.xlsx"));
  ASSERT_EQ(sheet.rows.size(), 2u);
  EXPECT_EQ(sheet.rows[0].cells, cells({"Happiness", " ", "inline"}));
  EXPECT_EQ(sheet.rows[1].cells[0], "a\rb & c");
}

TEST(Xlsx, NamedSheetsPrefixedElementsAndAbsoluteTargets) {
  TempDir dir;
  auto entries = test::xlsx_entries({{"first", "<row r=\"1\"><c r=\"A1\"><v>1</v></c></row>"},
                                     {"label", "<row r=\"1\"><c r=\"A1\"><v>2</v></c></row>"}});
  // Some writers prefix every element (x:) and give absolute part names.
  for (auto& [name, content] : entries) {
    if (name == "xl/worksheets/sheet2.xml") {
      content = std::string("<?xml version=\"1.0\"?><x:worksheet xmlns:x=\"") + test::kMainNs +
                "\"><x:sheetData><x:row r=\"3\"><x:c r=\"B3\" t=\"inlineStr\"><x:is><x:t>prefixed"
                "</x:t></x:is></x:c></x:row></x:sheetData></x:worksheet>";
    }
    if (name == "xl/_rels/workbook.xml.rels") {
      const auto at = content.find("worksheets/sheet2.xml");
      content.replace(at, std::string("worksheets/sheet2.xml").size(), "/xl/worksheets/sheet2.xml");
    }
  }
  test::write_zip(dir.file("named.xlsx"), entries);
  EXPECT_EQ(xlsx_sheet_names(dir.file("named.xlsx")), cells({"first", "label"}));
  EXPECT_EQ(read_xlsx(dir.file("named.xlsx")).rows.at(0).cells, cells({"1"}));
  const auto label = read_xlsx(dir.file("named.xlsx"), "label");
  EXPECT_EQ(label.name, "label");
  ASSERT_EQ(label.rows.size(), 1u);
  EXPECT_EQ(label.rows[0].row, 3);
  EXPECT_EQ(label.rows[0].cells, cells({"", "prefixed"}));
  // Case-insensitive when no exact match.
  EXPECT_EQ(read_xlsx(dir.file("named.xlsx"), "LABEL").name, "label");
}

TEST(Xlsx, ClearErrors) {
  TempDir dir;
  expect_data_error([&] { read_xlsx(dir.file("absent.xlsx")); }, {"absent.xlsx", "no such file"});
  test::write_text(dir.file("text.xlsx"), "Subject,Filename\n01,EP02_01f\n");
  expect_data_error([&] { read_xlsx(dir.file("text.xlsx")); }, {"text.xlsx", "not a zip archive"});
  test::write_zip(dir.file("nobook.xlsx"), {{"hello.txt", "hi"}});
  expect_data_error([&] { read_xlsx(dir.file("nobook.xlsx")); },
                    {"nobook.xlsx", "xl/workbook.xml"});
  test::write_zip(dir.file("two.xlsx"), test::xlsx_entries({{"a", ""}, {"b c", ""}}));
  expect_data_error([&] { read_xlsx(dir.file("two.xlsx"), "label"); },
                    {"two.xlsx", "no worksheet named 'label'", "'a', 'b c'"});
  test::write_zip(
      dir.file("sst.xlsx"),
      test::xlsx_entries({{"s", "<row r=\"7\"><c r=\"B7\" t=\"s\"><v>5</v></c></row>"}}, {"x"}));
  expect_data_error([&] { read_xlsx(dir.file("sst.xlsx")); },
                    {"sst.xlsx", "cell B7", "shared string '5'"});
  test::write_zip(dir.file("bad.xlsx"),
                  test::xlsx_entries({{"s", "<row r=\"1\"><c r=\"A1\"></row>"}}));
  expect_data_error([&] { read_xlsx(dir.file("bad.xlsx")); },
                    {"bad.xlsx", "sheet1.xml", "malformed XML"});
  test::write_zip(dir.file("ref.xlsx"),
                  test::xlsx_entries({{"s", "<row r=\"1\"><c r=\"1A\"><v>1</v></c></row>"}}));
  expect_data_error([&] { read_xlsx(dir.file("ref.xlsx")); }, {"ref.xlsx", "cell reference '1A'"});
}

TEST(Xlsx, RealDataCasme2Coding2014) {
  MER_REQUIRE_SHARED("annotations/CASME2-coding-20140508.xlsx");
  const auto path = test::shared("annotations/CASME2-coding-20140508.xlsx");
  EXPECT_EQ(xlsx_sheet_names(path), cells({"Sheet1", "Sheet2", "Sheet3"}));
  const auto sheet = read_xlsx(path);
  ASSERT_EQ(sheet.rows.size(), 256u);  // header + 255 clips
  EXPECT_EQ(sheet.rows[0].cells, cells({"Subject", "Filename", "OnsetFrame", "ApexFrame",
                                        "OffsetFrame", "Action Units", "Estimated Emotion"}));
  EXPECT_EQ(sheet.rows[1].cells, cells({"01", "EP02_01f", "46", "59", "86", "12", "happiness"}));
}

TEST(Xlsx, RealDataCasme2Coding2019NumbersAndEmptyHeaderCells) {
  MER_REQUIRE_SHARED("casme2/CASME2-coding-20190701.xlsx");
  const auto sheet = read_xlsx(test::shared("casme2/CASME2-coding-20190701.xlsx"));
  ASSERT_EQ(sheet.rows.size(), 256u);
  // C1 and G1 are empty cells of the header; frame numbers are stored as numbers.
  EXPECT_EQ(sheet.rows[0].cells[2], "");
  EXPECT_EQ(sheet.rows[0].cells[9], "Objective Classes");
  EXPECT_EQ(sheet.rows[1].cells,
            cells({"01", "EP02_01f", "", "46", "59", "86", "", "12", "happiness", "1"}));
}

TEST(Xlsx, RealDataSammNotesAboveHeader) {
  MER_REQUIRE_SHARED("annotations/SAMM_Micro_FACS_Codes_v2.xlsx");
  const auto path = test::shared("annotations/SAMM_Micro_FACS_Codes_v2.xlsx");
  EXPECT_EQ(xlsx_sheet_names(path), cells({"MICRO_ONLY"}));
  const auto sheet = read_xlsx(path);
  const XlsxRow* header = nullptr;
  for (const auto& r : sheet.rows) {
    if (r.row == 14) header = &r;
  }
  ASSERT_NE(header, nullptr);
  EXPECT_EQ(header->cells.at(0), "Subject");
  EXPECT_EQ(header->cells.at(10), "Objective Classes");
  EXPECT_EQ(sheet.rows.front().cells.at(0), "SAMM Dataset - Master FACS Codes");
  EXPECT_EQ(sheet.rows.back().row, 173);
}

TEST(Xlsx, RealDataCasme3SheetsInWorkbookOrder) {
  MER_REQUIRE_SHARED("annotations/CASME3_partA_ME_label_JpgIndex_v2.xlsx");
  const auto path = test::shared("annotations/CASME3_partA_ME_label_JpgIndex_v2.xlsx");
  EXPECT_EQ(xlsx_sheet_names(path), cells({"label", "Sheet1", "Sheet3"}));
  const auto sheet = read_xlsx(path, "label");
  ASSERT_EQ(sheet.rows.size(), 861u);
  EXPECT_EQ(sheet.rows[1].cells, cells({"spNO.1", "a", "355", "359", "360", "5", "II", "others"}));
}

}  // namespace mer::data

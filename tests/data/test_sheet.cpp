#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "mer/data/sheet.h"
#include "data/sheet_fixtures.h"

namespace mer::data {
namespace {

using test::TempDir;

std::vector<ColumnSpec> clip_columns() {
  return {{"subject", {"Subject"}, true},
          {"onset", {"OnsetFrame", "Onset Frame"}, true},
          {"notes", {"Notes"}, false}};
}

}  // namespace

TEST(Sheet, NormalizeHeaderAndTrim) {
  EXPECT_EQ(normalize_header("Onset Frame"), "onsetframe");
  EXPECT_EQ(normalize_header(" onset_frame "), "onsetframe");
  EXPECT_EQ(normalize_header("OnsetFrame"), "onsetframe");
  EXPECT_EQ(normalize_header("Objective class"), "objectiveclass");
  EXPECT_EQ(trim("  12+15 \t"), "12+15");
  EXPECT_EQ(trim("\xC2\xA0"
                 "x"
                 "\xC2\xA0"),
            "x");
  EXPECT_EQ(trim("   "), "");
}

TEST(Sheet, CsvAndXlsxReadAlike) {
  TempDir dir;
  test::write_text(dir.file("a.csv"), "\xEF\xBB\xBFSubject,Onset Frame\r\n01,46\r\n");
  test::write_simple_xlsx(dir.file("a.xlsx"), {{"Subject", "Onset Frame"}, {"01", "46"}});
  for (const auto& name : {"a.csv", "a.xlsx"}) {
    const Table t(read_sheet(dir.file(name)), clip_columns());
    EXPECT_EQ(t.header_row(), 1) << name;
    ASSERT_EQ(t.rows().size(), 1u) << name;
    EXPECT_EQ(t.rows()[0].row, 2) << name;
    EXPECT_EQ(t.get(t.rows()[0], "subject"), "01") << name;
    EXPECT_EQ(t.get(t.rows()[0], "onset"), "46") << name;
    EXPECT_FALSE(t.has("notes"));
    EXPECT_EQ(t.get(t.rows()[0], "notes"), "");
  }
}

TEST(Sheet, HeaderBelowNotesAndBlankRowsDropped) {
  TempDir dir;
  test::write_simple_xlsx(dir.file("notes.xlsx"), {{"Dataset - Master Codes"},
                                                   {""},
                                                   {"Symbol Key:", "Subject means the person"},
                                                   {"", "Subject", "Onset Frame", "Notes"},
                                                   {"", "006", " 5562 ", "Blinks"},
                                                   {"", "", "", ""},
                                                   {"", "007"}});
  const Table t(read_sheet(dir.file("notes.xlsx")), clip_columns());
  EXPECT_EQ(t.header_row(), 4);
  ASSERT_EQ(t.rows().size(), 2u);
  EXPECT_EQ(t.get(t.rows()[0], "onset"), "5562");
  EXPECT_EQ(t.get(t.rows()[0], "notes"), "Blinks");
  EXPECT_EQ(t.rows()[1].row, 7);
  EXPECT_EQ(t.get(t.rows()[1], "onset"), "");  // short row
  EXPECT_EQ(t.where(t.rows()[1]), dir.file("notes.xlsx") + ":7");
}

TEST(Sheet, MissingHeaderNamesTheExpectedColumns) {
  TempDir dir;
  test::write_text(dir.file("b.csv"), "Subject,Start\n01,46\n");
  try {
    Table(read_sheet(dir.file("b.csv")), clip_columns());
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("b.csv"), std::string::npos) << m;
    EXPECT_NE(m.find("'OnsetFrame' or 'Onset Frame'"), std::string::npos) << m;
    EXPECT_EQ(m.find("Notes"), std::string::npos) << "optional columns are not required: " << m;
  }
}

TEST(Sheet, FileErrors) {
  TempDir dir;
  EXPECT_THROW(read_sheet(dir.file("none.csv")), DataError);
  EXPECT_THROW(read_sheet(dir.file("none.xlsx")), DataError);
  test::write_text(dir.file("c.txt"), "x");
  EXPECT_THROW(read_sheet(dir.file("c.txt")), DataError);
  test::write_text(dir.file("d.csv"), "x\n");
  EXPECT_THROW(read_sheet(dir.file("d.csv"), "Sheet1"), DataError);
  // A named xlsx sheet shows in the source.
  test::write_simple_xlsx(dir.file("e.xlsx"), {{"Subject"}}, "label");
  EXPECT_EQ(read_sheet(dir.file("e.xlsx"), "label").source, dir.file("e.xlsx") + " [label]");
  EXPECT_EQ(read_sheet(dir.file("e.xlsx")).source, dir.file("e.xlsx"));
}

TEST(Sheet, UndeclaredKeyIsAProgrammingError) {
  TempDir dir;
  test::write_text(dir.file("f.csv"), "Subject,OnsetFrame\n01,46\n");
  const Table t(read_sheet(dir.file("f.csv")), clip_columns());
  EXPECT_THROW(t.get(t.rows()[0], "apex"), Error);
}

}  // namespace mer::data

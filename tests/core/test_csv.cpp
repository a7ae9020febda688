#include <gtest/gtest.h>

#include "mer/core/csv.h"
#include "mer/core/error.h"

namespace mer::csv {

TEST(Csv, ParsesQuotedFieldsAndLineNumbers) {
  const auto rows = parse("a,b,c\n1,\"x, y\",\"he said \"\"hi\"\"\"\r\n\n2,\"multi\nline\",z\n", "t");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"1", "x, y", "he said \"hi\""}));
  EXPECT_EQ(rows[1].line, 2);
  EXPECT_EQ(rows[2].line, 4);
  EXPECT_EQ(rows[2].fields[1], "multi\nline");
}

TEST(Csv, KeepsEmptyFields) {
  const auto rows = parse("a,,c\n,,\n", "t");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"a", "", "c"}));
  EXPECT_EQ(rows[1].fields.size(), 3u);
}

TEST(Csv, UnterminatedQuoteNamesSourceAndLine) {
  try {
    parse("a,b\n1,\"oops\n", "labels.csv");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("labels.csv:2"), std::string::npos) << e.what();
  }
}

TEST(Csv, EscapeRoundTrips) {
  const std::vector<std::string> fields = {"plain", "with,comma", "with\"quote", "new\nline"};
  const auto rows = parse(join(fields) + "\n", "t");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].fields, fields);
}

TEST(Csv, MissingFileIsDataErrorNamingPath) {
  try {
    read_file("/nonexistent/labels.csv");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/labels.csv"), std::string::npos);
  }
}

}  // namespace mer::csv

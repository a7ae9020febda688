#include <gtest/gtest.h>

#include "mer/data/action_units.h"

namespace mer::data {
namespace {

std::vector<int> numbers(const std::string& text, ActionUnitOptions options = {}) {
  return parse_action_units(text, options).numbers;
}

}  // namespace

TEST(ActionUnits, ListOrderAndIndex) {
  EXPECT_EQ(kActionUnitList.size(), 21u);
  EXPECT_EQ(action_unit_index(1), 0);
  EXPECT_EQ(action_unit_index(12), 8);
  EXPECT_EQ(action_unit_index(45), 20);
  EXPECT_EQ(action_unit_index(3), -1);
  EXPECT_EQ(action_unit_index(43), -1);
  for (int k = 1; k < kNumActionUnits; ++k) EXPECT_LT(kActionUnitList[k - 1], kActionUnitList[k]);
}

TEST(ActionUnits, PlainCombinations) {
  EXPECT_EQ(numbers("12"), (std::vector<int>{12}));
  EXPECT_EQ(numbers("1+2"), (std::vector<int>{1, 2}));
  EXPECT_EQ(numbers("1+2+25+26"), (std::vector<int>{1, 2, 25, 26}));
  EXPECT_EQ(numbers("6+12+25"), (std::vector<int>{6, 12, 25}));
  EXPECT_EQ(numbers("12+15"), (std::vector<int>{12, 15}));
  EXPECT_EQ(numbers("45"), (std::vector<int>{45}));
  // Sorted and distinct whatever the order in the sheet.
  EXPECT_EQ(numbers("4+7+6"), (std::vector<int>{4, 6, 7}));
  EXPECT_EQ(numbers("4+4"), (std::vector<int>{4}));
}

TEST(ActionUnits, VectorFollowsTheList) {
  const auto a = parse_action_units("1+2+25+26+45");
  float sum = 0;
  for (const float v : a.vector) sum += v;
  EXPECT_EQ(sum, 5.0f);
  EXPECT_EQ(a.vector[0], 1.0f);   // AU1
  EXPECT_EQ(a.vector[1], 1.0f);   // AU2
  EXPECT_EQ(a.vector[17], 1.0f);  // AU25
  EXPECT_EQ(a.vector[18], 1.0f);  // AU26
  EXPECT_EQ(a.vector[20], 1.0f);  // AU45
  EXPECT_EQ(a.to_string(), "1+2+25+26+45");
  EXPECT_FALSE(a.uncertain);
  EXPECT_TRUE(a.unknown.empty());
  EXPECT_TRUE(a.unparsed.empty());
}

// The bits the AU-fusion model (cva-fpf, au=oracle) receives for a sheet string: `mer
// prepare` writes this vector as the au1..au45 columns, read back into Dataset::aus.
TEST(ActionUnits, ModelInputBitsOfASheetString) {
  const auto bits = [](const std::string& text) {
    std::vector<int> on;
    const auto a = parse_action_units(text);
    for (int i = 0; i < kNumActionUnits; ++i) {
      if (a.vector[i] == 1.0f) on.push_back(i);
      else EXPECT_EQ(a.vector[i], 0.0f);
    }
    return on;
  };
  EXPECT_EQ(bits("AU1+2+R4"), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(bits("L12+R14A"), (std::vector<int>{8, 9}));
  EXPECT_EQ(bits("4+7+43"), (std::vector<int>{2, 5}));  // AU43 is not in the 21
  EXPECT_EQ(bits(""), (std::vector<int>{}));
}

TEST(ActionUnits, SidesIntensitiesAndPrefixes) {
  const auto a = parse_action_units("R12+L4");
  EXPECT_EQ(a.numbers, (std::vector<int>{4, 12}));
  ASSERT_EQ(a.codes.size(), 2u);
  EXPECT_EQ(a.codes[0].au, 12);
  EXPECT_EQ(a.codes[0].side, 'R');
  EXPECT_EQ(a.codes[1].side, 'L');

  const auto b = parse_action_units("R14A");
  ASSERT_EQ(b.codes.size(), 1u);
  EXPECT_EQ(b.codes[0].au, 14);
  EXPECT_EQ(b.codes[0].side, 'R');
  EXPECT_EQ(b.codes[0].intensity, 'A');

  EXPECT_EQ(numbers("L10"), (std::vector<int>{10}));
  EXPECT_EQ(numbers("AU1+AU2"), (std::vector<int>{1, 2}));
  EXPECT_EQ(numbers("AU4+AU7"), (std::vector<int>{4, 7}));
  EXPECT_EQ(numbers("au 12"), (std::vector<int>{12}));
  EXPECT_EQ(numbers("B18+25"), (std::vector<int>{18, 25}));  // SAMM
  EXPECT_EQ(numbers("T23"), (std::vector<int>{23}));         // SAMM, CAS(ME)^3
  EXPECT_EQ(numbers("U14"), (std::vector<int>{14}));

  // "A12" is asymmetric AU12; "12A" is AU12 at intensity A.
  const auto c = parse_action_units("A12+12A");
  ASSERT_EQ(c.codes.size(), 2u);
  EXPECT_EQ(c.codes[0].side, 'A');
  EXPECT_EQ(c.codes[0].intensity, 0);
  EXPECT_EQ(c.codes[1].side, 0);
  EXPECT_EQ(c.codes[1].intensity, 'A');

  // MMEW writes the side after the number.
  const auto d = parse_action_units("12L+4R+10R");
  EXPECT_EQ(d.numbers, (std::vector<int>{4, 10, 12}));
  EXPECT_EQ(d.codes[0].side, 'L');
  EXPECT_EQ(d.codes[1].side, 'R');

  // SAMM's intensity and side alternatives: one code each, not uncertain.
  const auto e = parse_action_units("10A/B");
  EXPECT_EQ(e.numbers, (std::vector<int>{10}));
  EXPECT_EQ(e.codes[0].intensity, 'A');
  EXPECT_FALSE(e.uncertain);
  EXPECT_TRUE(e.unparsed.empty());
  const auto f = parse_action_units("A/L12");
  EXPECT_EQ(f.numbers, (std::vector<int>{12}));
  EXPECT_FALSE(f.uncertain);
  EXPECT_EQ(numbers("1A+2B+L14C"), (std::vector<int>{1, 2, 14}));
  EXPECT_EQ(numbers("A1B+A2C"), (std::vector<int>{1, 2}));
}

TEST(ActionUnits, SeparatorsAndExcelNumbers) {
  EXPECT_EQ(numbers("1, 2"), (std::vector<int>{1, 2}));
  EXPECT_EQ(numbers("1 2 4"), (std::vector<int>{1, 2, 4}));
  EXPECT_EQ(numbers("1;2&4 and 5"), (std::vector<int>{1, 2, 4, 5}));
  EXPECT_EQ(numbers(" 12+15 "), (std::vector<int>{12, 15}));
  EXPECT_EQ(numbers("12 + 15"), (std::vector<int>{12, 15}));
  EXPECT_EQ(numbers("12.0"), (std::vector<int>{12}));
  EXPECT_EQ(numbers("4.000+7.0"), (std::vector<int>{4, 7}));
  const auto a = parse_action_units("12.5");
  EXPECT_TRUE(a.numbers.empty());
  EXPECT_EQ(a.unparsed, (std::vector<std::string>{"12.5"}));
}

TEST(ActionUnits, BlankAndQuestionMark) {
  const auto blank = parse_action_units("");
  EXPECT_TRUE(blank.numbers.empty());
  EXPECT_TRUE(blank.codes.empty());
  EXPECT_FALSE(blank.uncertain);
  EXPECT_EQ(parse_action_units("   ").numbers.size(), 0u);

  const auto q = parse_action_units("?");
  EXPECT_TRUE(q.numbers.empty());
  EXPECT_TRUE(q.uncertain);
  EXPECT_TRUE(q.unparsed.empty());
  for (const float v : q.vector) EXPECT_EQ(v, 0.0f);
}

TEST(ActionUnits, UncertainCodes) {
  const auto a = parse_action_units("4(?)");
  EXPECT_EQ(a.numbers, (std::vector<int>{4}));
  EXPECT_TRUE(a.uncertain);
  EXPECT_TRUE(a.codes[0].uncertain);
  EXPECT_TRUE(a.unparsed.empty());
  ActionUnitOptions strict;
  strict.include_uncertain = false;
  EXPECT_TRUE(numbers("4(?)", strict).empty());
  EXPECT_EQ(numbers("4?+7", strict), (std::vector<int>{7}));

  // Alternatives: each one, marked uncertain; what follows is certain.
  const auto b = parse_action_units("(R6 or R12)+R15");
  EXPECT_EQ(b.numbers, (std::vector<int>{6, 12, 15}));
  EXPECT_EQ(numbers("(R6 or R12)+R15", strict), (std::vector<int>{15}));
  EXPECT_EQ(numbers("R14A or 17A or 24A", strict), (std::vector<int>{}));
  EXPECT_EQ(numbers("R14A or 17A or 24A"), (std::vector<int>{14, 17, 24}));
  EXPECT_EQ(numbers("12/14", strict), (std::vector<int>{}));
  EXPECT_EQ(numbers("L12 or L14"), (std::vector<int>{12, 14}));

  // SAMM's ref(...): kept, uncertain.
  const auto c = parse_action_units("ref(7B)+43C");
  EXPECT_EQ(c.numbers, (std::vector<int>{7, 43}));
  EXPECT_TRUE(c.codes[0].uncertain);
  EXPECT_FALSE(c.codes[1].uncertain);
  EXPECT_EQ(numbers("ref(5)+20C+25+26", strict), (std::vector<int>{20, 25, 26}));
  EXPECT_EQ(numbers("12A+ref(24)", strict), (std::vector<int>{12}));
}

TEST(ActionUnits, UnknownAusAndText) {
  const auto a = parse_action_units("4+7+43");
  EXPECT_EQ(a.numbers, (std::vector<int>{4, 7, 43}));
  EXPECT_EQ(a.unknown, (std::vector<int>{43}));
  EXPECT_EQ(a.vector[action_unit_index(4)], 1.0f);
  float sum = 0;
  for (const float v : a.vector) sum += v;
  EXPECT_EQ(sum, 2.0f);

  EXPECT_EQ(parse_action_units("L2+26+38").unknown, (std::vector<int>{38}));
  EXPECT_EQ(parse_action_units("L12 + 61").unknown, (std::vector<int>{61}));

  const auto b = parse_action_units("R14+17+soft focus");
  EXPECT_EQ(b.numbers, (std::vector<int>{14, 17}));
  EXPECT_EQ(b.unparsed, (std::vector<std::string>{"soft focus"}));

  const auto c = parse_action_units("0+100+x-y");
  EXPECT_TRUE(c.numbers.empty());
  EXPECT_EQ(c.unparsed, (std::vector<std::string>{"0", "100", "x-y"}));
}

}  // namespace mer::data

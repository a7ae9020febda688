#pragma once
// Action Unit (FACS) strings of the annotation sheets ("4+7", "R12", "L1+L2", "4(?)",
// "AU1+AU2", "(R6 or R12)+R15", "10A/B", "ref(7B)+43", "12L") parsed into the 21-element AU
// vector of the AU-assisted models (methods.md, CVA + FPF + AU) and the list of AU numbers.
//
// Rules (each one seen in a real sheet: CASME II, SAMM, CAS(ME)^3, MMEW):
//   - Codes are separated by '+', ',', ';', '&', the word "and" or white space.
//   - A code is [AU][side]<number>[intensity][/intensity][side]: "AU4", "L12", "R14A", "7B",
//     "A12" (asymmetric), "T23" / "B28" (top / bottom lip), "U14", "A/L12" (either side),
//     "10A/B" (intensity A or B), "12L" / "4R" (side written after, as in MMEW). Sides are
//     L, R, B, T, U, A; intensities A..E (FACS). Upper or lower case.
//   - A number Excel stored as "12.0" (any ".0...") is the integer 12; AU numbers are 1..99.
//   - Uncertain codes: followed by "?" or "(?)" ("4(?)"); alternatives joined by "or" or "/"
//     ("L12 or L14", "12/14": each alternative); inside "ref(...)" (SAMM; the sheet does not
//     define it; read as a weak or referred movement). A "?" with no code before it ("?"
//     alone: CASME II's "unknown AU") makes the result uncertain without adding a code.
//     Uncertain codes count like the others unless ActionUnitOptions::include_uncertain is
//     false.
//   - AU numbers outside the 21-AU list (e.g. 38, 43, 61) are not in the vector and are
//     reported in `unknown`; any other text ("soft focus", "12.5") in `unparsed`. Neither
//     is an error: the sheets are hand-typed.
//   - Blank text gives an empty result (no AU, not uncertain).
#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace mer::data {

inline constexpr int kNumActionUnits = 21;

// The AUs of the AU vector, in its order.
inline constexpr std::array<int, kNumActionUnits> kActionUnitList = {
    1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 18, 20, 23, 24, 25, 26, 28, 45};

// Index of `au` in kActionUnitList, -1 when it is not there.
int action_unit_index(int au);

struct ActionUnitCode {
  int au = 0;
  char side = 0;       // 'L', 'R', 'B', 'T', 'U', 'A' or 0 when not given
  char intensity = 0;  // 'A'..'E' or 0 when not given
  bool uncertain = false;
};

struct ActionUnits {
  std::string text;                             // the string parsed, as given
  std::vector<ActionUnitCode> codes;            // every code read, in reading order (uncertain too)
  std::vector<int> numbers;                     // distinct AU numbers counted, ascending
  std::vector<int> unknown;                     // those of `numbers` outside kActionUnitList
  std::vector<std::string> unparsed;            // text fragments that are no AU code
  std::array<float, kNumActionUnits> vector{};  // 1 for each listed AU counted, else 0
  bool uncertain = false;                       // the text marks something as uncertain

  bool has(int au) const;
  // The counted AU numbers joined by '+' ("1+2+12"); "" when there is none.
  std::string to_string() const;
};

struct ActionUnitOptions {
  // Whether uncertain codes ("4(?)", alternatives, ref(...)) count in numbers and vector.
  bool include_uncertain = true;
};

// Never throws: what it cannot read ends up in `unparsed`.
ActionUnits parse_action_units(std::string_view text, const ActionUnitOptions& options = {});

}  // namespace mer::data

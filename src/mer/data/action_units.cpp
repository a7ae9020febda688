#include "mer/data/action_units.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace mer::data {
namespace {

enum class Kind { kCode, kSeparator, kOr, kQuestion, kOpen, kClose, kRef, kWord };

struct Token {
  explicit Token(Kind k, std::string t = {}) : kind(k), text(std::move(t)) {}
  Kind kind;
  std::string text;     // for kWord
  size_t code = 0;      // index into codes, for kCode
  bool spaced = false;  // white space before it (joins words into one fragment)
};

char upper(char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_side(char c) {
  const char u = upper(c);
  return u == 'L' || u == 'R' || u == 'B' || u == 'T' || u == 'U' || u == 'A';
}
bool is_intensity(char c) {
  const char u = upper(c);
  return u >= 'A' && u <= 'E';
}

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  void run(std::vector<Token>& tokens, std::vector<ActionUnitCode>& codes) {
    bool spaced = false;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        spaced = true;
        ++i_;
        continue;
      }
      Token t(Kind::kSeparator);
      if (c == '+' || c == ',' || c == ';' || c == '&') {
        ++i_;
      } else if (c == '/') {
        t.kind = Kind::kOr;
        ++i_;
      } else if (c == '?') {
        t.kind = Kind::kQuestion;
        ++i_;
      } else if (c == '(' || c == '[') {
        t.kind = Kind::kOpen;
        ++i_;
      } else if (c == ')' || c == ']') {
        t.kind = Kind::kClose;
        ++i_;
      } else if (is_alpha(c) || is_digit(c)) {
        ActionUnitCode code;
        std::string fragment;
        if (read_code(code, fragment)) {
          t.kind = Kind::kCode;
          t.code = codes.size();
          codes.push_back(code);
        } else {
          t = word(fragment);
        }
      } else {
        // Punctuation that means nothing here ('-', '*', '.'): kept as unparsed text.
        t = Token(Kind::kWord, std::string(1, c));
        ++i_;
      }
      t.spaced = spaced;
      spaced = false;
      tokens.push_back(std::move(t));
    }
  }

 private:
  static Token word(const std::string& text) {
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "or") return Token(Kind::kOr);
    if (lower == "and") return Token(Kind::kSeparator);
    if (lower == "ref") return Token(Kind::kRef);
    return Token(Kind::kWord, text);
  }

  char at(size_t k) const { return k < s_.size() ? s_[k] : '\0'; }

  // Reads one code at i_, or (returning false) the letters/digits run there as a word.
  bool read_code(ActionUnitCode& code, std::string& fragment) {
    size_t p = i_;
    // "AU" prefix, possibly followed by spaces: "AU12", "AU 12", "AUL12".
    if (upper(at(p)) == 'A' && upper(at(p + 1)) == 'U') {
      size_t q = p + 2;
      while (at(q) == ' ') ++q;
      if (is_digit(at(q)) || (is_side(at(q)) && is_digit(at(q + 1)))) p = q;
    }
    if (is_side(at(p))) {
      if (is_digit(at(p + 1))) {
        code.side = upper(at(p));
        p += 1;
      } else if (at(p + 1) == '/' && is_side(at(p + 2)) && is_digit(at(p + 3))) {
        code.side = upper(at(p));  // "A/L12": either side; the first is kept
        p += 3;
      }
    }
    if (!is_digit(at(p))) {
      size_t q = i_;
      while (q < s_.size() && (is_alpha(s_[q]) || is_digit(s_[q]))) ++q;
      fragment = std::string(s_.substr(i_, q - i_));
      i_ = q;
      return false;
    }
    int number = 0;
    size_t digits = 0;
    while (is_digit(at(p))) {
      if (number < 1000) number = number * 10 + (at(p) - '0');
      ++p;
      ++digits;
    }
    // Excel's "12.0": a decimal point followed by zeros only.
    if (at(p) == '.' && is_digit(at(p + 1))) {
      size_t q = p + 1;
      bool zeros = true;
      while (is_digit(at(q))) zeros = zeros && at(q++) == '0';
      if (!zeros) {
        fragment = std::string(s_.substr(i_, q - i_));
        i_ = q;
        return false;
      }
      p = q;
    }
    if (number < 1 || number > 99) {
      fragment = std::string(s_.substr(i_, p - i_));
      i_ = p;
      return false;
    }
    code.au = number;
    // Intensity letter, not the start of a word ("12and" is 12 then "and").
    auto single_letter = [&](size_t k) { return !is_alpha(at(k + 1)) || is_side_suffix(k + 1); };
    if (is_intensity(at(p)) && single_letter(p)) {
      code.intensity = upper(at(p));
      p += 1;
      if (at(p) == '/' && is_intensity(at(p + 1)) && !is_alpha(at(p + 2))) p += 2;  // "10A/B"
    }
    if (is_side_suffix(p)) {
      if (code.side == 0) code.side = upper(at(p));
      p += 1;
    }
    i_ = p;
    return true;
  }

  // "12L", "4R": a side letter right after the code, itself not the start of a word.
  bool is_side_suffix(size_t k) const {
    const char u = upper(at(k));
    return (u == 'L' || u == 'R') && !is_alpha(at(k + 1));
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

int action_unit_index(int au) {
  for (int k = 0; k < kNumActionUnits; ++k) {
    if (kActionUnitList[k] == au) return k;
  }
  return -1;
}

bool ActionUnits::has(int au) const {
  return std::binary_search(numbers.begin(), numbers.end(), au);
}

std::string ActionUnits::to_string() const {
  std::string out;
  for (const int n : numbers) out += (out.empty() ? "" : "+") + std::to_string(n);
  return out;
}

ActionUnits parse_action_units(std::string_view text, const ActionUnitOptions& options) {
  ActionUnits result;
  result.text = std::string(text);
  std::vector<Token> tokens;
  Scanner(text).run(tokens, result.codes);

  // Previous / next code around position k, looking through brackets only: "(R6 or R12)".
  auto code_before = [&](size_t k) -> long {
    while (k > 0) {
      const auto& t = tokens[--k];
      if (t.kind == Kind::kCode) return static_cast<long>(t.code);
      if (t.kind != Kind::kOpen && t.kind != Kind::kClose) return -1;
    }
    return -1;
  };
  auto code_after = [&](size_t k) -> long {
    while (++k < tokens.size()) {
      const auto& t = tokens[k];
      if (t.kind == Kind::kCode) return static_cast<long>(t.code);
      if (t.kind != Kind::kOpen && t.kind != Kind::kClose) return -1;
    }
    return -1;
  };

  std::vector<bool> bracket_is_ref;  // open brackets, innermost last
  bool previous_was_word = false;
  for (size_t k = 0; k < tokens.size(); ++k) {
    const auto& t = tokens[k];
    switch (t.kind) {
      case Kind::kCode:
        if (std::find(bracket_is_ref.begin(), bracket_is_ref.end(), true) != bracket_is_ref.end()) {
          result.codes[t.code].uncertain = true;
        }
        break;
      case Kind::kOpen:
        bracket_is_ref.push_back(k > 0 && tokens[k - 1].kind == Kind::kRef);
        break;
      case Kind::kClose:
        if (!bracket_is_ref.empty()) bracket_is_ref.pop_back();
        break;
      case Kind::kQuestion: {
        const long before = code_before(k);
        if (before >= 0) {
          result.codes[before].uncertain = true;
        }
        result.uncertain = true;
        break;
      }
      case Kind::kOr: {
        const long before = code_before(k);
        const long after = code_after(k);
        if (before >= 0) result.codes[before].uncertain = true;
        if (after >= 0) result.codes[after].uncertain = true;
        break;
      }
      case Kind::kWord:
        // Neighbouring words are one fragment ("soft focus"), glued punctuation too ("-").
        if (previous_was_word) {
          result.unparsed.back() += (t.spaced ? " " : "") + t.text;
        } else {
          result.unparsed.push_back(t.text);
        }
        break;
      case Kind::kRef:
      case Kind::kSeparator:
        break;
    }
    previous_was_word = t.kind == Kind::kWord;
  }

  for (const auto& code : result.codes) {
    result.uncertain = result.uncertain || code.uncertain;
    if (code.uncertain && !options.include_uncertain) continue;
    result.numbers.push_back(code.au);
  }
  std::sort(result.numbers.begin(), result.numbers.end());
  result.numbers.erase(std::unique(result.numbers.begin(), result.numbers.end()),
                       result.numbers.end());
  for (const int au : result.numbers) {
    const int index = action_unit_index(au);
    if (index >= 0) {
      result.vector[index] = 1.0f;
    } else {
      result.unknown.push_back(au);
    }
  }
  return result;
}

}  // namespace mer::data

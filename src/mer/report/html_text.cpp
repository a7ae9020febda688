#include "mer/report/html_text.h"

#include <cctype>
#include <cstdint>
#include <cstdio>

namespace mer::report::html {

using nlohmann::json;

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

std::string num(const json& v, int decimals) {
  if (v.is_null()) return "<td class=\"num\">&ndash;</td>";
  char text[64];
  if (v.is_number_integer() || v.is_number_unsigned()) {
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(v.get<double>()));
  } else {
    std::snprintf(text, sizeof text, "%.*f", decimals, v.get<double>());
  }
  return "<td class=\"num\" data-value=\"" + v.dump() + "\">" + text + "</td>";
}

std::string fixed(double v, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

std::string signed_fixed(double v) { return (v >= 0 ? "+" : "") + fixed(v); }

std::string text_of(const json& v) {
  return v.is_null() ? "" : v.is_string() ? v.get<std::string>() : v.dump();
}

std::string duration(double seconds) {
  char text[64];
  if (seconds < 120) {
    std::snprintf(text, sizeof text, "%.1f s", seconds);
  } else if (seconds < 7200) {
    std::snprintf(text, sizeof text, "%.1f min", seconds / 60);
  } else {
    std::snprintf(text, sizeof text, "%.2f h", seconds / 3600);
  }
  return text;
}

std::string anchor(const std::string& run) {
  std::string out = "run-";
  for (char c : run) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out;
}

std::string canvas(const std::string& kind, const std::string& attributes, int height,
                   const std::string& title) {
  return "<figure class=\"chart\"><figcaption>" + esc(title) +
         "</figcaption><div class=\"chart-box\" style=\"height:" + std::to_string(height) +
         "px\"><canvas data-chart=\"" + kind + "\" " + attributes + "></canvas></div></figure>\n";
}

}  // namespace mer::report::html

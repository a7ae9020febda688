#pragma once
// Building blocks of the report's HTML page (html_report.h): escaping, embedded images, number
// cells that carry the exact value beside the shown decimals, durations, anchors and chart
// canvases that the page's script draws (html_assets.h).
#include <nlohmann/json.hpp>

#include <string>

namespace mer::report::html {

std::string esc(const std::string& s);       // text for HTML content and attribute values
std::string base64(const std::string& bytes);  // for data: URLs of embedded PNGs
// A number cell: `decimals` shown, the exact value (as in summary.json) in data-value; null
// is a dash.
std::string num(const nlohmann::json& v, int decimals = 4);
std::string fixed(double v, int decimals = 4);
std::string signed_fixed(double v);  // a difference: "+0.0123", "-0.0045"
std::string text_of(const nlohmann::json& v);  // a JSON value as plain text ("" for null)
std::string duration(double seconds);          // "12.3 s", "4.5 min", "2.10 h"
std::string anchor(const std::string& run);    // the id of a run's section
// A chart figure: the page's script draws chart `kind` into the canvas, reading `attributes`
// (data-* attributes naming its rows).
std::string canvas(const std::string& kind, const std::string& attributes, int height,
                   const std::string& title);

}  // namespace mer::report::html

#pragma once
// The styles and scripts of the `mer report` page (html_report.h), kept apart from the C++
// that writes the HTML around them. The chart library itself is read from the installed
// Debian package at report time (read_chart_library).

namespace mer::report {

extern const char* const kReportCss;
// Runs first in <head>: collects script errors and console.error calls, so the page can say
// it drew without errors (render-status data-errors).
extern const char* const kErrorCaptureJs;
// Draws every <canvas data-chart=...> from the JSON block "report-data", then fills
// #render-status.
extern const char* const kReportJs;

}  // namespace mer::report

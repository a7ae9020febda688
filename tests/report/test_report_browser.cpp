// The report page in a real browser (Debian's headless Chromium, from
// `scripts/bootstrap.sh --tests`): it loads from disk with no console errors, every chart is
// drawn with data, a screenshot is not blank, and the ORACLE banner is on exactly the oracle
// runs. Skips, saying so, where chromium is absent.
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "report_fixtures.h"

namespace fs = std::filesystem;

namespace {

std::string chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs a shell command; returns its exit code.
int shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string attribute(const std::string& element, const std::string& name) {
  const std::regex re(name + "=\"([^\"]*)\"");
  std::smatch m;
  return std::regex_search(element, m, re) ? m[1].str() : "";
}

}  // namespace

TEST(ReportBrowser, LoadsOfflineDrawsEveryChartAndBannersExactlyTheOracleRuns) {
  const auto browser = chromium();
  if (browser.empty()) {
    GTEST_SKIP() << "chromium is not installed (scripts/bootstrap.sh --tests installs it)";
  }
  std::string error;
  const auto runs = mer::report::testing::small_runs(error);
  ASSERT_TRUE(error.empty()) << error;
  const fs::path dir = fs::path(runs.root) / ("browser-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string args = "report";
  for (const auto& r : runs.all()) args += " " + r;
  const auto page = dir / "report.html";
  const auto made = run_mer_binary(args + " --out " + page.string());
  ASSERT_EQ(made.code, 0) << made.output;

  // A fresh profile per run; the virtual time budget lets the page's script finish.
  const std::string common = browser + " --headless --no-sandbox --disable-gpu --hide-scrollbars "
                             "--no-first-run --user-data-dir=" + (dir / "profile").string() +
                             " --virtual-time-budget=15000 --window-size=1280,2400 ";
  const std::string url = "file://" + fs::absolute(page).string();
  ASSERT_EQ(shell("timeout 120 " + common + "--enable-logging=stderr --v=0 --dump-dom " + url +
                  " > " + (dir / "dom.html").string() + " 2> " + (dir / "stderr.txt").string()),
            0)
      << slurp(dir / "stderr.txt");
  const auto dom = slurp(dir / "dom.html");
  const auto log = slurp(dir / "stderr.txt");

  // No console errors: the page writes nothing to the console, so Chromium (which logs every
  // console message and uncaught exception as "INFO:CONSOLE") logs nothing; and the page's
  // own error capture caught nothing.
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.find(":CONSOLE"), std::string::npos) << line;
  }
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("<div id=\"render-status\"[^>]*>")))
      << "no render status in the page";
  const std::string status = m[0].str();
  EXPECT_EQ(attribute(status, "data-done"), "1") << status;
  EXPECT_EQ(attribute(status, "data-errors"), "0") << status << "\n" << dom.substr(dom.find("render-status"), 2000);

  // Every chart canvas of the written page, drawn with data and pixels.
  const auto html = slurp(page);
  size_t canvases = 0;
  for (size_t at = 0; (at = html.find("<canvas data-chart=", at)) != std::string::npos; ++at) ++canvases;
  // Per run: per-subject bars, and per LOSO run its curves; the comparisons; the occlusion.
  EXPECT_GE(canvases, runs.all().size() + 5);
  EXPECT_EQ(attribute(status, "data-charts"), std::to_string(canvases));
  EXPECT_EQ(attribute(status, "data-drawn"), std::to_string(canvases)) << status;
  const std::regex canvas_re("<canvas [^>]*>");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), canvas_re); it != std::sregex_iterator(); ++it) {
    EXPECT_EQ(attribute(it->str(), "data-drawn"), "1") << it->str();
  }
  for (const char* kind : {"subjects", "curve", "comparison", "paired", "gap", "occlusion"}) {
    EXPECT_NE(dom.find(std::string("data-chart=\"") + kind + "\""), std::string::npos) << kind;
  }
  // Two confusion heat maps per run, each with cells.
  EXPECT_EQ(attribute(status, "data-heatmaps"), std::to_string(2 * runs.all().size()));
  // The explanation figures of FR are embedded.
  EXPECT_NE(dom.find("data:image/png;base64,"), std::string::npos);

  // The ORACLE banner: on exactly the oracle runs.
  std::set<std::string> bannered;
  const std::regex banner_re("<div class=\"oracle-banner\" data-run=\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), banner_re); it != std::sregex_iterator(); ++it) {
    bannered.insert((*it)[1].str());
  }
  EXPECT_EQ(bannered, std::set<std::string>{"st-oracle-s1"});

  // A screenshot that is not blank.
  const auto png = dir / "screenshot.png";
  ASSERT_EQ(shell("timeout 120 " + common + "--screenshot=" + png.string() + " " + url +
                  " > /dev/null 2>&1"),
            0);
  const cv::Mat shot = cv::imread(png.string(), cv::IMREAD_GRAYSCALE);
  ASSERT_FALSE(shot.empty()) << png;
  cv::Scalar mean, sd;
  cv::meanStdDev(shot, mean, sd);
  EXPECT_GT(sd[0] * sd[0], 400.0) << "screenshot looks blank (grey-level variance)";
  fs::remove_all(dir);
}

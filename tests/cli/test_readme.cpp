// The README's commands run as written, so that they cannot drift from what mer does: every
// `build/mer ...` line of its code blocks is run in order in a scratch folder laid out like a
// checkout (build/ and ../shared beside it), with small work substituted where it would take
// long (one epoch, one fold, two inner folds, a model's smoke-check size, a handful of clips).
// Commands that cannot run here are skipped and listed with the reason: placeholders (DIR,
// CKPT, ...), a GPU, the licensed data where it is absent, or an input made by a command that
// was itself skipped.
#include <gtest/gtest.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_runner.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace {

// Commands of the README's code blocks (indented or fenced), continuation lines joined and
// trailing comments removed.
std::vector<std::string> readme_commands(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> commands;
  std::string line, current;
  bool fenced = false, continuing = false;
  const auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    return s;
  };
  const auto strip_comment = [&](std::string s) {
    const auto hash = s.find(" #");
    return trim(hash == std::string::npos ? s : s.substr(0, hash));
  };
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    std::string text = trim(line);
    if (continuing) {
      const bool more = !text.empty() && text.back() == '\\';
      if (more) text.pop_back();
      current += " " + trim(text);
      if (!more) {
        commands.push_back(strip_comment(current));
        continuing = false;
      }
      continue;
    }
    if (!(fenced || line.rfind("    ", 0) == 0)) continue;
    if (text.rfind("build/mer ", 0) != 0) continue;
    if (!text.empty() && text.back() == '\\') {
      text.pop_back();
      current = trim(text);
      continuing = true;
    } else {
      commands.push_back(strip_comment(text));
    }
  }
  return commands;
}

std::vector<std::string> words(const std::string& command) {
  std::istringstream in(command);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string join(const std::vector<std::string>& w) {
  std::string out;
  for (const auto& s : w) out += (out.empty() ? "" : " ") + s;
  return out;
}

// The value of `flag` in the command, or "".
std::string flag_value(const std::vector<std::string>& w, const std::string& flag) {
  for (size_t i = 0; i + 1 < w.size(); ++i) {
    if (w[i] == flag) return w[i + 1];
  }
  return "";
}

// Clips of three CASME II subjects present in ../shared (onset, apex and offset frames).
const char* kFewClips = "sub01/EP02_01f,sub01/EP19_05f,sub02/EP09_01,sub02/EP11_01,sub03/EP01_2,sub03/EP07_04";

// The command with small work substituted, or "" with `why` set when it is not run here.
std::string runnable(const std::string& command, const fs::path& work, bool real_data,
                     std::string& why) {
  static const std::regex placeholder("(^|[ =/])[A-Z][A-Z0-9_]*([ /,]|$)");
  if (std::regex_search(command, placeholder)) return why = "placeholders", "";
  if (command.find("--device cuda") != std::string::npos) return why = "needs a GPU", "";
  if (command.find("../shared/") != std::string::npos && !real_data) {
    return why = "needs the licensed data in ../shared", "";
  }
  auto w = words(command);
  if (w.size() < 2) return why = "no subcommand", "";
  const std::string sub = w[1];
  // Inputs made by earlier commands must exist: flag values and positional paths alike
  // (outputs excepted).
  for (size_t i = 2; i < w.size(); ++i) {
    const std::string& prev = w[i - 1];
    if (prev == "--out" || prev == "--csv" || prev == "--png" || prev == "--out-dir") continue;
    const auto& value = w[i];
    if (value.rfind("runs/", 0) != 0 && value.rfind("data/", 0) != 0) continue;
    if (value.find('*') != std::string::npos) return why = "runs of a benchmark (" + value + ")", "";
    if (!fs::exists(work / value)) return why = value + " was not made by an earlier command run here", "";
  }
  const bool help = command.find("--help") != std::string::npos;
  // A model trained here runs at its smoke-check size (ModelSpec::smoke_options), for the
  // options the command does not set itself.
  const std::string model = flag_value(w, "--model");
  if ((sub == "loso" || sub == "train" || sub == "tune") && !help && !model.empty()) {
    for (const auto& [key, value] : mer::models::find_model(model).smoke_options) {
      if (command.find("--model-opt " + key + "=") == std::string::npos) {
        w.insert(w.end(), {"--model-opt", key + "=" + value});
      }
    }
  }
  if (sub == "loso" && !help) {
    bool epochs = false;
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      if (w[i] == "--epochs") {
        w[i + 1] = "1";
        epochs = true;
      }
    }
    if (!epochs) w.insert(w.end(), {"--epochs", "1"});
    if (flag_value(w, "--folds").empty()) w.insert(w.end(), {"--folds", "1"});
    w.push_back("--quiet");
  }
  if (sub == "tune" && !help) {  // one epoch per candidate (unless epochs are searched)
    bool epochs = command.find("--space epochs=") != std::string::npos;
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      if (w[i] == "--epochs") {
        w[i + 1] = "1";
        epochs = true;
      }
    }
    if (!epochs) w.insert(w.end(), {"--epochs", "1"});
    if (flag_value(w, "--inner-folds").empty()) w.insert(w.end(), {"--inner-folds", "2"});
    w.push_back("--quiet");
  }
  if ((sub == "prepare" || (sub == "occlude" && !flag_value(w, "--root").empty())) &&
      flag_value(w, "--only").empty()) {
    w.insert(w.end(), {"--only", kFewClips});
  }
  if (sub == "prepare" || sub == "occlude") w.push_back("--quiet");
  return join(w);
}

}  // namespace

TEST(Readme, EveryCommandRunsAsWritten) {
  const fs::path readme = fs::path(MER_SOURCE_DIR) / "README.md";
  const auto commands = readme_commands(readme.string());
  ASSERT_GT(commands.size(), 20u) << "no commands found in " << readme;
  // A scratch checkout: build/ is this build, ../shared the data beside the real checkout.
  const fs::path root = fs::temp_directory_path() / ("mer_readme_" + std::to_string(::getpid()));
  fs::remove_all(root);
  const fs::path work = root / "checkout";
  fs::create_directories(work);
  fs::create_symlink(fs::path(MER_BINARY).parent_path(), work / "build");
  const fs::path shared = fs::path(MER_SHARED_DATA).parent_path();
  const bool real_data = fs::is_directory(fs::path(MER_SHARED_DATA) / "megc2019");
  if (real_data) fs::create_symlink(shared, root / "shared");

  int ran = 0;
  std::string skipped;
  for (const auto& command : commands) {
    std::string why;
    const auto line = runnable(command, work, real_data, why);
    if (line.empty()) {
      skipped += "  " + command + "\n    (" + why + ")\n";
      continue;
    }
    const auto r = run_shell_in(work.string(), line);
    ++ran;
    EXPECT_EQ(r.code, 0) << "README command failed:\n  " << command << "\nrun as\n  " << line
                         << "\n" << r.output;
    EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << line;
  }
  std::printf("ran %d README commands; skipped:\n%s", ran, skipped.c_str());
  EXPECT_GE(ran, real_data ? 20 : 4);
  fs::remove_all(root);
}

// mer: command-line interface. Thin: each subcommand (cmd_*.{h,cpp}) parses options into the
// library's option structs, calls the library and prints results; every error becomes one
// line naming the problem and a non-zero exit code (details behind --verbose).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cmd_cache.h"
#include "cmd_ensemble.h"
#include "cmd_evaluate.h"
#include "cmd_export.h"
#include "cmd_import.h"
#include "cmd_loso.h"
#include "cmd_models.h"
#include "cmd_synth.h"
#include "cmd_train.h"
#include "cmd_tune.h"
#include "mer/core/error.h"
#include "mer/core/version.h"
#include "mpi_session.h"
#ifdef MER_WITH_VISION
#include "cmd_explain.h"
#include "cmd_landmarks.h"
#include "cmd_occlude.h"
#include "cmd_predict.h"
#include "cmd_prepare.h"
#include "cmd_report.h"
#endif

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "unknown subcommand 'lso' (did you mean loso?)" for a first word that names no subcommand.
std::string unknown_subcommand(const CLI::App& app, const std::string& word) {
  std::string best;
  size_t best_distance = 3;  // suggest only close names
  std::string names;
  for (const auto* sub : app.get_subcommands({})) {
    const auto& name = sub->get_name();
    names += (names.empty() ? "" : ", ") + name;
    const size_t d = edit_distance(word, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  return "unknown subcommand '" + word + "'" + (best.empty() ? "" : " (did you mean " + best + "?)") +
         "; subcommands: " + names;
}

// The first line of a LibTorch error: its message without the C++ stack trace.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

int main(int argc, char** argv) {
  mer::cli::MpiSession mpi(&argc, &argv);
  CLI::App app{"mer: micro-expression recognition toolkit (version " + std::string(mer::kVersion) +
               ")"};
  app.require_subcommand(1);
  app.fallthrough();  // --verbose also after the subcommand
  app.set_version_flag("--version", std::string(mer::kVersion));
  bool verbose = false;
  app.add_flag("--verbose", verbose,
               "on errors, also print internal details (check expressions, source locations, "
               "LibTorch's messages in full)");

  std::vector<std::unique_ptr<mer::cli::Command>> commands;
  commands.push_back(std::make_unique<mer::cli::ModelsCommand>(app));
  commands.push_back(std::make_unique<mer::cli::SynthCommand>(app));
  commands.push_back(std::make_unique<mer::cli::LosoCommand>(app, mpi));
  commands.push_back(std::make_unique<mer::cli::TrainCommand>(app));
  commands.push_back(std::make_unique<mer::cli::CacheCommand>(app));
  commands.push_back(std::make_unique<mer::cli::EvaluateCommand>(app));
  commands.push_back(std::make_unique<mer::cli::ExportCommand>(app));
  commands.push_back(std::make_unique<mer::cli::ImportCommand>(app));
  commands.push_back(std::make_unique<mer::cli::EnsembleCommand>(app));
  commands.push_back(std::make_unique<mer::cli::TuneCommand>(app));
#ifdef MER_WITH_VISION
  commands.push_back(std::make_unique<mer::cli::ExplainCommand>(app));
  commands.push_back(std::make_unique<mer::cli::LandmarksCommand>(app));
  commands.push_back(std::make_unique<mer::cli::PrepareCommand>(app));
  commands.push_back(std::make_unique<mer::cli::PredictCommand>(app));
  commands.push_back(std::make_unique<mer::cli::OccludeCommand>(app));
  commands.push_back(std::make_unique<mer::cli::ReportCommand>(app));
#endif

  if (argc == 1) {  // no subcommand: show what there is
    std::cout << app.help();
    return 2;
  }
  const auto names_subcommand = [&](const std::string& word) {
    for (const auto* sub : app.get_subcommands({})) {
      if (sub->check_name(word)) return true;
    }
    return false;
  };
  if (argv[1][0] != '-' && !names_subcommand(argv[1])) {
    std::fprintf(stderr, "mer: error: %s\n", unknown_subcommand(app, argv[1]).c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (const auto& command : commands) {
      if (command->parsed()) return command->run();
    }
  } catch (const mer::Error& e) {
    std::fprintf(stderr, "mer: error: %s\n", e.what());
    if (verbose && !mer::error_detail(e).empty()) {
      std::fprintf(stderr, "  detail: %s\n", mer::error_detail(e).c_str());
    }
    mpi.abort(1);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "mer: error in LibTorch: %s\n",
                 (verbose ? std::string(e.what()) : first_line(e.msg())).c_str());
    mpi.abort(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mer: error: %s\n", e.what());
    mpi.abort(1);
  }
  return 0;
}

// The leaderboard commands through the real binary: `mer ensemble`, `mer loso --group-by
// dataset` and `mer tune`, each with its refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli_runner.h"

namespace fs = std::filesystem;

namespace {

CliRun mer(const std::string& args) { return run_mer_binary(args); }

fs::path temp(const std::string& name) {
  const auto dir =
      fs::temp_directory_path() / ("mer_cli_lb_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

const std::string kSmall = " --synth-subjects 3 --synth-samples 4 --epochs 2 --batch-size 8 --lr 1e-3 --quiet";

}  // namespace

TEST(CliLeaderboard, EnsembleOfRunsIsARunAndMixingIsRefused) {
  const auto a = temp("ens_a"), b = temp("ens_b"), other = temp("ens_other"), out = temp("ens_out");
  ASSERT_EQ(mer("loso" + kSmall + " --seed 1 --out " + a.string()).code, 0);
  ASSERT_EQ(mer("loso" + kSmall + " --seed 2 --out " + b.string()).code, 0);
  auto r = mer("ensemble " + a.string() + " " + b.string() + " --weights 1,2 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("mer ensemble: 2 run(s), protocol honest"), std::string::npos) << r.output;
  const auto summary = read_json(out / "summary.json");
  EXPECT_EQ(summary["model"], "ensemble");
  EXPECT_EQ(summary["ensemble"].size(), 2u);
  EXPECT_EQ(summary["ensemble"][1]["weight"], 2.0);
  EXPECT_TRUE(fs::is_regular_file(out / "predictions.csv"));
  if (mer("report --help").code == 0) {  // a build with the vision part: `mer report` reads it
    r = mer("report " + out.string() + " " + a.string() + " --out " + (out / "report.html").string());
    EXPECT_EQ(r.code, 0) << r.output;
  }
  r = mer("evaluate --run " + out.string() + " --synth-subjects 3 --synth-samples 4");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("is an ensemble"), std::string::npos) << r.output;

  ASSERT_EQ(mer("loso --synth-subjects 4 --synth-samples 4 --epochs 2 --batch-size 8 --quiet --out " +
                other.string()).code, 0);
  r = mer("ensemble " + a.string() + " " + other.string() + " --out " + out.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find(other.string() + " was trained on other data than " + a.string()),
            std::string::npos) << r.output;
  r = mer("ensemble " + a.string() + " " + b.string() + " --weights 1 --out " + out.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("1 weights for 2 runs"), std::string::npos) << r.output;
  r = mer("ensemble " + a.string() + " --weights 0 --out " + out.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--weights"), std::string::npos) << r.output;
  for (const auto& d : {a, b, other, out}) fs::remove_all(d);
}

TEST(CliLeaderboard, LosoGroupedByDatasetHoldsOutEachPart) {
  const std::string data = " --synth-parts 3 --synth-subjects 6 --synth-samples 4";
  auto r = mer("loso --group-by dataset --list-folds" + data);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("synth1\nsynth2\nsynth3\n"), std::string::npos) << r.output;
  const auto out = temp("by_part");
  r = mer("loso --group-by dataset --epochs 2 --batch-size 8 --lr 1e-3 --quiet" + data + " --out " +
          out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("held-out"), std::string::npos) << r.output;
  EXPECT_EQ(read_json(out / "summary.json")["group_by"], "dataset");
  r = mer("evaluate --run " + out.string() + data);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("every prediction matches"), std::string::npos) << r.output;
  r = mer("loso --group-by dataset --epochs 1 --quiet --out " + temp("one_part").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("at least two dataset parts"), std::string::npos) << r.output;
  r = mer("loso --group-by person --epochs 1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--group-by"), std::string::npos) << r.output;
  fs::remove_all(out);
}

TEST(CliLeaderboard, TuneWritesEveryCandidateAndALosoLineThatRuns) {
  const auto dir = temp("tune");
  const auto file = dir / "tune.json";
  const std::string data = " --synth-subjects 5 --synth-samples 5";
  auto r = mer("tune" + data + " --folds 1 --inner-folds 2 --epochs 2 --batch-size 8 "
               "--space lr=1e-3,2e-3 --space dropout=0.3,0.5 --quiet --out " + file.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto json = read_json(file);
  EXPECT_EQ(json["candidates"].size(), 4u);
  EXPECT_EQ(json["test_folds"], nlohmann::json::array({"synth/s01"}));
  for (const auto& c : json["candidates"]) {
    for (const char* key : {"settings", "uf1", "uar", "seconds"}) EXPECT_TRUE(c.contains(key)) << key;
  }
  // The suggested command runs the LOSO on the same test fold with the chosen settings.
  const auto line = json["loso_command"].get<std::string>();
  EXPECT_NE(r.output.find(line), std::string::npos) << r.output;
  ASSERT_EQ(line.rfind("mer loso ", 0), 0u) << line;
  const auto flags = json["chosen"]["flags"].get<std::vector<std::string>>();
  ASSERT_EQ(flags.size(), 4u);  // the searched settings alone, for scripts' own commands
  for (size_t f = 0; f < flags.size(); f += 2) {
    EXPECT_NE(line.find(flags[f] + " " + flags[f + 1]), std::string::npos) << line;
  }
  r = mer(line.substr(4) + " --quiet --out " + (dir / "loso").string());
  ASSERT_EQ(r.code, 0) << line << "\n" << r.output;
  const auto summary = read_json(dir / "loso" / "summary.json");
  EXPECT_EQ(summary["folds"], 1);
  EXPECT_EQ(summary["model_options"]["dropout"],
            json["chosen"]["settings"]["dropout"].get<std::string>());

  struct Case {
    std::string args, expected;
  };
  const std::vector<Case> cases = {
      {"--folds 1 --space colour=red", "'colour' is neither a training setting"},
      {"--folds 1 --space dropout=2", "--space dropout=2"},
      {"--folds 1 --lr 1e-3 --space lr=1e-3,2e-3", "also given as a fixed setting (--lr)"},
      {"--folds 1 --augment flip --space augment=none,flip", "also given as a fixed setting (--augment)"},
      {"--folds 1 --batch-size 8 --space batch_size=8,16", "also given as a fixed setting (--batch-size)"},
      {"--space lr=1e-3", "--folds"},
      {"--folds 1", "--space"},
      {"--folds 1 --space lr=1e-3 --search random", "--budget"},
      {"--folds 5 --space lr=1e-3", "too few"},
      {"--folds 1 --space lr=1e-3 --protocol oracle", "--protocol"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    r = mer("tune" + data + " --epochs 1 --quiet " + c.args + " --out " + (dir / "bad.json").string());
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  }
  fs::remove_all(dir);
}

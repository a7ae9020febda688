// The CLI tested like a binding: each failure mode fails clearly, options take effect, and
// the train -> save -> resume path works through the real binary.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_runner.h"

namespace fs = std::filesystem;

namespace {

using Run = CliRun;

Run mer(const std::string& args) { return run_mer_binary(args); }

fs::path temp(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("mer_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST(Cli, NoSubcommandFailsWithUsage) {
  const auto r = mer("");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("loso"), std::string::npos) << r.output;
}

TEST(Cli, ModelsListsTheRegistry) {
  const auto r = mer("models");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("ststnet"), std::string::npos);
  // One model's page shows its options with their defaults.
  const auto h = mer("models htnet");
  EXPECT_EQ(h.code, 0) << h.output;
  for (const std::string option : {"patch=7", "dim=256", "heads=3", "hierarchies=3", "block_repeats=2,2,10"}) {
    EXPECT_NE(h.output.find(option), std::string::npos) << option << "\n" << h.output;
  }
}

TEST(Cli, BadInvocationsFailWithAClearMessage) {
  struct Case {
    std::string args, expected;
  };
  const std::vector<Case> cases = {
      {"loso --data /nonexistent/megc", "/nonexistent/megc"},
      {"loso --model resnet9000 --epochs 1", "unknown model 'resnet9000'"},
      {"loso --epochs 0", "--epochs"},
      {"loso --protocol best-epoch", "--protocol"},
      {"loso --lr -1", "--lr"},
      {"loso --bogus-flag", "bogus-flag"},
      {"loso --model-opt dropout --epochs 1", "expected key=value"},
      {"loso --model-opt colour=blue --epochs 1", "unknown option"},
      {"loso --folds 999 --epochs 1", "--folds 999"},
      {"loso --backend fused --device cuda --epochs 1", "--device cuda"},
      {"synth --synth-subjects 1", "--synth-subjects"},
      {"loso --lr-decay 1.5 --epochs 1", "--lr-decay"},
      // The synthetic set has no AU vectors and no onset crops.
      {"loso --model cva-fpf --model-opt au=oracle --epochs 1", "no AU vectors"},
      {"loso --model cva-fpf --model-opt input=crops --epochs 1", "no onset/apex crops"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    const auto r = mer(c.args + " --out " + temp("bad").string());
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  }
}

TEST(Cli, SynthThenLosoThenResume) {
  const auto data = temp("data"), out = temp("out");
  auto r = mer("synth --out " + data.string() + " --synth-subjects 3 --synth-samples 6");
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_TRUE(fs::exists(data / "labels.csv"));

  r = mer("loso --data " + data.string() + " --epochs 2 --batch-size 8 --lr 1e-3 --out " +
          out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("UF1"), std::string::npos) << r.output;
  const auto summary = read_json(out / "summary.json");
  EXPECT_EQ(summary["epochs"], 2);
  EXPECT_EQ(summary["folds"], 3);
  EXPECT_EQ(summary["protocol"], "honest");
  EXPECT_EQ(summary["training"]["batch_size"], 8);
  EXPECT_TRUE(fs::exists(out / "predictions.csv"));

  r = mer("loso --data " + data.string() + " --epochs 2 --batch-size 8 --lr 1e-3 --out " +
          out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("3 of 3 folds already finished"), std::string::npos) << r.output;
  EXPECT_EQ(read_json(out / "summary.json")["uf1"], summary["uf1"]);

  // train -> save -> evaluate reproduces every prediction from the checkpoints.
  r = mer("evaluate --run " + out.string() + " --data " + data.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("every prediction matches"), std::string::npos) << r.output;
  // Evaluating against other data is refused.
  r = mer("evaluate --run " + out.string() + " --synth-subjects 3");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("not on the data given"), std::string::npos) << r.output;

  r = mer("loso --data " + data.string() + " --epochs 3 --batch-size 8 --lr 1e-3 --out " +
          out.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("other settings"), std::string::npos) << r.output;
  fs::remove_all(data);
  fs::remove_all(out);
}

// A run on the cache of a folder is the run on the folder: same data checksum, so it resumes
// the folder's finished folds and its checkpoints evaluate against either.
TEST(Cli, CacheStandsInForItsPreparedFolder) {
  const auto data = temp("cache-data"), out = temp("cache-out");
  const auto cache = temp("cache") / "synth.pt";
  auto r = mer("synth --out " + data.string() + " --synth-subjects 3 --synth-samples 6");
  ASSERT_EQ(r.code, 0) << r.output;
  r = mer("cache --data " + data.string() + " --out " + cache.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(" samples of 3 folds"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("landmarks yes"), std::string::npos) << r.output;
  r = mer("cache --data " + data.string() + " --out " + (cache.parent_path() / "synth.bin").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("must end in .pt"), std::string::npos) << r.output;

  const std::string train = " --model dere-grl --epochs 2 --batch-size 8 --quiet --out ";
  r = mer("loso --data " + data.string() + train + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto summary = read_json(out / "summary.json");
  r = mer("loso --data " + cache.string() + train + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto resumed = read_json(out / "summary.json");
  EXPECT_EQ(resumed["resumed_folds"], 3) << r.output;
  EXPECT_EQ(resumed["uf1"], summary["uf1"]);
  // The folds' training time is kept when a later run only collects them.
  EXPECT_GT(summary["fold_seconds"].get<double>(), 0.0);
  EXPECT_EQ(resumed["fold_seconds"], summary["fold_seconds"]);
  r = mer("evaluate --run " + out.string() + " --data " + cache.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("every prediction matches"), std::string::npos) << r.output;
  // Trained from scratch on the cache: the same figures as on the folder.
  const auto fresh = temp("cache-fresh");
  r = mer("loso --data " + cache.string() + train + fresh.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_json(fresh / "summary.json")["uf1"], summary["uf1"]);
  r = mer("loso --data " + cache.string() + " --landmarks " + (data / "landmarks.csv").string() +
          train + fresh.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("does not apply to a dataset cache"), std::string::npos) << r.output;
  for (const auto& p : {data, out, fresh, cache.parent_path()}) fs::remove_all(p);
}

TEST(Cli, RrrnWeighsRegionsByTheirVisibilityInTheFaceCrops) {
  // A prepared folder has face crops, so rrrn picks visibility=appearance, says so, records it
  // with the run, explains each region's visibility, and re-evaluates to the same predictions.
  const auto data = temp("rrrn-data"), out = temp("rrrn-out"), plain = temp("rrrn-plain");
  auto r = mer("synth --out " + data.string() + " --synth-subjects 3 --synth-samples 6");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string train = " --model rrrn --epochs 2 --batch-size 8 --out ";
  r = mer("loso --data " + data.string() + train + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("visibility=appearance"), std::string::npos) << r.output;
  EXPECT_EQ(read_json(out / "run.json")["settings"]["model_options"]["visibility"], "appearance");
  const auto explain = read_json(out / "explain.json");
  const auto v = explain["samples"][0]["explain"]["region_visibility"].get<std::vector<double>>();
  ASSERT_EQ(v.size(), 9u);
  EXPECT_DOUBLE_EQ(v[0], 1.0);  // the whole face
  for (double x : v) EXPECT_TRUE(x > 0.0 && x <= 1.0) << x;
  r = mer("evaluate --run " + out.string() + " --data " + data.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("every prediction matches"), std::string::npos) << r.output;
  // visibility=none: flow only, as before.
  r = mer("loso --data " + data.string() + " --model-opt visibility=none" + train + plain.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(read_json(plain / "explain.json")["samples"][0]["explain"].contains("region_visibility"));
  for (const auto& p : {data, out, plain}) fs::remove_all(p);
}

TEST(Cli, OptionsTakeEffect) {
  const auto out = temp("opts");
  const auto r = mer("loso --synth-subjects 4 --synth-samples 5 --epochs 2 --folds 2 "
                     "--protocol oracle --optimizer sgd --class-weights balanced --seed 7 --quiet "
                     "--out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ORACLE"), std::string::npos) << r.output;
  const auto s = read_json(out / "summary.json");
  EXPECT_EQ(s["folds"], 2);
  EXPECT_EQ(s["folds_total"], 4);
  EXPECT_EQ(s["seed"], 7);
  EXPECT_EQ(s["protocol"], "oracle");
  EXPECT_EQ(s["training"]["optimizer"], "sgd");
  EXPECT_EQ(s["training"]["class_weights"], "balanced");
  EXPECT_NE(s["data"].get<std::string>().find("synthetic(subjects=4"), std::string::npos);
  fs::remove_all(out);
}

// Folds shared among MPI ranks give exactly the figures of a one-process run.
TEST(Cli, CvaFpfOnFlowOnlyDataSaysItUsesTheStandIn) {
  const auto out = temp("cva");
  const auto r = mer("loso --model cva-fpf --epochs 1 --folds 2 --batch-size 16 --synth-subjects 4 "
                     "--synth-samples 6 --synth-size 16 --model-opt input_size=32 --model-opt window=2 "
                     "--model-opt width=0.125 --model-opt embed=8 --model-opt depths=2,2,2 --quiet "
                     "--out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("STAND-IN"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("au=none"), std::string::npos) << r.output;
  const auto s = read_json(out / "summary.json");
  EXPECT_EQ(s["model_options"]["input"], "flow");
  EXPECT_EQ(s["model_options"]["au"], "none");
  EXPECT_EQ(s["training"]["optimizer"], "adamw");  // the model's defaults
  EXPECT_EQ(s["training"]["lr_decay"], 0.987);
  fs::remove_all(out);
}

TEST(Cli, MpirunSharesFoldsAndMatchesOneProcess) {
#ifndef MER_TEST_MPIRUN
  GTEST_SKIP() << "mer was built without MPI";
#else
  const auto single = temp("mpi_single"), shared = temp("mpi_shared");
  const std::string args = "loso --synth-subjects 5 --synth-samples 5 --epochs 2 --threads 1 "
                           "--quiet --out ";
  auto r = mer(args + single.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string command = std::string(MER_TEST_MPIRUN) +
                              " -np 2 --oversubscribe --allow-run-as-root " + MER_BINARY + " " +
                              args + shared.string() + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  std::array<char, 4096> buffer{};
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  const auto a = read_json(single / "summary.json"), b = read_json(shared / "summary.json");
  EXPECT_EQ(b["folds"], 5);
  EXPECT_EQ(a["uf1"], b["uf1"]);
  EXPECT_EQ(a["confusion"], b["confusion"]);
  std::ifstream pa(single / "predictions.csv"), pb(shared / "predictions.csv");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(pa), {}),
            std::string(std::istreambuf_iterator<char>(pb), {}));
  fs::remove_all(single);
  fs::remove_all(shared);
#endif
}

TEST(Cli, FrTrainsWithItsOwnDefaultsAndExplainDrawsItsAttention) {
  const auto out = temp("fr");
  const auto r = mer("loso --model fr --folds 2 --epochs 2 --synth-subjects 4 --synth-samples 6 "
                     "--quiet --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto run = read_json(out / "run.json");
  // The model's training defaults apply where no flag was given; a given flag wins.
  EXPECT_DOUBLE_EQ(run["settings"]["lr"].get<double>(), 1e-3) << run.dump();
  EXPECT_EQ(run["settings"]["batch_size"].get<int64_t>(), 64);
  const auto explain = read_json(out / "explain.json");
  EXPECT_EQ(explain["protocol"], "honest");
  // One explanation per test sample of the finished folds.
  ASSERT_EQ(explain["samples"].size(), read_json(out / "summary.json")["n"].get<size_t>());
  const auto& first = explain["samples"][0];
  EXPECT_EQ(first["explain"]["attention"].size(), 3u);  // one map per expression branch
  EXPECT_EQ(first["explain"]["proposal"].size(), 3u);

  const std::string key = first["key"].get<std::string>();
  const auto figures = out / "figures";
  auto e = mer("explain --run " + out.string() + " --synth-subjects 4 --synth-samples 6 --sample " +
               key + " --out-dir " + figures.string());
  ASSERT_EQ(e.code, 0) << e.output;
  std::string file = key;
  std::replace(file.begin(), file.end(), '/', '_');
  EXPECT_GT(fs::file_size(figures / ("explain_" + file + ".png")), 1000u);
  // A sample the run did not test, and a run without explanations, fail clearly.
  e = mer("explain --run " + out.string() + " --synth-subjects 4 --synth-samples 6 --sample x/y/z");
  EXPECT_NE(e.code, 0);
  EXPECT_NE(e.output.find("x/y/z"), std::string::npos) << e.output;

  const auto st = temp("st_noexplain");
  ASSERT_EQ(mer("loso --folds 1 --epochs 1 --synth-subjects 4 --synth-samples 6 --quiet --out " +
                st.string()).code, 0);
  e = mer("explain --run " + st.string() + " --synth-subjects 4 --synth-samples 6 --sample " + key);
  EXPECT_NE(e.code, 0);
  EXPECT_NE(e.output.find("explain.json"), std::string::npos) << e.output;
  fs::remove_all(out);
  fs::remove_all(st);
}

TEST(Cli, DereGrlTrainsAndExplainDrawsComponentsOnTheFace) {
  const auto out = temp("dere");
  const auto r = mer("loso --model dere-grl --folds 2 --epochs 2 --synth-subjects 4 "
                     "--synth-samples 6 --quiet --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto summary = read_json(out / "summary.json");
  EXPECT_EQ(summary["landmarks"], "synthetic generator");
  const auto explain = read_json(out / "explain.json");
  EXPECT_EQ(explain["model_info"]["labels"]["component_action"][0], "jaw");
  const auto& first = explain["samples"][0];
  EXPECT_EQ(first["explain"]["component_action"].size(), 8u);
  EXPECT_EQ(first["explain"]["relation_matrix"].size(), 8u);
  EXPECT_EQ(first["explain"]["landmarks"].size(), 68u);

  const std::string key = first["key"].get<std::string>();
  const auto figures = out / "figures";
  const auto e = mer("explain --run " + out.string() + " --synth-subjects 4 --synth-samples 6 " +
                     "--sample " + key + " --out-dir " + figures.string());
  ASSERT_EQ(e.code, 0) << e.output;
  std::string file = key;
  std::replace(file.begin(), file.end(), '/', '_');
  EXPECT_GT(fs::file_size(figures / ("explain_" + file + ".png")), 1000u);
  fs::remove_all(out);
}

// HTNet end to end on the synthetic set, at a small size (the published one, ~140M
// parameters, is the default and is built by the model contract tests): its training
// defaults apply, its options are recorded, each test sample's areas are explained and drawn,
// and re-evaluation reproduces the run.
TEST(Cli, HtnetTrainsOnSyntheticDataAndExplainDrawsItsAreas) {
  const auto data = temp("htnet-data"), out = temp("htnet");
  ASSERT_EQ(mer("synth --out " + data.string() + " --synth-subjects 3 --synth-samples 6").code, 0);
  auto r = mer("loso --model htnet --data " + data.string() + " --epochs 2 --model-opt dim=8 " +
               "--model-opt heads=1 --model-opt block_repeats=1,1,1 --quiet --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto run = read_json(out / "run.json");
  EXPECT_DOUBLE_EQ(run["settings"]["lr"].get<double>(), 5e-5) << run.dump();
  EXPECT_EQ(run["settings"]["batch_size"].get<int64_t>(), 256);
  EXPECT_EQ(run["settings"]["model_options"]["block_repeats"], "1,1,1");
  EXPECT_EQ(run["settings"]["model_options"]["patch"], "7");
  EXPECT_EQ(read_json(out / "summary.json")["folds"], 3);
  const auto explain = read_json(out / "explain.json");
  EXPECT_EQ(explain["model_info"]["labels"]["area_importance"][0], "left_eye");
  const auto& first = explain["samples"][0];
  EXPECT_EQ(first["explain"]["area_importance"].size(), 4u);
  EXPECT_EQ(first["explain"]["area_boxes"].size(), 4u);
  EXPECT_EQ(first["explain"]["landmarks"].size(), 68u);

  const std::string key = first["key"].get<std::string>();
  const auto figures = out / "figures";
  r = mer("explain --run " + out.string() + " --data " + data.string() + " --sample " + key +
          " --out-dir " + figures.string());
  ASSERT_EQ(r.code, 0) << r.output;
  std::string file = key;
  std::replace(file.begin(), file.end(), '/', '_');
  EXPECT_GT(fs::file_size(figures / ("explain_" + file + ".png")), 1000u);
  r = mer("evaluate --run " + out.string() + " --data " + data.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("every prediction matches"), std::string::npos) << r.output;
  // A hierarchy the map does not fit is refused by name.
  r = mer("loso --model htnet --data " + data.string() + " --epochs 1 --model-opt patch=5 --quiet " +
          "--out " + (out / "bad").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("patch"), std::string::npos) << r.output;
  for (const auto& p : {data, out}) fs::remove_all(p);
}

TEST(Cli, LandmarksCommandWritesAFileThatLosoReads) {
  const auto data = temp("landmarks_data");
  ASSERT_EQ(mer("synth --out " + data.string() + " --synth-subjects 3 --synth-samples 3").code, 0);
  // The synthetic set comes with its landmarks; `mer landmarks` finds its own on the face
  // crops (drawn faces: dlib may or may not see them; every crop gets points either way).
  const auto file = data / "found.csv";
  auto r = mer("landmarks --data " + data.string() + " --out " + file.string() + " --jobs 2");
  if (r.code != 0 && r.output.find("landmark model not found") != std::string::npos) {
    GTEST_SKIP() << "no dlib landmark model on this machine: " << r.output;
  }
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("a face was found on"), std::string::npos) << r.output;
  std::ifstream in(file);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 1 + 9);  // header + 3 subjects x 3 samples (fixed count without spread)
  const auto out = temp("landmarks_loso");
  r = mer("loso --model dere-grl --data " + data.string() + " --landmarks " + file.string() +
          " --folds 1 --epochs 1 --quiet --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_json(out / "summary.json")["landmarks"], file.string());
  // Re-evaluation needs the run's landmarks: the folder's own file is another set.
  r = mer("evaluate --run " + out.string() + " --data " + data.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("other landmarks"), std::string::npos) << r.output;
  r = mer("evaluate --run " + out.string() + " --data " + data.string() + " --landmarks " +
          file.string());
  EXPECT_EQ(r.code, 0) << r.output;
  // --landmarks needs --data; a bad landmarks file fails naming it.
  r = mer("loso --model dere-grl --landmarks " + file.string() + " --folds 1 --epochs 1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--landmarks needs --data"), std::string::npos) << r.output;
  { std::ofstream bad(data / "bad.csv"); bad << "dataset,subject,sample\n"; }
  r = mer("loso --model dere-grl --data " + data.string() + " --landmarks " +
          (data / "bad.csv").string() + " --folds 1 --epochs 1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("bad.csv"), std::string::npos) << r.output;
  fs::remove_all(data);
  fs::remove_all(out);
}

TEST(Cli, RealDataLandmarksOnTheMegc2019Crops) {
  const fs::path data = fs::path(MER_SHARED_DATA) / "megc2019";
  if (!fs::is_regular_file(data / "labels.csv")) {
    GTEST_SKIP() << "no real data at " << data << " (licensed; see the README)";
  }
  const auto dir = temp("megc_landmarks");
  fs::create_directories(dir);
  const auto file = dir / "landmarks.csv";
  const auto r = mer("landmarks --data " + data.string() + " --out " + file.string() + " --jobs 2");
  if (r.code != 0 && r.output.find("landmark model not found") != std::string::npos) {
    GTEST_SKIP() << "no dlib landmark model on this machine: " << r.output;
  }
  ASSERT_EQ(r.code, 0) << r.output;
  // A face on every crop (some only with the margin or the lower threshold).
  EXPECT_NE(r.output.find("a face was found on 442 of 442 crops"), std::string::npos) << r.output;
  // Every face upright in its 224 px crop: brows above eyes above the nose tip above the mouth
  // above the chin, the eyes apart.
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  int rows = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    ASSERT_EQ(f.size(), 4u + 136u + 1u) << line;
    EXPECT_EQ(f[3], "224");
    auto y = [&](int i) { return std::stod(f[5 + 2 * i]); };
    auto x = [&](int i) { return std::stod(f[4 + 2 * i]); };
    EXPECT_LT(y(19), y(37)) << line;
    EXPECT_LT(y(37), y(30)) << line;
    EXPECT_LT(y(30), y(51)) << line;
    EXPECT_LT(y(57), y(8)) << line;
    EXPECT_GT(x(45) - x(36), 60.0) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 442);
  fs::remove_all(dir);
}

// What a newcomer tripped on (issue 22), each fixed and kept so.
TEST(Cli, NewcomerTrapsAreFixed) {
  // A mistyped subcommand names the nearest one.
  const auto typo = mer("lso");
  EXPECT_EQ(typo.code, 2);
  EXPECT_NE(typo.output.find("unknown subcommand 'lso' (did you mean loso?)"), std::string::npos)
      << typo.output;

  // Default output folders carry the data and a settings hash: a run on other data gets its
  // own folder instead of being refused as "other settings"; the same command resumes.
  const auto dir = temp("default_out");
  fs::create_directories(dir);
  const auto run_in = [&](const std::string& args) {
    return run_shell_in(dir.string(), std::string(MER_BINARY) + " " + args);
  };
  const std::string small = "loso --synth-subjects 3 --synth-samples 4 --epochs 1 --quiet";
  const auto first = run_in(small);
  ASSERT_EQ(first.code, 0) << first.output;
  EXPECT_NE(first.output.find("output folder: runs/loso-ststnet-synthetic-honest-e1-s1-"),
            std::string::npos) << first.output;
  const auto other = run_in(small + " --synth-seed 2");
  ASSERT_EQ(other.code, 0) << other.output;
  const auto again = run_in(small);
  ASSERT_EQ(again.code, 0) << again.output;
  size_t folders = 0;
  for (const auto& e : fs::directory_iterator(dir / "runs")) folders += e.is_directory() ? 1 : 0;
  EXPECT_EQ(folders, 2u);

  // Evaluating on other data names the data the run was trained on and the flag to use.
  const auto run_dir = dir / "runs" / fs::directory_iterator(dir / "runs")->path().filename();
  const auto wrong = mer("evaluate --run " + run_dir.string() + " --synth-subjects 3 --synth-samples 4 --synth-seed 9");
  EXPECT_NE(wrong.code, 0);
  EXPECT_NE(wrong.output.find("--on-other-data"), std::string::npos) << wrong.output;
  EXPECT_NE(wrong.output.find("synthetic(subjects=3"), std::string::npos) << wrong.output;

  // Inner-val early stopping is reported on the console.
  const auto stopped = mer("loso --synth-subjects 4 --synth-samples 6 --epochs 30 --folds 1 "
                           "--protocol inner-val --patience 1 --lr 0.01 --out " + (dir / "early").string());
  ASSERT_EQ(stopped.code, 0) << stopped.output;
  EXPECT_NE(stopped.output.find("stopped early after epoch"), std::string::npos) << stopped.output;
  fs::remove_all(dir);
}

// The reliability suite (ctest label `reliability`): bad inputs each with its expected outcome,
// full disks, kill -9 at random points followed by a rerun, concurrent runs on one folder.
// Every case runs the real binary, as a user would, and checks the issue's acceptance: a clear
// one-line error naming the file (or a reported skip), no crash, no lost finished work, no
// result from corrupt input.
#include <sys/file.h>

#include <opencv2/imgcodecs.hpp>
#include <map>
#include <random>
#include <set>

#include "mer/core/atomic_file.h"
#include "mer/core/image_check.h"
#include "mer/core/utf8.h"
#include "pipeline/pipeline_fixtures.h"
#include "reliability_fixtures.h"

namespace mer::reliability {
namespace {

// A small synthetic prepared folder (flows and face crops as PNG), written once per process.
const fs::path& synth_folder() {
  static const fs::path dir = [] {
    const fs::path d = fs::temp_directory_path() / ("mer_reliability_synth_" + std::to_string(::getpid()));
    fs::remove_all(d);
    const auto run = run_mer({"synth", "--out", d.string(), "--synth-subjects", "4",
                              "--synth-samples", "5"});
    if (run.code != 0) throw std::runtime_error("mer synth failed: " + run.output);
    return d;
  }();
  return dir;
}

struct SynthCleanup {
  ~SynthCleanup() {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("mer_reliability_synth_" + std::to_string(::getpid())), ec);
  }
} synth_cleanup;

// A copy of the synthetic folder to break.
fs::path copy_synth(const TempDir& tmp, const std::string& name) {
  const fs::path d = tmp / name;
  fs::copy(synth_folder(), d, fs::copy_options::recursive);
  return d;
}

// The rows of labels.csv as lines.
std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(file));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string field(const std::string& line, int index) {
  std::vector<std::string> fields;
  std::istringstream in(line);
  for (std::string f; std::getline(in, f, ',');) fields.push_back(f);
  return fields.at(static_cast<size_t>(index));
}

std::string encode(const cv::Mat& image, const std::string& ext) {
  std::vector<uchar> bytes;
  cv::imencode(ext, image, bytes);
  return std::string(bytes.begin(), bytes.end());
}

cv::Mat face_like(int side) {
  cv::Mat m(side, side, CV_8UC1);
  cv::randu(m, 0, 255);
  return m;
}

// ---------------------------------------------------------------- atomic writes, image checks

TEST(AtomicFile, ReplacesWholeAndLeavesNoTemporary) {
  TempDir tmp("atomic");
  const std::string path = (tmp / "a.txt").string();
  write_file_atomic(path, "old");
  write_file_atomic(path, "new content");
  EXPECT_EQ(read_file(path), "new content");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

// A file-size limit in a child process: the write fails with EFBIG; the error names the file
// and the reason, the earlier file is intact and the temporary one is gone.
TEST(AtomicFile, FailedWriteNamesFileKeepsOldOneRemovesTemporary) {
  TempDir tmp("atomic_full");
  const std::string path = (tmp / "result.json").string();
  write_file_atomic(path, "earlier result");
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{1000, 1000};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    std::string message = "no error";
    try {
      write_file_atomic(path, std::string(100000, 'x'));
    } catch (const IoError& e) {
      message = e.what();
    } catch (const std::exception& e) {
      message = std::string("other exception: ") + e.what();
    }
    (void)!::write(pipe_fds[1], message.data(), message.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::string message(4096, '\0');
  message.resize(static_cast<size_t>(std::max<ssize_t>(0, ::read(pipe_fds[0], message.data(), message.size()))));
  ::close(pipe_fds[0]);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("file too large"), std::string::npos) << message;
  EXPECT_EQ(read_file(path), "earlier result");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(AtomicFile, MissingFolderIsOneClearError) {
  try {
    write_file_atomic("/nonexistent_mer_folder/x.json", "x");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent_mer_folder/x.json"), std::string::npos);
  }
}

TEST(ImageCheck, CompleteImagesPassEveryTruncationFails) {
  const cv::Mat image = face_like(48);
  for (const std::string ext : {".jpg", ".png", ".bmp"}) {
    const std::string bytes = encode(image, ext);
    EXPECT_EQ(image_bytes_problem(bytes), "") << ext;
    // Every cut, from the end of the signature (a shorter file is not recognised as the
    // format, and fails to decode) to the last byte.
    for (size_t cut = 8; cut < bytes.size(); cut += std::max<size_t>(1, bytes.size() / 97)) {
      EXPECT_NE(image_bytes_problem(bytes.substr(0, cut)), "") << ext << " cut at " << cut;
    }
    EXPECT_NE(image_bytes_problem(bytes.substr(0, bytes.size() - 1)), "") << ext;
  }
  // Padding after the JPEG end marker is allowed; a flipped PNG byte is not.
  const std::string jpg = encode(image, ".jpg");
  EXPECT_EQ(image_bytes_problem(jpg + std::string(16, '\0')), "");
  std::string png = encode(image, ".png");
  png[png.size() / 2] ^= 0x40;
  EXPECT_NE(image_bytes_problem(png), "");
}

TEST(Utf8, ValidAndInvalid) {
  EXPECT_TRUE(is_valid_utf8("happiness"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9motion \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xe9motion"));        // Latin-1
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // cut
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
}

// ---------------------------------------------------------------- bad prepared folders

struct BadFolderCase {
  std::string name;
  // Breaks the folder; returns the file the error must name.
  std::function<std::string(const fs::path&)> breaks;
  std::string reason;  // a fragment of the error
};

std::vector<BadFolderCase> bad_folder_cases() {
  const auto first_row = [](const fs::path& d) { return lines_of(d / "labels.csv").at(1); };
  return {
      {"truncated_flow_png",
       [=](const fs::path& d) {
         const fs::path f = d / field(first_row(d), 5);
         const std::string b = read_file(f);
         write_file(f, b.substr(0, b.size() / 2));
         return f.string();
       },
       "truncated PNG"},
      {"truncated_face",
       [=](const fs::path& d) {
         const fs::path f = d / field(first_row(d), 6);
         const std::string b = read_file(f);
         write_file(f, b.substr(0, b.size() - 20));
         return f.string();
       },
       "truncated JPEG"},
      {"truncated_face_png",
       [=](const fs::path& d) {
         const fs::path f = d / field(first_row(d), 6);
         const std::string b = encode(face_like(32), ".png");
         write_file(f, b.substr(0, b.size() - 20));
         return f.string();
       },
       "truncated PNG"},
      {"truncated_face_jpeg",
       [=](const fs::path& d) {
         const fs::path f = d / field(first_row(d), 6);
         const std::string b = encode(face_like(32), ".jpg");
         write_file(f, b.substr(0, b.size() * 2 / 3));
         return f.string();
       },
       "truncated JPEG"},
      {"truncated_face_bmp",
       [=](const fs::path& d) {
         const fs::path f = d / field(first_row(d), 6);
         const std::string b = encode(face_like(32), ".bmp");
         write_file(f, b.substr(0, b.size() - 100));
         return f.string();
       },
       "truncated BMP"},
      {"garbage_flow",
       [=](const fs::path& d) {
         const fs::path f = d / field(first_row(d), 5);
         write_file(f, "not an image at all");
         return f.string();
       },
       "cannot decode"},
      {"one_pixel_face",
       [=](const fs::path& d) {
         const fs::path f = d / field(first_row(d), 6);
         write_file(f, encode(cv::Mat(1, 1, CV_8UC1, cv::Scalar(0)), ".png"));
         return f.string();
       },
       "too small"},
      {"one_pixel_flow",
       [=](const fs::path& d) {
         const fs::path f = d / field(first_row(d), 5);
         write_file(f, encode(cv::Mat(1, 1, CV_8UC3, cv::Scalar(0, 0, 0)), ".png"));
         return f.string();
       },
       "too small"},
      {"latin1_class_name",
       [=](const fs::path& d) {
         std::string text = read_file(d / "labels.csv");
         const std::string name = field(first_row(d), 4);
         size_t at = 0;
         while ((at = text.find("," + name + ",", at)) != std::string::npos) {
           text.replace(at + 1, name.size(), name + "\xe9");
           at += name.size() + 2;
         }
         write_file(d / "labels.csv", text);
         return (d / "labels.csv").string();
       },
       "not valid UTF-8"},
  };
}

// `mer cache` (which decodes every file) and `mer loso` refuse each broken folder with one
// line naming the broken file, before any training.
TEST(BadInput, EveryBrokenFolderIsOneLineNamingTheFile) {
  TempDir tmp("bad_input");
  for (const auto& c : bad_folder_cases()) {
    SCOPED_TRACE(c.name);
    const fs::path d = copy_synth(tmp, c.name);
    const std::string file = c.breaks(d);
    expect_clean_error(run_mer({"cache", "--data", d.string(), "--out", (tmp / (c.name + ".pt")).string()}),
                       {file, c.reason});
    EXPECT_FALSE(fs::exists(tmp / (c.name + ".pt")));
    const auto loso = run_mer({"loso", "--data", d.string(), "--model", "cva-fpf", "--epochs", "1",
                               "--quiet", "--out", (tmp / (c.name + "_run")).string()});
    expect_clean_error(loso, {file, c.reason});
    EXPECT_FALSE(fs::exists(tmp / (c.name + "_run") / "folds" / "synth__s01" / "fold.json")) << loso.output;
  }
}

// ---------------------------------------------------------------- options

TEST(BadInput, OptionsWithoutMeaningAreRefusedAtParseTime) {
  TempDir tmp("options");
  const std::string out = (tmp / "run").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--lr", "nan"}, "--lr"},
      {{"--lr", "inf"}, "--lr"},
      {{"--weight-decay", "nan"}, "--weight-decay"},
      {{"--momentum", "nan", "--optimizer", "sgd"}, "--momentum"},
      {{"--val-fraction", "nan", "--protocol", "inner-val"}, "--val-fraction"},
      {{"--lr-decay", "nan"}, "--lr-decay"},
      {{"--seed", "-1"}, "--seed"},
      {{"--patience", "5"}, "--patience has no effect with --protocol honest"},
      {{"--val-fraction", "0.2", "--protocol", "oracle"}, "--val-fraction has no effect"},
      {{"--momentum", "0.5", "--optimizer", "adam"}, "--momentum has no effect"},
      {{"--folds", "synth/s01,synth/s01"}, "given twice"},
  };
  for (const auto& [flags, fragment] : cases) {
    std::vector<std::string> args = {"loso", "--synth-subjects", "3", "--synth-samples", "3",
                                     "--epochs", "1", "--quiet", "--out", out};
    args.insert(args.end(), flags.begin(), flags.end());
    const auto run = run_mer(args);
    SCOPED_TRACE(flags.front() + " " + flags.at(1));
    EXPECT_NE(run.code, 0) << run.output;
    EXPECT_EQ(run.signal, 0);
    EXPECT_NE(run.output.find(fragment), std::string::npos) << run.output;
    EXPECT_FALSE(fs::exists(fs::path(out) / "summary.json")) << run.output;
  }
  // `mer train` and `mer tune` declare the same training settings and check them the same way.
  const std::vector<std::pair<std::vector<std::string>, std::string>> shared = {
      {{"--lr", "nan"}, "--lr"},
      {{"--weight-decay", "inf"}, "--weight-decay"},
      {{"--seed", "-1"}, "--seed"},
  };
  for (const auto& [flags, fragment] : shared) {
    for (std::vector<std::string> args :
         {std::vector<std::string>{"train", "--synth-subjects", "3", "--synth-samples", "3",
                                   "--epochs", "1", "--quiet", "--out", out},
          std::vector<std::string>{"tune", "--synth-subjects", "3", "--synth-samples", "3",
                                   "--folds", "1", "--space", "epochs=1,2", "--quiet", "--out",
                                   out + ".json"}}) {
      SCOPED_TRACE(args.front() + " " + flags.front() + " " + flags.at(1));
      args.insert(args.end(), flags.begin(), flags.end());
      const auto run = run_mer(args);
      EXPECT_NE(run.code, 0) << run.output;
      EXPECT_NE(run.output.find(fragment), std::string::npos) << run.output;
    }
  }
  const auto train = run_mer({"train", "--synth-subjects", "3", "--synth-samples", "3", "--epochs",
                              "1", "--quiet", "--out", out, "--momentum", "0.5"});
  EXPECT_NE(train.code, 0);
  EXPECT_NE(train.output.find("--momentum has no effect"), std::string::npos) << train.output;
  EXPECT_FALSE(fs::exists(fs::path(out) / "model.pt")) << train.output;
}

// ---------------------------------------------------------------- runs: full disk, kill -9

const std::vector<std::string> kLosoArgs = {"loso", "--synth-subjects", "6", "--synth-samples", "6",
                                            "--epochs", "30", "--threads", "2", "--quiet"};

std::vector<std::string> loso_into(const fs::path& out) {
  auto args = kLosoArgs;
  args.insert(args.end(), {"--out", out.string()});
  return args;
}

// The uninterrupted run every interrupted one must equal, computed once per process.
const fs::path& reference_run() {
  static const TempDir tmp("reference");
  static const fs::path out = [] {
    const fs::path o = tmp / "run";
    const auto run = run_mer(loso_into(o));
    if (run.code != 0) throw std::runtime_error("reference run failed: " + run.output);
    return o;
  }();
  return out;
}
const std::string& reference_predictions() {
  static const std::string text = results_of(reference_run());
  return text;
}

TEST(DiskFull, LosoFailsCleanlyKeepsFinishedFoldsAndResumesIdentically) {
  TempDir tmp("disk_full_loso");
  const auto& reference = reference_predictions();
  // One limit below each kind of file the run writes (run.json, a checkpoint, a fold.json,
  // the summary, the predictions): each is the first to fail in one of the runs.
  std::set<rlim_t> limits = {64};
  uintmax_t largest = 0;
  for (const auto& e : fs::recursive_directory_iterator(reference_run())) {
    if (!e.is_regular_file() || e.path().filename() == ".lock") continue;
    limits.insert(static_cast<rlim_t>(e.file_size() > 1 ? e.file_size() - 1 : 1));
    largest = std::max<uintmax_t>(largest, e.file_size());
  }
  // Files of one kind differ a little in size: a few limits per kind are enough.
  std::vector<rlim_t> chosen;
  for (const rlim_t limit : limits) {
    if (chosen.empty() || limit > chosen.back() * 11 / 10) chosen.push_back(limit);
  }
  for (const rlim_t limit : chosen) {
    SCOPED_TRACE("file size limit " + std::to_string(limit));
    const fs::path out = tmp / ("run_" + std::to_string(limit));
    const auto full = run_mer(loso_into(out), {limit, -1});
    EXPECT_EQ(full.signal, 0) << full.output;
    EXPECT_EQ(full.code, 1) << full.output;
    EXPECT_NE(full.output.find("file too large"), std::string::npos) << full.output;
    for (const char* bad : {"terminate called", "Exception raised from", "frame #"}) {
      EXPECT_EQ(full.output.find(bad), std::string::npos) << full.output;
    }
    EXPECT_TRUE(files_ending(out, ".tmp").empty()) << full.output;
    const auto rerun = run_mer(loso_into(out));
    ASSERT_EQ(rerun.code, 0) << rerun.output;
    EXPECT_EQ(results_of(out), reference);
  }
  EXPECT_GT(largest, 0u);
}

TEST(DiskFull, CacheFailsCleanlyAndLeavesTheEarlierCache) {
  TempDir tmp("disk_full_cache");
  const std::string cache = (tmp / "set.pt").string();
  ASSERT_EQ(run_mer({"cache", "--data", synth_folder().string(), "--out", cache}).code, 0);
  const std::string before = read_file(cache);
  const auto full = run_mer({"cache", "--data", synth_folder().string(), "--out", cache}, {4096, -1});
  expect_clean_error(full, {cache, "file too large"});
  EXPECT_EQ(read_file(cache), before);
  EXPECT_TRUE(files_ending(tmp.path(), ".tmp").empty());
}

// kill -9 at random points (deterministic seed), then a rerun: identical to the uninterrupted
// run, and the killed process leaves no lock behind.
TEST(KillNine, LosoRerunEqualsUninterruptedRun) {
  TempDir tmp("kill_loso");
  const auto& reference = reference_predictions();
  std::mt19937 rng(18);
  std::uniform_real_distribution<double> when(0.05, 2.5);
  for (int attempt = 0; attempt < 4; ++attempt) {
    const fs::path out = tmp / ("run" + std::to_string(attempt));
    const double t = when(rng);
    SCOPED_TRACE("killed after " + std::to_string(t) + " s");
    run_mer(loso_into(out), {RLIM_INFINITY, t});
    const auto rerun = run_mer(loso_into(out));
    ASSERT_EQ(rerun.code, 0) << rerun.output;
    EXPECT_EQ(results_of(out), reference);
  }
}

TEST(KillNine, CacheRerunEqualsUninterruptedCache) {
  TempDir tmp("kill_cache");
  const std::string reference_file = (tmp / "reference.pt").string();
  ASSERT_EQ(run_mer({"cache", "--data", synth_folder().string(), "--out", reference_file}).code, 0);
  const std::string reference = read_file(reference_file);
  std::mt19937 rng(18);
  std::uniform_real_distribution<double> when(0.0, 1.0);
  for (int attempt = 0; attempt < 4; ++attempt) {
    const std::string cache = (tmp / ("c" + std::to_string(attempt) + ".pt")).string();
    run_mer({"cache", "--data", synth_folder().string(), "--out", cache}, {RLIM_INFINITY, when(rng)});
    // Either no cache or the whole one under the final name, never a partial one.
    if (fs::exists(cache)) EXPECT_EQ(read_file(cache), reference);
    ASSERT_EQ(run_mer({"cache", "--data", synth_folder().string(), "--out", cache}).code, 0);
    EXPECT_EQ(read_file(cache), reference);
  }
}

// A model.pt that no longer matches the hash its fold.json recorded is trained again, saying so.
TEST(Resume, CorruptCheckpointBesideFinishedFoldIsRetrained) {
  TempDir tmp("resume_hash");
  const fs::path out = tmp / "run";
  ASSERT_EQ(run_mer(loso_into(out)).code, 0);
  const fs::path model = out / "folds" / "synth__s01" / "model.pt";
  const std::string bytes = read_file(model);
  write_file(model, bytes.substr(0, bytes.size() / 2));
  auto args = loso_into(out);
  args.erase(std::find(args.begin(), args.end(), "--quiet"));
  const auto rerun = run_mer(args);
  ASSERT_EQ(rerun.code, 0) << rerun.output;
  EXPECT_NE(rerun.output.find("synth/s01 is trained again"), std::string::npos) << rerun.output;
  EXPECT_NE(rerun.output.find("does not match the hash"), std::string::npos) << rerun.output;
  EXPECT_EQ(read_file(model), bytes);
  EXPECT_EQ(results_of(out), reference_predictions());
}

// ---------------------------------------------------------------- concurrency

TEST(Concurrency, SecondRunOnTheSameFolderIsRefused) {
  TempDir tmp("lock");
  const fs::path out = tmp / "run";
  fs::create_directories(out);
  const int fd = ::open((out / ".lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // as a running `mer loso` holds it
  const auto second = run_mer(loso_into(out));
  expect_clean_error(second, {out.string(), "another mer process is writing this folder"});
  ::close(fd);  // the holder ends: the folder is free again
  EXPECT_EQ(run_mer(loso_into(out)).code, 0);
}

// ---------------------------------------------------------------- prepare (real frames)

using pipeline::testing::FakeCasme;
using pipeline::testing::good_clips;

std::map<std::string, std::string> skip_reasons(const fs::path& out) {
  std::map<std::string, std::string> reasons;  // clip -> reason
  const auto lines = lines_of(out / "skipped.csv");
  for (size_t i = 1; i < lines.size(); ++i) reasons[field(lines[i], 2)] = field(lines[i], 3);
  return reasons;
}

std::vector<std::string> prepare_args(const FakeCasme& db, const fs::path& out) {
  return {"prepare", "--dataset", "casme2", "--root", db.frames_root(), "--annotations", db.sheet(),
          "--out", out.string(), "--quiet", "--jobs", "2"};
}

// Each broken frame is a skipped clip with its reason; the other clips are prepared.
TEST(RealDataPrepare, BrokenFramesAreSkippedWithTheirReason) {
  MER_REQUIRE_REAL_DATA();
  FakeCasme db("reliability_prepare");
  const auto clips = good_clips();
  for (const auto& c : clips) db.add(c);
  const auto truncate = [&](const pipeline::testing::ClipRow& c, int n) {
    const std::string b = read_file(db.frame(c, n));
    write_file(db.frame(c, n), b.substr(0, b.size() * 3 / 4));
  };
  truncate(clips[0], clips[0].onset);  // a truncated onset: unreadable, not "no face"
  truncate(clips[1], clips[1].apex);   // a truncated apex
  {                                    // an all-black apex where the onset has a face
    const cv::Mat real = cv::imread(db.frame(clips[2], clips[2].apex));
    cv::imwrite(db.frame(clips[2], clips[2].apex), cv::Mat(real.size(), CV_8UC3, cv::Scalar::all(0)));
  }
  const fs::path out = db.out("prepared");
  const auto run = run_mer(prepare_args(db, out));
  EXPECT_EQ(run.signal, 0) << run.output;
  const auto reasons = skip_reasons(out);
  EXPECT_EQ(reasons.at(clips[0].clip), "unreadable_image") << run.output;
  EXPECT_EQ(reasons.at(clips[1].clip), "unreadable_image") << run.output;
  EXPECT_EQ(reasons.at(clips[2].clip), "no_face") << run.output;
  for (size_t i = 3; i < clips.size(); ++i) EXPECT_EQ(reasons.count(clips[i].clip), 0u) << clips[i].clip;
  EXPECT_EQ(lines_of(out / "labels.csv").size(), 1 + clips.size() - 3);
}

TEST(RealDataPrepare, KillNineThenRerunEqualsUninterruptedAndDiskFullIsClean) {
  MER_REQUIRE_REAL_DATA();
  FakeCasme db("reliability_prepare_kill");
  for (const auto& c : good_clips()) db.add(c);
  const fs::path reference = db.out("reference");
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(run_mer(prepare_args(db, reference)).code, 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto flows_of = [](const fs::path& out) {
    std::string all = read_file(out / "labels.csv");
    for (const auto& line : lines_of(out / "labels.csv")) {
      if (line.rfind("dataset,", 0) != 0) all += read_file(out / field(line, 5));
    }
    return all;
  };
  std::mt19937 rng(18);
  std::uniform_real_distribution<double> when(0.1, std::max(0.2, seconds));
  for (int attempt = 0; attempt < 2; ++attempt) {
    const fs::path out = db.out("killed" + std::to_string(attempt));
    run_mer(prepare_args(db, out), {RLIM_INFINITY, when(rng)});
    const auto rerun = run_mer(prepare_args(db, out));
    ASSERT_EQ(rerun.code, 0) << rerun.output;
    EXPECT_EQ(flows_of(out), flows_of(reference));
  }
  const fs::path full = db.out("full");
  const auto failed = run_mer(prepare_args(db, full), {3000, -1});
  expect_clean_error(failed, {full.string(), "file too large"});
  EXPECT_TRUE(files_ending(full, ".tmp").empty());
  ASSERT_EQ(run_mer(prepare_args(db, full)).code, 0);
  EXPECT_EQ(flows_of(full), flows_of(reference));
}

}  // namespace
}  // namespace mer::reliability

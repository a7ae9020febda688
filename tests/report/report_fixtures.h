#pragma once
// Small finished runs made with the real `mer` binary (MER_BINARY) on the built-in synthetic
// set, shared by the report tests: STSTNet honest with seeds 1 and 2, STSTNet inner-val,
// STSTNet ORACLE, FR (which explains itself), and FR's fold models tested on a block-occluded
// copy of the data (`mer evaluate --on-other-data`). ctest runs each test in its own process
// (possibly two at once), so the runs are made once into a folder of the build tree under a
// file lock, and remade when the binary changes.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_runner.h"

namespace mer::report::testing {

struct SmallRuns {
  std::string root, data, occluded;
  std::string st1, st2, inner_val, oracle, fr, fr_on_block;
  std::vector<std::string> all() const { return {st1, st2, inner_val, oracle, fr, fr_on_block}; }
};

inline std::string fixture_stamp() {
  namespace fs = std::filesystem;
  const fs::path binary(MER_BINARY);
  std::ostringstream s;
  s << fs::file_size(binary) << " "
    << fs::last_write_time(binary).time_since_epoch().count() << " v3";
  return s.str();
}

// Returns the runs; on a failure to make them, `error` says which command failed.
inline SmallRuns small_runs(std::string& error) {
  namespace fs = std::filesystem;
  SmallRuns r;
  r.root = (fs::path(MER_BINARY).parent_path() / "tests" / "report-fixture").string();
  r.data = r.root + "/synth";
  r.occluded = r.root + "/synth-block30";
  r.st1 = r.root + "/st-s1";
  r.st2 = r.root + "/st-s2";
  r.inner_val = r.root + "/st-innerval-s1";
  r.oracle = r.root + "/st-oracle-s1";
  r.fr = r.root + "/fr-s1";
  r.fr_on_block = r.root + "/fr-s1-on-block30";
  fs::create_directories(fs::path(r.root).parent_path());
  const std::string lock_path = r.root + ".lock";
  const int lock = ::open(lock_path.c_str(), O_CREAT | O_RDWR, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
    error = "cannot lock " + lock_path;
    return r;
  }
  const std::string stamp_file = r.root + "/stamp";
  std::string stamp;
  if (std::ifstream in{stamp_file}) std::getline(in, stamp);
  if (stamp != fixture_stamp()) {
    fs::remove_all(r.root);
    fs::create_directories(r.root);
    const std::string synth = " --synth-subjects 4 --synth-samples 6 --quiet --threads 2";
    const std::vector<std::string> commands = {
        "loso" + synth + " --epochs 3 --seed 1 --out " + r.st1,
        "loso" + synth + " --epochs 3 --seed 2 --out " + r.st2,
        "loso" + synth + " --epochs 3 --seed 1 --protocol inner-val --out " + r.inner_val,
        "loso" + synth + " --epochs 3 --seed 1 --protocol oracle --out " + r.oracle,
        "loso" + synth + " --model fr --epochs 2 --seed 1 --out " + r.fr,
        "synth --synth-subjects 4 --synth-samples 6 --out " + r.data,
        "occlude --data " + r.data + " --kind block --block-ratio 0.3 --quiet --out " + r.occluded,
        "evaluate --run " + r.fr + " --data " + r.occluded + " --on-other-data --out " +
            r.fr_on_block,
    };
    for (const auto& c : commands) {
      const auto run = run_mer_binary(c);
      if (run.code != 0) {
        error = "mer " + c + " failed:\n" + run.output;
        ::close(lock);
        return r;
      }
    }
    std::ofstream(stamp_file) << fixture_stamp() << "\n";
  }
  ::close(lock);  // releases the lock
  return r;
}

}  // namespace mer::report::testing

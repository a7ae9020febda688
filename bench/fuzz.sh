#!/usr/bin/env bash
# Mutation fuzz of mer's file readers (issue 18) for as long as asked: labels.csv
# (read_prepared), .xlsx sheets (read_sheet), landmarks.csv (read_landmarks), dataset caches
# (read_dataset_cache) and checkpoints (load_checkpoint). Each reader runs SECONDS seconds on mutations of a valid file; every
# input must be read or refused with a mer::Error (tests/reliability/test_fuzz.cpp). Prints one
# line per reader: inputs tried, refused, read, unexpected (a crash stops the script with the
# failing reader named). CI runs the same tests with 300 inputs each.
#
#   bench/fuzz.sh [SECONDS=600] [SEED=1]
#
# Needs a build with tests: cmake --build build --target test_reliability
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
seed=${2:-1}
binary=${TEST_RELIABILITY:-build/tests/test_reliability}
[[ -x $binary ]] || { echo "fuzz.sh: $binary not built (cmake --build build --target test_reliability)" >&2; exit 2; }
for reader in LabelsCsvReader XlsxReader LandmarksCsvReader DatasetCacheReader CheckpointReader; do
  MER_FUZZ_SECONDS=$seconds MER_FUZZ_SEED=$seed "$binary" --gtest_filter="Fuzz.$reader" \
    | grep -E '^fuzz |FAILED|Failure' || { echo "fuzz.sh: $reader failed or crashed" >&2; exit 1; }
done

#!/usr/bin/env bash
# STSTNet LOSO on the real MEGC2019 composite: mer against the PyTorch reference
# (../shared/peers/ststnet_torch.py, honest protocol, --no-oracle) on the same machine, same
# epochs, 2 threads each. Prints both wall times, the ratio, peak memory (max RSS) and both
# UF1/UAR. Not run by CI (it takes a long time); results go in docs/benchmarks.md.
#
#   bench/loso_vs_pytorch.sh [EPOCHS=500] [THREADS=2] [FOLDS=0] [DATA=../shared/data/megc2019]
#
# FOLDS > 0 times only the first FOLDS subjects (same subjects, same order in both: sorted
# "dataset/subject" keys); the reference needs about 50 minutes for all 68 folds on 2 cores.
#
# Needs build/mer (scripts/bootstrap.sh) and, for the reference, Debian's python3-torch and
# python3-opencv (apt-get install python3-torch python3-opencv time).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-500}
threads=${2:-2}
folds=${3:-0}
data=${4:-../shared/data/megc2019}
peer=../shared/peers/ststnet_torch.py
out=$(mktemp -d /tmp/mer-bench-XXXXXX)
[ -x build/mer ] || { echo "build/mer missing: run scripts/bootstrap.sh" >&2; exit 1; }
[ -f "$data/labels.csv" ] || { echo "$data: no prepared dataset" >&2; exit 1; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; epochs $epochs, threads $threads, folds ${folds/#0/all}"
mer_folds=()
[ "$folds" -gt 0 ] && mer_folds=(--folds "$folds")

measure() {  # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$out/$label.time" "$@" > "$out/$label.log" 2>&1
  read -r seconds rss_kb < "$out/$label.time"
  echo "$label: ${seconds} s, peak RSS $((rss_kb / 1024)) MiB"
  eval "${label}_seconds=$seconds"
}

measure mer build/mer loso --model ststnet --data "$data" --epochs "$epochs" --threads "$threads" \
  --seed 1 --out "$out/run" --quiet "${mer_folds[@]}"
grep -E "^  (casme2|samm|smic|all) " "$out/mer.log" | sed 's/^/  mer /'

measure torch /usr/bin/python3 "$peer" --data "$data" --epochs "$epochs" --threads "$threads" \
  --seed 1 --no-oracle --folds "$folds"
grep -E "UF1" "$out/torch.log" | sed 's/^/  torch /'

awk -v a="$torch_seconds" -v b="$mer_seconds" 'BEGIN { printf "speed-up (torch / mer): %.2fx\n", a / b }'
echo "logs: $out"

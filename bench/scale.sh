#!/usr/bin/env bash
# Scale figures (issue 18) for docs/benchmarks.md: memory and time against the size of the work.
#   - LOSO on synthetic sets of 1x, 10x and 50x the MEGC2019 composite's 442 samples (68
#     subjects x 6.5, 680 subjects x 6.5, 680 subjects x 32.5 samples), STSTNet, EPOCHS epochs,
#     the first FOLDS folds: time per fold grows with the training set, memory with the data;
#   - `mer prepare` of N clips for each N in CLIPS: the 255 CASME II clips repeated (the clip
#     folders linked under new subject names), so that memory must stay flat and time linear.
# Peak memory and wall time from /usr/bin/time -v. Short on purpose (2 shared cores).
#
#   bench/scale.sh [OUT=runs/scale]
#
# Environment: MER (default build/mer), EPOCHS (default 1), FOLDS (default 8), CLIPS (default
# "255 1020 2040"; "" skips prepare), SKIP_LOSO=1 (prepare only), JOBS (prepare --jobs, default 2), CASME2 (default ../shared/data/casme2).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/scale}
mer=${MER:-build/mer}; epochs=${EPOCHS:-1}; folds=${FOLDS:-8}; clips=${CLIPS-255 1020 2040}
jobs=${JOBS:-2}; casme2=${CASME2:-../shared/data/casme2}
mkdir -p "$out"

# Prints "seconds peak_MB" of a command run under /usr/bin/time -v.
measure() {
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" > "$log.out" 2> "$log" || { cat "$log" "$log.out" >&2; exit 1; }
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')
  echo "$wall $(( rss / 1024 ))"
  rm -f "$log" "$log.out"
}

echo "| data | samples | folds trained | epochs | wall s | s per fold | peak MB |"
echo "|---|---|---|---|---|---|---|"
sizes=("1x 68 7" "10x 680 7" "50x 680 33")
[[ ${SKIP_LOSO:-0} == 1 ]] && sizes=()
for spec in "${sizes[@]}"; do
  read -r name subjects samples <<< "$spec"
  run="$out/loso-$name"; rm -rf "$run"
  read -r wall mb < <(measure "$mer" loso --synth-subjects "$subjects" --synth-samples "$samples" \
      --epochs "$epochs" --folds "$folds" --threads 2 --quiet --out "$run")
  echo "| synthetic $name ($subjects subjects x $samples) | $(( subjects * samples )) | $folds | $epochs | $wall | $(awk "BEGIN{printf \"%.2f\", $wall/$folds}") | $mb |"
done

# A CASME II tree with every clip repeated: subject sub(NN + 100 K) links to subNN's frames.
echo
echo "| clips | wall s | clips/s | peak MB | prepared | skipped |"
echo "|---|---|---|---|---|---|"
for n in $clips; do
  root="$out/frames-$n"; rm -rf "$root" "$out/prepared-$n"; mkdir -p "$root"
  sheet="$out/clips-$n.csv"
  head -1 "$casme2/clips.csv" > "$sheet"
  rows=$(( $(wc -l < "$casme2/clips.csv") - 1 ))
  for (( r = 0; r * rows < n; ++r )); do
    tail -n +2 "$casme2/clips.csv" | while IFS=, read -r subject rest; do
      # The adapter wants subject numbers: repeat r of sub01 is sub101, sub201, ...
      copy=$(printf 'sub%02d' $(( 10#${subject#sub} + 100 * r )))
      [[ -e "$root/$copy" ]] || ln -s "$(realpath "$casme2/frames/$subject")" "$root/$copy"
      echo "$copy,$rest"
    done
  done | head -n "$n" >> "$sheet"
  read -r wall mb < <(measure "$mer" prepare --dataset casme2 --root "$root" --annotations "$sheet" \
      --out "$out/prepared-$n" --jobs "$jobs" --quiet)
  prepared=$(( $(wc -l < "$out/prepared-$n/labels.csv") - 1 ))
  skipped=$(( $(wc -l < "$out/prepared-$n/skipped.csv") - 1 ))
  echo "| $n | $wall | $(awk "BEGIN{printf \"%.1f\", $n/$wall}") | $mb | $prepared | $skipped |"
done

#!/usr/bin/env bash
# `mer report` speed (issue 17: "< 2 s for 15 runs of 68 folds"): makes 15 LOSO runs of 68
# folds on the built-in synthetic set (STSTNet, FR and RRRN, 5 seeds each, 2 epochs: the page
# does not depend on how well they trained), then times the whole `mer report` process over
# them, explanation figures included, REPEAT times. Prints markdown for docs/benchmarks.md.
#
#   bench/report_speed.sh [OUT=runs/report-bench]
# Environment: MER (default build/mer), REPEAT (5).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/report-bench}
mer=${MER:-build/mer}
repeat=${REPEAT:-5}
[ -x "$mer" ] || { echo "$mer missing: build first" >&2; exit 1; }
mkdir -p "$out"

runs=()
for model in ststnet fr rrrn; do
  for seed in 1 2 3 4 5; do
    dir="$out/$model-s$seed"
    "$mer" loso --model "$model" --seed "$seed" --epochs 2 --synth-subjects 68 --quiet \
      --out "$dir" >/dev/null
    runs+=("$dir")
  done
done

times=()
for _ in $(seq "$repeat"); do
  start=$(date +%s.%N)
  line=$("$mer" report "${runs[@]}" --out "$out/report.html")
  end=$(date +%s.%N)
  times+=("$(echo "$end - $start" | bc -l)")
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
best=$(echo "$sorted" | head -1)
median=$(echo "$sorted" | sed -n "$(( (repeat + 1) / 2 ))p")
echo "| runs | folds per run | report | wall, best of $repeat | wall, median |"
echo "|---|---|---|---|---|"
printf '| %d | 68 | %s | %.2f s | %.2f s |\n' "${#runs[@]}" "${line#wrote }" "$best" "$median"

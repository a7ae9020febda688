#!/usr/bin/env bash
# Occlusion benchmark (issue 5) on flow-only data (MEGC2019 composite, flow-map occlusion:
# see `mer occlude` in the README): every model given (default: every registered model)
#   - trained clean under LOSO, then its fold models tested on clean / mask / glasses /
#     block 30% copies of the same samples (`mer evaluate --on-other-data`);
#   - trained and tested under LOSO on the mixed occluded set (one of mask, glasses, block 30%
#     per sample);
#   - for models whose explanations weigh facial regions (region_weights, component_action):
#     the mean weight of the regions under the occluder, occluded vs clean
#     (bench/occlusion_weights.py).
# Prints one markdown table for docs/benchmarks.md. Finished runs are reused (loso resumes),
# so the script can be interrupted and rerun. Not run by CI: a full run trains 2 LOSO runs
# of 68 folds per model.
#
#   bench/occlusion.sh [OUT=runs/occlusion] [DATA=../shared/data/megc2019] \
#       [LANDMARKS=runs/megc2019-landmarks.csv] [-- MODEL[=CLEAN_RUN] ...]
#
# MODEL=CLEAN_RUN reuses a finished clean run folder of that model (same data and landmarks).
# Environment: MER (binary, default build/mer), OCCLUDERS (default ../shared/data/occluders),
# SEED (occluder seed, default 1), LOSO_ARGS (extra `mer loso` arguments, e.g. "--folds 2
# --epochs 2" for a quick check; the same for every run), THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/occlusion}; data=${2:-../shared/data/megc2019}; landmarks=${3:-runs/megc2019-landmarks.csv}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
mer=${MER:-build/mer}
occluders=${OCCLUDERS:-../shared/data/occluders}
seed=${SEED:-1}; threads=${THREADS:-2}; loso_args=${LOSO_ARGS:-}
[ -x "$mer" ] || { echo "$mer missing: build first" >&2; exit 1; }
[ -f "$landmarks" ] || { echo "$landmarks missing: $mer landmarks --data $data --out $landmarks --jobs 2" >&2; exit 1; }
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  mapfile -t models < <("$mer" models | awk '/^[^ ]/ {print $1}')
fi
mkdir -p "$out/data"

# The occluded test sets and the mixed training set (deterministic: same seed, same sets).
for cond in mask glasses block30 mixed; do
  dir="$out/data/$cond"
  [ -f "$dir/labels.csv" ] && continue
  case $cond in
    block30) kind="--kind block --block-ratio 0.3" ;;
    *) kind="--kind $cond" ;;
  esac
  # shellcheck disable=SC2086
  "$mer" occlude --data "$data" --landmarks "$landmarks" $kind --seed "$seed" \
      --occluders "$occluders" --quiet --out "$dir"
done

for spec in "${models[@]}"; do
  model=${spec%%=*}
  clean=$out/$model-clean
  [ "$spec" != "$model" ] && clean=${spec#*=}
  if [ "$clean" = "$out/$model-clean" ]; then
    # shellcheck disable=SC2086
    "$mer" loso --model "$model" --data "$data" --landmarks "$landmarks" --threads "$threads" \
        --quiet --out "$clean" $loso_args >/dev/null
  fi
  for cond in clean mask glasses block30; do
    test_data=$data; [ $cond != clean ] && test_data=$out/data/$cond
    "$mer" evaluate --run "$clean" --data "$test_data" --landmarks "$landmarks" --on-other-data \
        --out "$out/$model-clean-on-$cond" >/dev/null
  done
  # shellcheck disable=SC2086
  "$mer" loso --model "$model" --data "$out/data/mixed" --landmarks "$landmarks" \
      --threads "$threads" --quiet --out "$out/$model-mixed" $loso_args >/dev/null
  for cond in mask glasses block30; do
    if [ -f "$out/$model-clean-on-$cond/explain.json" ]; then
      python3 bench/occlusion_weights.py --occluded "$out/$model-clean-on-$cond/explain.json" \
          --clean "$out/$model-clean-on-clean/explain.json" --masks "$out/data/$cond/occlusion" \
          --landmarks "$landmarks" --json "$out/$model-clean-on-$cond/region_weights.json" \
          >/dev/null 2>"$out/$model-clean-on-$cond/region_weights.log" || true
    fi
  done
done

python3 - "$out" "${models[@]}" <<'PY'
import json, os, sys
out, specs = sys.argv[1], sys.argv[2:]
def load(path):
    try:
        with open(path) as f: return json.load(f)
    except OSError: return None
print("\n| model | clean UF1 | mask UF1 (drop) | glasses UF1 (drop) | block 30% UF1 (drop) | "
      "mixed-trained UF1 | region weight under occluder, occluded / clean (mask; glasses; block) |")
print("|---|---|---|---|---|---|---|")
for spec in specs:
    model = spec.split("=")[0]
    s = {c: load(f"{out}/{model}-clean-on-{c}/summary.json") for c in ["clean", "mask", "glasses", "block30"]}
    mixed = load(f"{out}/{model}-mixed/summary.json")
    clean = s["clean"]["uf1"] if s["clean"] else None
    cells = []
    for c in ["mask", "glasses", "block30"]:
        if s[c] is None or clean is None: cells.append("-"); continue
        cells.append(f"{s[c]['uf1']:.4f} ({s[c]['uf1'] - clean:+.4f})")
    weights = []
    for c in ["mask", "glasses", "block30"]:
        w = load(f"{out}/{model}-clean-on-{c}/region_weights.json")
        if w is None: weights.append("-"); continue
        m = w["mean_weight_occluded_regions"]
        weights.append(f"{m['occluded']:.3f} / {m['clean']:.3f}")
    folds = s["clean"]["folds"] if s["clean"] else 0
    clean_text = "-" if clean is None else "%.4f" % clean
    mixed_text = "-" if mixed is None else "%.4f" % mixed["uf1"]
    print(f"| {model} ({folds} folds) | {clean_text} | {' | '.join(cells)} | {mixed_text} | "
          f"{'; '.join(weights)} |")
PY

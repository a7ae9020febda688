#!/usr/bin/env bash
# Occlusion benchmark (issue 5) on flow-only data (MEGC2019 composite, flow-map occlusion:
# see `mer occlude` in the README), and optionally on CASME II from its frames (frame
# occlusion, below): every model given (default: every registered model)
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
# --epochs 2" for a quick check; the same for every run), THREADS (default 2), and
# CASME2_FRAMES + CASME2_SHEET (e.g. ../shared/data/casme2/frames and
# ../shared/data/casme2/CASME2-coding-20190701.xlsx) to add the CASME II frame-occlusion
# benchmark (frames occluded by `mer occlude`, then `mer prepare`) under OUT/casme2, and
# SKIP_MEGC2019=1 to run only that half.
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

# One benchmark: TAG (runs under $out/TAG-...), the clean data, the folder holding the
# occluded sets (mask, glasses, block30, mixed), then extra `mer` data arguments (landmarks).
bench() {
  local tag=$1 clean_data=$2 sets=$3; shift 3
  local spec model clean cond test_data lm_args=("$@")
  for spec in "${models[@]}"; do
    model=${spec%%=*}
    clean=$out/$tag-$model-clean
    [ "$spec" != "$model" ] && [ "$tag" = megc2019 ] && clean=${spec#*=}
    if [ "$clean" = "$out/$tag-$model-clean" ]; then
      # shellcheck disable=SC2086
      "$mer" loso --model "$model" --data "$clean_data" "${lm_args[@]}" --threads "$threads" \
          --quiet --out "$clean" $loso_args >/dev/null
    fi
    for cond in clean mask glasses block30; do
      test_data=$clean_data; [ $cond != clean ] && test_data=$sets/$cond
      "$mer" evaluate --run "$clean" --data "$test_data" "${lm_args[@]}" --on-other-data \
          --out "$out/$tag-$model-clean-on-$cond" >/dev/null
    done
    # shellcheck disable=SC2086
    "$mer" loso --model "$model" --data "$sets/mixed" "${lm_args[@]}" \
        --threads "$threads" --quiet --out "$out/$tag-$model-mixed" $loso_args >/dev/null
    for cond in mask glasses block30; do
      local dir=$out/$tag-$model-clean-on-$cond
      if [ -f "$dir/explain.json" ] && [ -d "$sets/$cond/occlusion" ]; then
        local lm=()
        [ ${#lm_args[@]} -gt 0 ] && lm=(--landmarks "${lm_args[1]}")
        python3 bench/occlusion_weights.py --occluded "$dir/explain.json" \
            --clean "$out/$tag-$model-clean-on-clean/explain.json" --masks "$sets/$cond/occlusion" \
            "${lm[@]}" --json "$dir/region_weights.json" >/dev/null 2>"$dir/region_weights.log" || true
      fi
    done
  done
}
tags=()
if [ -z "${SKIP_MEGC2019:-}" ]; then
  bench megc2019 "$data" "$out/data" --landmarks "$landmarks"
  tags+=(megc2019)
fi

# CASME II from its frames (the occlusion the authors did: frames occluded, then flow), when
# CASME2_FRAMES and CASME2_SHEET are set: prepared clean and from each occluded frame set.
# Clips whose occluded frames lose the face in `mer prepare` are left out of that test set
# (`mer evaluate --on-other-data` counts them as missing_samples).
if [ -n "${CASME2_FRAMES:-}" ] && [ -n "${CASME2_SHEET:-}" ]; then
  c=$out/casme2
  mkdir -p "$c"
  [ -f "$c/clean/labels.csv" ] || "$mer" prepare --dataset casme2 --root "$CASME2_FRAMES" \
      --annotations "$CASME2_SHEET" --jobs "$threads" --quiet --out "$c/clean" >/dev/null
  for cond in mask glasses block30 mixed; do
    [ -f "$c/sets/$cond/labels.csv" ] && continue
    case $cond in
      block30) kind="--kind block --block-ratio 0.3" ;;
      *) kind="--kind $cond" ;;
    esac
    # shellcheck disable=SC2086
    "$mer" occlude --dataset casme2 --root "$CASME2_FRAMES" --annotations "$CASME2_SHEET" $kind \
        --seed "$seed" --occluders "$occluders" --jobs "$threads" --quiet --out "$c/frames-$cond" >/dev/null
    "$mer" prepare --dataset casme2 --root "$c/frames-$cond" --annotations "$CASME2_SHEET" \
        --jobs "$threads" --quiet --out "$c/sets/$cond" >/dev/null
  done
  bench casme2 "$c/clean" "$c/sets"
  tags+=(casme2)
fi

python3 - "$out" "${tags[*]}" "${models[@]}" <<'PY'
import json, os, sys
out, tags, specs = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
def load(path):
    try:
        with open(path) as f: return json.load(f)
    except OSError: return None
print("\n| data | model | clean UF1 | mask UF1 (drop) | glasses UF1 (drop) | block 30% UF1 (drop) | "
      "mixed-trained UF1 | region weight under occluder, occluded / clean (mask; glasses; block) |")
print("|---|---|---|---|---|---|---|---|")
for tag, spec in [(t, m) for t in tags for m in specs]:
    model = tag + "-" + spec.split("=")[0]
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
    print(f"| {tag} | {spec.split('=')[0]} ({folds} folds) | {clean_text} | {' | '.join(cells)} | {mixed_text} | "
          f"{'; '.join(weights)} |")
PY

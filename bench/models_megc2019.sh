#!/usr/bin/env bash
# Honest LOSO of a model on the real MEGC2019 composite over several seeds, plus ablations,
# timed; then one table of mean +- sd (UF1, UAR, per part) for docs/benchmarks.md. Not run by
# CI (one FR run takes about 10-20 minutes on 2 cores). Finished runs are kept under OUT and
# reused, so the script can be interrupted and rerun.
#
#   bench/models_megc2019.sh MODEL "SEEDS" [OUT=runs/bench] [THREADS=2] [DATA=../shared/data/megc2019] \
#       [-- ABLATION_NAME "--model-opt k=v ..." ...]
#
# e.g. bench/models_megc2019.sh fr "1 2 3" runs/bench 2 ../shared/data/megc2019 \
#        -- no-proposal "--model-opt proposal_weight=0" no-attention "--model-opt attention=none"
# Ablations run with the first seed. Needs build/mer and python3 (for the table).
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; seeds=$2; out=${3:-runs/bench}; threads=${4:-2}; data=${5:-../shared/data/megc2019}
shift $(( $# < 5 ? $# : 5 ))
[ "${1:-}" = "--" ] && shift
mer=${MER:-build/mer}
[ -x "$mer" ] || { echo "$mer missing: run scripts/bootstrap.sh" >&2; exit 1; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; model $model, seeds $seeds, threads $threads"

run() {  # name, seed, extra args
  local dir="$out/$model-$1-s$2"
  if [ -f "$dir/summary.json" ] && [ "$(python3 -c "import json;print(json.load(open('$dir/summary.json'))['folds'])" 2>/dev/null)" = 68 ]; then
    echo "$dir: finished earlier, kept"; return
  fi
  local start=$SECONDS
  # shellcheck disable=SC2086
  "$mer" loso --model "$model" --data "$data" --seed "$2" --threads "$threads" --out "$dir" --quiet $3 >/dev/null
  echo "$dir: $((SECONDS - start)) s"
  echo "$((SECONDS - start))" > "$dir/wall_seconds"
}
for s in $seeds; do run full "$s" ""; done
first=${seeds%% *}
while [ $# -ge 2 ]; do run "$1" "$first" "$2"; shift 2; done

python3 - "$out" "$model" <<'PY'
import json, glob, os, statistics as st, sys
out, model = sys.argv[1], sys.argv[2]
groups = {}
for d in sorted(glob.glob(f"{out}/{model}-*-s*")):
    f = os.path.join(d, "summary.json")
    if not os.path.exists(f): continue
    name = os.path.basename(d)[len(model) + 1:].rsplit("-s", 1)[0]
    groups.setdefault(name, []).append((d, json.load(open(f))))
def fmt(v): return f"{st.mean(v):.4f} +- {st.stdev(v):.4f}" if len(v) > 1 else f"{v[0]:.4f}"
print(f"\n| {model} variant | seeds | UF1 | UAR | casme2 UF1 | samm UF1 | smic UF1 | wall s |")
print("|---|---|---|---|---|---|---|---|")
for name, runs in groups.items():
    def col(path):
        vals = []
        for _, s in runs:
            m = s
            for p in path: m = m[p]
            vals.append(m)
        return vals
    walls = [open(os.path.join(d, "wall_seconds")).read().strip() for d, _ in runs if os.path.exists(os.path.join(d, "wall_seconds"))]
    print(f"| {name} | {len(runs)} | {fmt(col(['uf1']))} | {fmt(col(['uar']))} | "
          f"{fmt(col(['per_dataset','casme2','uf1']))} | {fmt(col(['per_dataset','samm','uf1']))} | {fmt(col(['per_dataset','smic','uf1']))} | {', '.join(walls)} |")
PY

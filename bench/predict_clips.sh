#!/usr/bin/env bash
# `mer predict` speed and the no-motion threshold (issue 16), on the CASME II frames in
# ../shared/data/casme2 (255 coded clips; 8 of them with every frame, the rest with their
# onset, apex and offset frames):
#   1. a deployable model to time: `mer train` STSTNet on the built-in synthetic set (28x28
#      maps; its weights are not trained on licensed data, and speed does not depend on them);
#   2. throughput of `mer predict --clips` over the 255 clips, onset and apex given, JOBS
#      parallel clips: clips/s after loading (what the command prints; goal >= 20 on 2 cores);
#   3. one-clip latency from process start: wall time of `mer predict --onset --apex` on one
#      clip, best and median of REPEAT runs (goal <= 1 s);
#   4. the motion statistics the no-motion guard's threshold rests on: the largest region
#      motion (motion_px) onset -> apex of every coded clip, against identical frames
#      (onset -> onset) and consecutive frames (onset -> onset+1, the 8 full clips).
# Prints markdown for docs/benchmarks.md.
#
#   bench/predict_clips.sh [OUT=runs/predict-bench]
# Environment: MER (default build/mer), CASME2 (default ../shared/data/casme2), JOBS (2),
# REPEAT (5).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/predict-bench}
mer=${MER:-build/mer}
casme=${CASME2:-../shared/data/casme2}
jobs=${JOBS:-2}; repeat=${REPEAT:-5}
[ -x "$mer" ] || { echo "$mer missing: build first" >&2; exit 1; }
[ -f "$casme/clips.csv" ] || { echo "$casme/clips.csv missing" >&2; exit 1; }
mkdir -p "$out"
frames=$(cd "$casme/frames" && pwd)

[ -f "$out/model/model.pt" ] || "$mer" train --model ststnet --quiet --out "$out/model" >/dev/null 2>&1
model="$out/model/model.pt"

# Lists: onset -> apex of every coded clip; onset -> onset; onset -> the next frame.
python3 - "$casme/clips.csv" "$frames" "$out" <<'PY'
import csv, os, sys
sheet, frames, out = sys.argv[1:4]
rows = list(csv.DictReader(open(sheet)))
with open(f"{out}/apex.csv", "w") as a, open(f"{out}/still.csv", "w") as s, open(f"{out}/next.csv", "w") as n:
    # No labels: the timed model is trained on the synthetic set's classes, not CASME II's.
    for f in (a, s, n): f.write("path,onset,apex\n")
    for r in rows:
        d = f"{frames}/{r['subject']}/{r['filename']}"
        a.write(f"{d},{r['onset']},{r['apex']}\n")
        s.write(f"{d},{r['onset']},{r['onset']}\n")
        nxt = int(r['onset']) + 1
        if os.path.exists(f"{d}/reg_img{nxt}.jpg"):
            n.write(f"{d},{r['onset']},{nxt}\n")
PY

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for list in apex still next; do
  "$mer" predict --checkpoint "$model" --clips "$out/$list.csv" --out "$out/$list" --jobs "$jobs" 2>/dev/null |
    sed "s/^/  [$list] /"
done

# One clip, from process start to the answer.
one=$(sed -n 2p "$out/apex.csv")
dir=${one%%,*}; rest=${one#*,}; onset=${rest%%,*}; rest=${rest#*,}; apex=${rest%%,*}
times=()
for _ in $(seq "$repeat"); do
  s=$(date +%s.%N)
  "$mer" predict --checkpoint "$model" --onset "$dir/reg_img$onset.jpg" --apex "$dir/reg_img$apex.jpg" >/dev/null
  e=$(date +%s.%N)
  times+=("$(echo "$e - $s" | bc -l)")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{t[NR]=$1} END {printf "  one clip from process start: best %.2f s, median %.2f s (%d runs)\n", t[1], t[int((NR+1)/2)], NR}'

python3 - "$out" <<'PY'
import csv, sys
out = sys.argv[1]
def motion(name):
    rows = [r for r in csv.DictReader(open(f"{out}/{name}/predictions.csv")) if r["status"] == "ok"]
    return sorted(float(r["motion_px"]) for r in rows)
def q(v, p): return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]
print("\n| onset -> ... | clips | min | 1% | 5% | median | max |")
print("|---|---|---|---|---|---|---|")
for name, label in (("apex", "apex (coded clips)"), ("next", "next frame (onset+1)"), ("still", "the onset itself")):
    v = motion(name)
    if v: print(f"| {label} | {len(v)} | {v[0]:.3f} | {q(v,.01):.3f} | {q(v,.05):.3f} | {q(v,.5):.3f} | {v[-1]:.3f} |")
PY

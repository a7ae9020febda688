#!/usr/bin/env python3
"""Mean explanation weight of the facial regions under the occluder, occluded vs clean.

For the occlusion benchmark (bench/occlusion.sh, docs/benchmarks.md): does a model that weighs
facial regions (RRRN's region_weights, DeRe-GRL's component_action, any per-region vector whose
labels map to landmark groups) give less weight to the regions an occluder hides?

Inputs:
  --occluded  explain.json of the clean-trained run tested on the occluded set
              (`mer evaluate --on-other-data --out DIR` writes DIR/explain.json), or of a run
              trained and tested on it
  --clean     explain.json of the same run on clean data (the run's own OUT/explain.json)
  --masks     the occluded set's occlusion/ folder (`mer occlude`): <dataset>_<subject>_<sample>.png,
              flow-map size, 255 = occluded
  --vector    the explain entry to read (default: region_weights, else component_action)
  --landmarks landmarks.csv of the data (face-crop pixels, `mer landmarks`), used when the
              explanation carries no per-sample "landmarks" (flow-map pixels)

Regions: model_info (explain.json) lists them as objects with "name" and "landmarks" (indices
into the 68 iBUG points) under any key ("regions", "components"); model_info.labels[vector]
names the vector's entries in order. A region is under the occluder in a sample when the mean
of its landmarks lies on a covered pixel or more than half of its landmarks' bounding box is
covered. A region without landmarks (e.g. "whole face") is never counted as occluded.

Output: one line per measurement and, with --json, the same figures as JSON:
  occluded: mean weight of occluded regions on the occluded set, n (sample, region) pairs
  clean:    mean weight of the same (sample, region) pairs on clean data
  also the share of the sample's total weight (weights / sum over regions), which compares
  models whose weights have different scales.
No third-party modules (PNG decoding included), so it runs wherever python3 does.
"""
import argparse
import csv
import json
import os
import struct
import sys
import zlib


def read_png_grey(path):
    """8-bit PNG (grey, grey+alpha, RGB or RGBA; non-interlaced) -> (width, height, rows of first channel)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(path + ": not a PNG file")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace != 0:
                raise ValueError(path + ": only 8-bit non-interlaced PNG is supported")
            channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
            if channels is None:
                raise ValueError(path + ": palette PNG not supported")
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line[0::channels]))
        prev = line
    return width, height, rows


def find_regions(model_info, vector):
    """[(name, landmark indices)] in the vector's order, from model_info."""
    names = (model_info.get("labels") or {}).get(vector)
    by_name = {}
    for value in model_info.values():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and "name" in item and "landmarks" in item:
                    by_name[item["name"]] = list(item["landmarks"])
    if names is None:
        raise SystemExit("model_info.labels has no entry '%s' (has: %s)"
                         % (vector, ", ".join((model_info.get("labels") or {}).keys())))
    return [(n, by_name.get(n, [])) for n in names]


def read_landmarks_csv(path, side):
    """landmarks.csv (face-crop pixels) -> {key: [(x, y)] in pixels of a side x side map}."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            scale = side / float(row["face_size"])
            pts = [((float(row["x%d" % i]) + 0.5) * scale - 0.5,
                    (float(row["y%d" % i]) + 0.5) * scale - 0.5) for i in range(68)]
            out["%s/%s/%s" % (row["dataset"], row["subject"], row["sample"])] = pts
    return out


def region_covered(points, mask, width, height):
    if not points:
        return False
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)
    ix, iy = int(round(cx)), int(round(cy))
    if 0 <= ix < width and 0 <= iy < height and mask[iy][ix]:
        return True
    x0 = max(0, int(round(min(p[0] for p in points))))
    x1 = min(width - 1, int(round(max(p[0] for p in points))))
    y0 = max(0, int(round(min(p[1] for p in points))))
    y1 = min(height - 1, int(round(max(p[1] for p in points))))
    if x1 < x0 or y1 < y0:
        return False
    total = (x1 - x0 + 1) * (y1 - y0 + 1)
    covered = sum(1 for y in range(y0, y1 + 1) for x in range(x0, x1 + 1) if mask[y][x])
    return covered * 2 > total


def flatten(value):
    if isinstance(value, list):
        out = []
        for v in value:
            out.extend(flatten(v))
        return out
    return [float(value)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--occluded", required=True)
    ap.add_argument("--clean", required=True)
    ap.add_argument("--masks", required=True)
    ap.add_argument("--vector", default="")
    ap.add_argument("--landmarks", default="")
    ap.add_argument("--json", default="", help="also write the figures to this file")
    args = ap.parse_args()

    with open(args.occluded) as f:
        occ = json.load(f)
    with open(args.clean) as f:
        clean = json.load(f)
    info = occ.get("model_info") or clean.get("model_info") or {}
    labels = info.get("labels") or {}
    vector = args.vector or ("region_weights" if "region_weights" in labels else "component_action")
    regions = find_regions(info, vector)
    clean_by_key = {s["key"]: s for s in clean["samples"]}
    landmarks_file = None

    sums = {"occ": 0.0, "clean": 0.0, "occ_share": 0.0, "clean_share": 0.0,
            "free_occ": 0.0, "free_clean": 0.0}
    n = n_free = samples = 0
    for s in occ["samples"]:
        key = s["key"]
        if key not in clean_by_key or vector not in s.get("explain", {}):
            continue
        mask_path = os.path.join(args.masks, key.replace("/", "_") + ".png")
        if not os.path.exists(mask_path):
            continue
        width, height, mask = read_png_grey(mask_path)
        if "landmarks" in s["explain"]:
            points = [tuple(p) for p in s["explain"]["landmarks"]]
        else:
            if not args.landmarks:
                raise SystemExit("the explanations carry no landmarks: give --landmarks")
            if landmarks_file is None:
                landmarks_file = read_landmarks_csv(args.landmarks, width)
            points = landmarks_file[key]
        w_occ = flatten(s["explain"][vector])
        w_clean = flatten(clean_by_key[key]["explain"][vector])
        if len(w_occ) != len(regions) or len(w_clean) != len(regions):
            raise SystemExit("%s: %d weights for %d regions" % (key, len(w_occ), len(regions)))
        tot_occ = sum(abs(v) for v in w_occ) or 1.0
        tot_clean = sum(abs(v) for v in w_clean) or 1.0
        samples += 1
        for r, (name, idx) in enumerate(regions):
            pts = [points[i] for i in idx]
            if region_covered(pts, mask, width, height):
                n += 1
                sums["occ"] += w_occ[r]
                sums["clean"] += w_clean[r]
                sums["occ_share"] += abs(w_occ[r]) / tot_occ
                sums["clean_share"] += abs(w_clean[r]) / tot_clean
            elif idx:
                n_free += 1
                sums["free_occ"] += w_occ[r]
                sums["free_clean"] += w_clean[r]
    if n == 0:
        raise SystemExit("no (sample, region) pair under an occluder: check --masks and the keys")
    result = {
        "vector": vector,
        "samples": samples,
        "occluded_pairs": n,
        "mean_weight_occluded_regions": {"occluded": sums["occ"] / n, "clean": sums["clean"] / n},
        "mean_share_occluded_regions": {"occluded": sums["occ_share"] / n,
                                        "clean": sums["clean_share"] / n},
        "mean_weight_visible_regions": {
            "occluded": sums["free_occ"] / n_free if n_free else None,
            "clean": sums["free_clean"] / n_free if n_free else None},
    }
    m, sh = result["mean_weight_occluded_regions"], result["mean_share_occluded_regions"]
    print("%s: %d samples, %d (sample, region) pairs under the occluder" % (vector, samples, n))
    print("  mean weight under the occluder: occluded %.4f  clean %.4f  (%s)"
          % (m["occluded"], m["clean"], "lower" if m["occluded"] < m["clean"] else "NOT lower"))
    print("  share of the sample's weight:   occluded %.4f  clean %.4f" % (sh["occluded"], sh["clean"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# All GPUs of one node at once: the same sweep measured with --resources gpu=1 and gpu=N, from
# scratch run folders, so points per minute and results can be compared.
#
# Usage (repository root; N >= 2 NVIDIA GPUs, nvcc, ncu):  tools/multi_gpu_scaling.sh OUT_DIR [N]
# On a lent nvidia-h100-x2 / -x4 (the copy there has no network; .carry/ from
# ../shared/device/prepare-carry.sh brings Snakemake):
#   source .carry/activate.sh && tools/multi_gpu_scaling.sh "$OUT"
#
# Per run (gpu=1, then gpu=N): build + provenance (not timed; the N run reuses the 1-GPU binary),
# then, timed, every GPU job of every point (bench.json, Nsight Compute pages, the Nsight Systems
# timeline where profilers.nsys is enabled). It prints points per minute for
# each, the ratio (target >= 0.9 N), which GPU ran what (the `gpu_slot` tags), and per point the
# N-GPU run's prefill/decode step_time (benchmark median) and ncu kernel durations against the
# 1-GPU run's, within noise = max(NOISE_PCT, the two runs' own repeat spread (max-min)/median).
# Writes OUT_DIR/scaling.md and scaling.json; exit 1 when a run failed or a result is off.
#
# Environment: SWEEP=scaling (default: the config's 7B base point over T x iters_fma, below) or a
# sweep of config/config.yaml; SCALING_T="1024 2048 4096 8192", SCALING_F="64 128 256 512";
# CORES (default nproc); NOISE_PCT (default 3); PYTHON (default python3).
set -uo pipefail
out=${1:?usage: tools/multi_gpu_scaling.sh OUT_DIR [N]}
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
n=${2:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')}
cores=${CORES:-$(nproc)}
sweep=${SWEEP:-scaling}
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
[ "$n" -ge 1 ] 2>/dev/null || { echo "multi_gpu_scaling: no GPU found (nvidia-smi -L)" >&2; exit 2; }
mkdir -p "$out"
nvidia-smi -L >"$out/gpus.txt" 2>&1
nvidia-smi --query-gpu=index,uuid,name,driver_version,clocks.max.sm --format=csv >>"$out/gpus.txt" 2>&1

slug=$($py -m pdprof.cli backend --config "$repo/config/config.yaml" \
  | $py -c 'import json,sys; d=json.load(sys.stdin); print(d["gpu_slug"] if d["kind"] == "cuda" else "")')
[ -n "$slug" ] || { echo "multi_gpu_scaling: backend is not cuda here" >&2; exit 2; }
echo "multi_gpu_scaling: $n x $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), sweep $sweep, $cores cores -> $out"

prepare() { # WORKDIR: config/ with the sweep to run
  mkdir -p "$1"
  rm -rf "$1/config"
  cp -r "$repo/config" "$1/config"
  SWEEP_NAME=$sweep $py - "$1/config/config.yaml" <<'EOF'
import os, sys, yaml
path = sys.argv[1]
cfg = yaml.safe_load(open(path))
name = os.environ["SWEEP_NAME"]
if name == "scaling":
    cfg["sweeps"]["scaling"] = {
        "base": cfg["sweeps"]["default"]["base"],
        "groups": [{
            "name": "t_x_fma",
            "T": [int(t) for t in os.environ.get("SCALING_T", "1024 2048 4096 8192").split()],
            "iters_fma": [int(f) for f in os.environ.get("SCALING_F", "64 128 256 512").split()],
        }],
    }
cfg["sweep"] = name
open(path, "w").write(yaml.safe_dump(cfg, sort_keys=False))
EOF
}

smk() { # WORKDIR GPUS TARGETS...  (targets first: --resources and --config take every word after them)
  local w=$1 gpus=$2
  shift 2
  $py -m snakemake -s "$repo/Snakefile" --directory "$w" --cores "$cores" "$@" \
    --resources gpu="$gpus" --config backend=cuda
}

status=0
for m in 1 "$n"; do
  w="$out/gpu$m"
  prepare "$w"
  bin="results/$slug/bin/prefill_decode_bench"
  prov="results/$slug/provenance.json"
  if [ "$m" = 1 ]; then
    smk "$w" 1 "$bin" "$prov" >"$w/setup.log" 2>&1 || { echo "gpu=$m: build failed, see $w/setup.log" >&2; exit 1; }
  else # same binary and provenance as the 1-GPU run: only the measurement differs
    mkdir -p "$w/results/$slug/bin"
    cp -p "$out/gpu1/$bin" "$w/$bin"
    cp -p "$out/gpu1/$prov" "$w/$prov"
  fi
  mapfile -t points < <($py -m pdprof.cli points --config "$w/config/config.yaml")
  nsys=$($py -c 'import sys, yaml; print(int(yaml.safe_load(open(sys.argv[1]))["profilers"]["nsys"]["enabled"]))' \
    "$w/config/config.yaml" 2>/dev/null || echo 0)
  targets=()
  for p in "${points[@]}"; do # every GPU job of a point: benchmark, Nsight Compute, Nsight Systems
    targets+=("results/$slug/runs/$p/bench.json" "results/$slug/runs/$p/ncu_raw.csv")
    [ "$nsys" = 1 ] && targets+=("results/$slug/runs/$p/nsys")
  done
  echo "gpu=$m: ${#points[@]} points, ${#targets[@]} GPU jobs ..."
  start=$(date +%s.%N)
  smk "$w" "$m" "${targets[@]}" >"$w/measure.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  echo "{\"gpus\": $m, \"points\": ${#points[@]}, \"seconds\": $($py -c "print($end - $start)"), \"exit\": $rc}" >"$w/timing.json"
  [ "$rc" = 0 ] || { echo "gpu=$m: snakemake exit $rc, see $w/measure.log" >&2; status=1; }
done

$py - "$out" "$slug" "$n" "${NOISE_PCT:-3}" <<'EOF' || status=1
import json, statistics, sys
from collections import Counter
from pathlib import Path

out, slug, n, noise_pct = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
runs = {m: out / f"gpu{m}" for m in (1, n)}
timing = {m: json.loads((w / "timing.json").read_text()) for m, w in runs.items()}
lines, ok = [], all(t["exit"] == 0 for t in timing.values())
rate = {m: 60 * t["points"] / t["seconds"] for m, t in timing.items()}
ratio = rate[n] / rate[1]
gpu_name = (out / "gpus.txt").read_text().splitlines()[0].split(":", 1)[1].split("(")[0].strip()
lines += [f"# Multi-GPU scaling: {n} x {gpu_name}", "",
          "| run | points | wall s | points/min | speed-up |", "|---|---|---|---|---|"]
for m, t in timing.items():
    lines.append(f"| --resources gpu={m} | {t['points']} | {t['seconds']:.1f} | {rate[m]:.2f} | "
                 f"{rate[m] / rate[1]:.2f}x |")
verdict = "PASS" if ratio >= 0.9 * n else "BELOW TARGET"
lines += ["", f"Speed-up {ratio:.2f}x with {n} GPUs = {ratio / n:.0%} of linear; target >= {0.9 * n:.1f}x: {verdict}", ""]

def runs_of(w):
    return {p.name: p for p in sorted((w / "results" / slug / "runs").iterdir()) if (p / "bench.json").is_file()}

def tags(w, name):
    found = []
    for d in runs_of(w).values():
        f = d / name
        if f.is_file():
            found.append(json.loads(f.read_text()).get("gpu_slot") or {})
    return found

for m, w in runs.items():
    used = Counter(f"{t.get('index')} {t.get('uuid')}" for name in ("bench.json", "ncu_command.json")
                   for t in tags(w, name))
    lines.append(f"gpu={m}: bench + ncu jobs per GPU (index uuid): " + ", ".join(f"{k}: {v}" for k, v in sorted(used.items())))
    if m == n and n > 1 and len(used) < n:
        lines.append(f"  only {len(used)} of {n} GPUs were used")
        ok = False
lines.append("")

def spread(t):
    return (t["ms_max"] - t["ms_min"]) / t["ms_median"]

one, many = runs_of(runs[1]), runs_of(runs[n])
lines += ["| point | phase | 1 GPU ms | N GPUs ms | diff | noise | ok |", "|---|---|---|---|---|---|---|"]
rows = []
for point in sorted(set(one) & set(many)):
    a = json.loads((one[point] / "bench.json").read_text())
    b = json.loads((many[point] / "bench.json").read_text())
    for phase in ("prefill", "decode"):
        diff = b[phase]["ms_median"] / a[phase]["ms_median"] - 1
        noise = max(noise_pct / 100, spread(a[phase]), spread(b[phase]))
        within = abs(diff) <= noise
        rows.append({"point": point, "phase": phase, "ms_1": a[phase]["ms_median"], "ms_n": b[phase]["ms_median"],
                     "diff": diff, "noise": noise, "within": within, "gpu_n": (b.get("gpu_slot") or {}).get("index")})
        lines.append(f"| {point} | {phase} | {a[phase]['ms_median']:.4f} | {b[phase]['ms_median']:.4f} | "
                     f"{diff:+.2%} | {noise:.1%} | {'yes' if within else 'NO'} |")
missing = sorted(set(one) ^ set(many))
if missing:
    lines.append(f"points in one run only: {', '.join(missing)}")
    ok = False
inside = sum(r["within"] for r in rows)
lines += ["", f"bench step_time: {inside} of {len(rows)} within noise; "
          f"median |diff| {statistics.median(abs(r['diff']) for r in rows):.2%}" if rows else "no bench results"]
ok = ok and bool(rows) and inside == len(rows)

ncu_rows = []
try:
    from pdprof import parse
    for point in sorted(set(one) & set(many)):
        med = []
        for d in (one[point], many[point]):
            f = parse.parse_file(d / "ncu_raw.csv", "ncu")
            dur = f[f["metric"] == "duration"]
            med.append({k: statistics.median(v) for k, v in dur.groupby("kernel_short")["value"]})
        for kernel in sorted(set(med[0]) & set(med[1])):
            ncu_rows.append({"point": point, "kernel": kernel, "ns_1": med[0][kernel], "ns_n": med[1][kernel],
                             "diff": med[1][kernel] / med[0][kernel] - 1})
    worst = max(ncu_rows, key=lambda r: abs(r["diff"])) if ncu_rows else None
    if worst:
        lines.append(f"ncu kernel durations: {len(ncu_rows)} compared, median |diff| "
                     f"{statistics.median(abs(r['diff']) for r in ncu_rows):.2%}, largest {worst['diff']:+.2%} "
                     f"({worst['kernel']} at {worst['point']})")
except Exception as exc:  # the bench comparison above is the verdict; this one is extra
    lines.append(f"ncu comparison skipped: {exc}")

text = "\n".join(lines) + "\n"
(out / "scaling.md").write_text(text)
(out / "scaling.json").write_text(json.dumps({"gpus": n, "gpu_name": gpu_name, "timing": timing,
    "points_per_min": rate, "speedup": ratio, "target": 0.9 * n, "bench": rows, "ncu": ncu_rows,
    "results_match": ok}, indent=2))
print(text, end="")
print("results match the 1-GPU run" if ok else "RESULTS DIFFER or a run failed (see above)")
sys.exit(0 if ok else 1)
EOF
exit $status

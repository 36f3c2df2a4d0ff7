"""Multi-GPU scaling report: the same sweep run with 1 and with N GPUs, compared.

tools/multi_gpu_scaling.sh runs the sweep twice from scratch folders (`gpu1/`, `gpuN/` under
OUT_DIR, each with `timing.json` and the pipeline's `results/<gpu>/runs/`) and then calls

    python -m pdprof.scaling OUT_DIR GPU_SLUG N [NOISE_PCT]

which writes OUT_DIR/scaling.md and scaling.json and prints the report: points per minute
and speed-up, which GPU ran which jobs (the `gpu_slot` tags), and per point the N-GPU run's
step times against the 1-GPU run's within noise = max(NOISE_PCT, either run's own repeat
spread). The 1-GPU run uses one card; a point the N-GPU run put on another card carries
that card's own speed. A difference shared by every point of one card and phase is a card
offset (reported, with the card); the results match when what is left after it is noise.
Exit 0 when they match and every run succeeded, 1 otherwise.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

PHASES = ("prefill", "decode")
# Points one card must run in a phase before a shared difference counts as that card's offset.
MIN_POINTS_FOR_OFFSET = 3


@dataclass
class PointDiff:
    point: str
    phase: str
    ms_1: float
    ms_n: float
    diff: float  # ms_n / ms_1 - 1
    noise: float
    gpu_n: int | None  # the card (index) that ran the point in the N-GPU run
    within: bool = False  # |diff - the card's offset| <= noise
    offset: float = 0.0


def repeat_spread(timing: dict) -> float:
    return (timing["ms_max"] - timing["ms_min"]) / timing["ms_median"]


def compare_points(one: dict[str, dict], many: dict[str, dict], noise_pct: float) -> list[PointDiff]:
    """Step times of the points both runs have (bench.json results by point id), phase by phase."""
    rows = []
    for point in sorted(set(one) & set(many)):
        a, b = one[point], many[point]
        for phase in PHASES:
            if not a.get(phase) or not b.get(phase):
                continue
            rows.append(
                PointDiff(
                    point=point,
                    phase=phase,
                    ms_1=a[phase]["ms_median"],
                    ms_n=b[phase]["ms_median"],
                    diff=b[phase]["ms_median"] / a[phase]["ms_median"] - 1,
                    noise=max(noise_pct / 100, repeat_spread(a[phase]), repeat_spread(b[phase])),
                    gpu_n=(b.get("gpu_slot") or {}).get("index"),
                )
            )
    return rows


def card_offsets(rows: list[PointDiff], baseline_gpu: int | None) -> dict[tuple[int | None, str], float]:
    """Median difference per (card, phase) of the N-GPU run, for cards other than the 1-GPU run's
    that ran enough points, where that median exceeds its points' noise; then every row's verdict
    is taken against its card's offset."""
    groups: dict[tuple[int | None, str], list[PointDiff]] = defaultdict(list)
    for row in rows:
        groups[(row.gpu_n, row.phase)].append(row)
    offsets = {}
    for (gpu, phase), members in groups.items():
        if gpu == baseline_gpu or len(members) < MIN_POINTS_FOR_OFFSET:
            continue
        median = statistics.median(r.diff for r in members)
        if abs(median) > statistics.median(r.noise for r in members):
            offsets[(gpu, phase)] = median
    for row in rows:
        row.offset = offsets.get((row.gpu_n, row.phase), 0.0)
        row.within = abs(row.diff - row.offset) <= row.noise
    return offsets


def gpu_slots(runs: dict[str, Path], benches: dict[str, dict]) -> Counter:
    """Jobs per GPU ("index uuid") from the gpu_slot tags of the bench results and ncu commands."""
    tagged = list(benches.values())
    tagged += [
        json.loads(path.read_text())
        for folder in runs.values()
        if (path := folder / "ncu_command.json").is_file()
    ]
    return Counter(
        f"{slot.get('index')} {slot.get('uuid')}" for slot in (t.get("gpu_slot") or {} for t in tagged)
    )


def point_runs(workdir: Path, slug: str) -> dict[str, Path]:
    runs = workdir / "results" / slug / "runs"
    return (
        {p.name: p for p in sorted(runs.iterdir()) if (p / "bench.json").is_file()} if runs.is_dir() else {}
    )


def ncu_durations(one: dict[str, Path], many: dict[str, Path]) -> list[dict]:
    """Median Nsight Compute duration per kernel and point in both runs."""
    from pdprof import parse

    rows = []
    for point in sorted(set(one) & set(many)):
        medians = []
        for folder in (one[point], many[point]):
            frame = parse.parse_file(folder / "ncu_raw.csv", "ncu")
            duration = frame[frame["metric"] == "duration"]
            medians.append({k: statistics.median(v) for k, v in duration.groupby("kernel_short")["value"]})
        for kernel in sorted(set(medians[0]) & set(medians[1])):
            rows.append({"point": point, "kernel": kernel, "ns_1": medians[0][kernel], "ns_n": medians[1][kernel],
                         "diff": medians[1][kernel] / medians[0][kernel] - 1})  # fmt: skip
    return rows


def report(out: Path, slug: str, n: int, noise_pct: float) -> tuple[str, dict, bool]:
    """The report's text, its JSON and whether the runs succeeded and their results match."""
    workdirs = {m: out / f"gpu{m}" for m in (1, n)}
    timing = {m: json.loads((w / "timing.json").read_text()) for m, w in workdirs.items()}
    ok = all(t["exit"] == 0 for t in timing.values())
    rate = {m: 60 * t["points"] / t["seconds"] for m, t in timing.items()}
    ratio = rate[n] / rate[1]
    gpu_name = (out / "gpus.txt").read_text().splitlines()[0].split(":", 1)[1].split("(")[0].strip()
    lines = [f"# Multi-GPU scaling: {n} x {gpu_name}", "",
             "| run | points | wall s | points/min | speed-up |", "|---|---|---|---|---|"]  # fmt: skip
    for m, t in timing.items():
        lines.append(
            f"| --resources gpu={m} | {t['points']} | {t['seconds']:.1f} | {rate[m]:.2f} | {rate[m] / rate[1]:.2f}x |"
        )
    verdict = "PASS" if ratio >= 0.9 * n else "BELOW TARGET"
    lines += [
        "",
        f"Speed-up {ratio:.2f}x with {n} GPUs = {ratio / n:.0%} of linear; target >= {0.9 * n:.1f}x: {verdict}",
        "",
    ]

    runs = {m: point_runs(w, slug) for m, w in workdirs.items()}
    benches = {
        m: {name: json.loads((folder / "bench.json").read_text()) for name, folder in runs[m].items()}
        for m in runs
    }
    for m in (1, n):
        used = gpu_slots(runs[m], benches[m])
        lines.append(
            f"gpu={m}: bench + ncu jobs per GPU (index uuid): "
            + ", ".join(f"{k}: {v}" for k, v in sorted(used.items()))
        )
        if m == n and n > 1 and len(used) < n:
            lines.append(f"  only {len(used)} of {n} GPUs were used")
            ok = False
    lines.append("")

    baseline, measured = benches[1], benches[n]
    baseline_gpus = {(b.get("gpu_slot") or {}).get("index") for b in baseline.values()}
    rows = compare_points(baseline, measured, noise_pct)
    offsets = card_offsets(rows, baseline_gpus.pop() if len(baseline_gpus) == 1 else None)
    lines += [
        "| point | phase | 1 GPU ms | N GPUs ms | diff | GPU | noise | ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.point} | {r.phase} | {r.ms_1:.4f} | {r.ms_n:.4f} | {r.diff:+.2%} | {r.gpu_n} | "
                     f"{r.noise:.1%} | {'yes' if r.within else 'NO'} |")  # fmt: skip
    missing = sorted(set(baseline) ^ set(measured))
    if missing:
        lines.append(f"points in one run only: {', '.join(missing)}")
        ok = False
    lines.append("")
    for (gpu, phase), offset in sorted(offsets.items(), key=str):
        count = sum(r.gpu_n == gpu and r.phase == phase for r in rows)
        lines.append(f"card offset: GPU {gpu} runs {phase} {offset:+.2%} against the 1-GPU run's card on all "
                     f"{count} of its points (a property of the card, taken out before the comparison)")  # fmt: skip
    inside = sum(r.within for r in rows)
    if rows:
        lines.append(f"bench step_time: {inside} of {len(rows)} within noise"
                     f"{' after card offsets' if offsets else ''}; median |diff| "
                     f"{statistics.median(abs(r.diff) for r in rows):.2%}")  # fmt: skip
    else:
        lines.append("no bench results")
    ok = ok and bool(rows) and inside == len(rows)

    ncu_rows: list[dict] = []
    try:
        ncu_rows = ncu_durations(runs[1], runs[n])
    except Exception as exc:  # the step-time comparison above is the verdict; this one is extra
        lines.append(f"ncu comparison skipped: {exc}")
    if ncu_rows:
        worst = max(ncu_rows, key=lambda r: abs(r["diff"]))
        lines.append(f"ncu kernel durations: {len(ncu_rows)} compared, median |diff| "
                     f"{statistics.median(abs(r['diff']) for r in ncu_rows):.2%}, largest {worst['diff']:+.2%} "
                     f"({worst['kernel']} at {worst['point']})")  # fmt: skip
    data = {"gpus": n, "gpu_name": gpu_name, "timing": timing, "points_per_min": rate, "speedup": ratio,
            "target": 0.9 * n, "bench": [asdict(r) for r in rows], "ncu": ncu_rows,
            "card_offsets": [{"gpu": g, "phase": p, "offset": o} for (g, p), o in offsets.items()],
            "results_match": ok}  # fmt: skip
    return "\n".join(lines) + "\n", data, ok


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print("usage: python -m pdprof.scaling OUT_DIR GPU_SLUG N [NOISE_PCT]", file=sys.stderr)
        return 2
    out, slug, n = Path(argv[0]), argv[1], int(argv[2])
    text, data, ok = report(out, slug, n, float(argv[3]) if len(argv) == 4 else 3.0)
    (out / "scaling.md").write_text(text)
    (out / "scaling.json").write_text(json.dumps(data, indent=2))
    print(text, end="")
    print("results match the 1-GPU run" if ok else "RESULTS DIFFER or a run failed (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

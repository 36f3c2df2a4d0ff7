"""Decode bandwidth per build and context length from a folder of benchmark JSON lines.

Each subfolder of FOLDER is one side-by-side run; its files are named BUILD-T.json (or
BUILD-T-nooverlap.json), as the session scripts of benchmarks/results/*/sweeps wrote them.

    python benchmarks/sweep_table.py benchmarks/results/kernels-h200-v4/sweeps
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

NAME = re.compile(r"(?P<build>.+?)-(?P<T>\d+)(?P<suffix>-nooverlap)?\.json")


def table(folder: Path) -> list[str]:
    rows: dict[str, dict[int, float]] = {}
    for path in sorted(folder.glob("*.json")):
        match = NAME.fullmatch(path.name)
        if not match:
            continue
        decode = json.loads(path.read_text())["decode"]
        build = match["build"] + (match["suffix"] or "")
        rows.setdefault(build, {})[int(match["T"])] = decode["bytes_per_s"] / 1e12
    lengths = sorted({T for by_T in rows.values() for T in by_T})
    lines = [f"{folder.name} (TB/s)", "  build".ljust(24) + "".join(f"T={T}".rjust(10) for T in lengths)]
    for build, by_T in rows.items():
        cells = "".join((f"{by_T[T]:.3f}" if T in by_T else "-").rjust(10) for T in lengths)
        lines.append(f"  {build}".ljust(24) + cells)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    for sub in sorted(p for p in args.folder.iterdir() if p.is_dir()):
        print("\n".join(table(sub)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

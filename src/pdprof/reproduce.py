"""Regenerate the published figures from the committed capture bundles and compare their data.

``published/<gpu>/<figure>.csv`` holds the numbers each published figure plots, made from
``captures/<gpu>/`` (published/README.md says how). :func:`reproduce` rebuilds the tidy dataset
from that bundle as the pipeline's tidy rule does (no GPU needed), redraws every figure into
``<out_root>/<gpu>/`` and compares each CSV with the published one: text and integer columns must
be equal, float columns equal within the relative tolerance that :data:`TOLERANCES` gives the
column. Any difference beyond it means the code, the captures or a library changed the figures.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pdprof import capture, dataset, plots
from pdprof.errors import PdprofError

# Relative tolerance per column (first matching pattern wins), documented in published/README.md.
TOLERANCES: dict[str, float] = {
    # Least-squares fits go through LAPACK, whose rounding may differ between numpy/BLAS builds.
    "fit_*": 1e-6,
    # Capture values, their medians, or one or two arithmetic operations on them: rounding only.
    "*": 1e-9,
}
REPRODUCED_FORMATS = ("png",)


@dataclass(frozen=True)
class Comparison:
    """One figure's data, published against reproduced: the worst column relative to its tolerance."""

    gpu: str
    figure: str
    rows: int
    column: str  # the worst column; "" when nothing differs
    difference: float  # relative; inf for a structural mismatch (missing file, rows, columns, labels)
    tolerance: float
    detail: str  # where the worst difference is

    @property
    def ok(self) -> bool:
        return self.difference <= self.tolerance

    def mismatch_line(self) -> str:
        where = f"{self.gpu}/{self.figure}.csv"
        if math.isinf(self.difference):  # a missing file, other rows or columns, a changed label
            return f"{where}: " + (f"column {self.column} differs at " if self.column else "") + self.detail
        return (
            f"{where}: column {self.column} differs by {_number(self.difference)} (relative) "
            f"> tolerance {self.tolerance:g}: {self.detail}"
        )


def tolerance(column: str) -> float:
    return next(tol for pattern, tol in TOLERANCES.items() if fnmatch.fnmatchcase(column, pattern))


def reproduce(
    captures_root: Path, published_root: Path, out_root: Path, thresholds: dict | None = None
) -> list[Comparison]:
    """Redraw the figures of every GPU under *published_root* from its capture bundle and compare."""
    gpus = sorted(path.name for path in Path(published_root).glob("*") if path.is_dir())
    if not gpus:
        raise PdprofError(f"{published_root}: no published figures (expected <gpu>/<figure>.csv)")
    comparisons = []
    for gpu in gpus:
        bundle = Path(captures_root) / gpu
        capture.verify(bundle)
        frame = replay_dataset(bundle)
        out_dir = Path(out_root) / gpu
        limits = plots.resolve_limits(frame, thresholds, calibration=bundle_calibration(bundle))
        plots.write_figures(frame, out_dir, limits, REPRODUCED_FORMATS)
        comparisons += compare_dirs(gpu, Path(published_root) / gpu, out_dir)
    return comparisons


def bundle_calibration(bundle: Path) -> dict | None:
    """The bundle's measured peaks (pdprof calibrate), where it has them, as the pipeline uses them."""
    path = bundle / "calibration.json"
    return json.loads(path.read_text()) if path.is_file() else None


def replay_dataset(bundle: Path) -> pd.DataFrame:
    """The bundle's tidy rows, made per point by the function the pipeline's tidy rule runs."""
    provenance = bundle / "provenance.json"
    if not provenance.is_file():
        raise PdprofError(f"{bundle}: no capture bundle (no provenance.json) to reproduce the figures from")
    runs = sorted(path.name for path in (bundle / "runs").iterdir() if path.is_dir())
    return dataset.tidy_runs(bundle, runs, bundle.name)  # bundle.name: the replay backend's slug


def compare_dirs(gpu: str, published: Path, reproduced: Path) -> list[Comparison]:
    """One comparison per figure drawn now or published then."""
    names = sorted(set(plots.FIGURES) | {path.stem for path in published.glob("*.csv")})
    return [
        _compare_figure(gpu, name, published / f"{name}.csv", reproduced / f"{name}.csv") for name in names
    ]


def _compare_figure(gpu: str, name: str, published: Path, reproduced: Path) -> Comparison:
    for path, what in ((published, "not published"), (reproduced, "no longer drawn")):
        if not path.is_file():
            return Comparison(gpu, name, 0, "", math.inf, 0.0, f"{what} ({path} missing)")
    old, new = pd.read_csv(published), pd.read_csv(reproduced)
    column, difference, tol, detail = compare_frames(old, new)
    return Comparison(gpu, name, len(new), column, difference, tol, detail)


def compare_frames(published: pd.DataFrame, reproduced: pd.DataFrame) -> tuple[str, float, float, str]:
    """(column, relative difference, tolerance, where) of the column furthest beyond its tolerance."""
    if list(published.columns) != list(reproduced.columns):
        return (
            "",
            math.inf,
            0.0,
            f"columns {list(published.columns)} published, {list(reproduced.columns)} now",
        )
    if len(published) != len(reproduced):
        return "", math.inf, 0.0, f"{len(published)} rows published, {len(reproduced)} now"
    worst = ("", 0.0, 0.0, "no difference")
    for column in published.columns:
        difference, tol, row = _column_difference(published[column], reproduced[column], tolerance(column))
        if _excess(difference, tol) > _excess(worst[1], worst[2]):
            worst = (column, difference, tol, _row_text(published, reproduced, column, row))
    return worst


def _column_difference(old: pd.Series, new: pd.Series, tol: float) -> tuple[float, float, int]:
    """(worst relative difference, tolerance applied, its row); labels and integers must match exactly."""
    exact = not (pd.api.types.is_float_dtype(old) or pd.api.types.is_float_dtype(new))
    if exact or not (pd.api.types.is_numeric_dtype(old) and pd.api.types.is_numeric_dtype(new)):
        differs = (old.astype(str) != new.astype(str)).to_numpy()
        return (math.inf, 0.0, int(differs.argmax())) if differs.any() else (0.0, 0.0, 0)
    a, b = old.to_numpy(float), new.to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
    relative[(a == b) | (np.isnan(a) & np.isnan(b))] = 0.0  # equal, both zero or both missing
    relative[np.isnan(relative)] = math.inf  # a number on one side only
    if relative.size == 0:
        return 0.0, tol, 0
    row = int(relative.argmax())
    return float(relative[row]), tol, row


def _excess(difference: float, tol: float) -> float:
    """How far beyond its tolerance a difference is; comparable across columns."""
    if difference == 0:
        return 0.0
    return math.inf if tol == 0 else difference / tol


def _row_text(published: pd.DataFrame, reproduced: pd.DataFrame, column: str, row: int) -> str:
    where = f"row {row + 1}" + (f" ({published['point'].iloc[row]})" if "point" in published else "")
    # tolist() gives Python scalars, whose repr is the plain number.
    return f"{where}: published {published[column].tolist()[row]!r}, reproduced {reproduced[column].tolist()[row]!r}"


def format_table(comparisons: Sequence[Comparison]) -> str:
    """Plain-text table, one line per figure."""
    header = ("gpu", "figure", "rows", "worst column", "rel. difference", "tolerance", "result")
    rows = [
        (c.gpu, c.figure, str(c.rows), c.column or "-", _number(c.difference), f"{c.tolerance:g}" if c.column else "-", "ok" if c.ok else "MISMATCH")
        for c in comparisons
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    )


def _number(value: float) -> str:
    return "0" if value == 0 else f"{value:.3g}"

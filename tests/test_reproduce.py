"""`pdprof reproduce`: the committed captures redraw the published figures; a changed number fails loudly."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pdprof import plots, reproduce
from pdprof.cli import main

REPO = Path(__file__).resolve().parents[1]
SLUG = "nvidia-h100-80gb-hbm3"
PUBLISHED = REPO / "published"


def run_reproduce(published: Path, out_dir: Path) -> int:
    argv = ["reproduce", "--captures", str(REPO / "captures"), "--published", str(published)]
    return main([*argv, "--out-dir", str(out_dir), "--config", str(REPO / "config" / "config.yaml")])


def test_reproduce_passes_on_the_committed_data(tmp_path, capsys):
    assert run_reproduce(PUBLISHED, tmp_path) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["gpu", "figure"]
    assert {line.split()[1] for line in table[1:]} == set(plots.FIGURES)
    assert all(line.endswith("ok") for line in table[1:])
    assert (tmp_path / SLUG / "roofline.png").is_file()


def test_a_published_number_changed_beyond_tolerance_fails_with_one_line(tmp_path, capsys):
    published = tmp_path / "published"
    shutil.copytree(PUBLISHED, published)  # perturb a copy, never the committed file
    path = published / SLUG / "decode_time_vs_T.csv"
    data = pd.read_csv(path)
    data.loc[2, "step_time_ns"] *= 1 + 1e-6
    data.to_csv(path, index=False)

    assert run_reproduce(published, tmp_path / "out") == 1
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        rf"pdprof reproduce: MISMATCH {SLUG}/decode_time_vs_T\.csv: column step_time_ns differs by "
        r"1e-06 \(relative\) > tolerance 1e-09: row 3 \(seed-\S+\): published [0-9.]+, reproduced [0-9.]+",
        lines[0],
    ), lines[0]


def test_tolerances_are_per_column():
    assert reproduce.tolerance("fit_slope_ns_per_T") == 1e-6
    assert reproduce.tolerance("step_time_ns") == 1e-9


def test_compare_frames_within_and_beyond_tolerance():
    old = pd.DataFrame({"point": ["a", "b"], "T": [1, 2], "fit_r2": [0.99, 0.99], "value": [1.0, 2.0]})
    assert reproduce.compare_frames(old, old.copy())[1] == 0
    within = old.assign(fit_r2=[0.99 * (1 + 1e-7), 0.99])
    column, difference, tolerance, _ = reproduce.compare_frames(old, within)
    assert column == "fit_r2" and difference <= tolerance
    beyond = old.assign(value=[1.0, 2.0 * (1 + 1e-6)])
    column, difference, tolerance, detail = reproduce.compare_frames(old, beyond)
    assert column == "value" and difference > tolerance and detail.startswith("row 2 (b)")


@pytest.mark.parametrize(
    "changed, expected",
    [
        (lambda d: d.assign(point=["a", "c"]), "column point"),
        (lambda d: d.assign(T=[1, 3]), "column T"),
        (lambda d: d.iloc[:1], "2 rows published, 1 now"),
        (lambda d: d.drop(columns="value"), "columns"),
        (lambda d: d.assign(value=[math.nan, 2.0]), "column value"),
    ],
)
def test_labels_integers_and_shape_must_match_exactly(changed, expected):
    old = pd.DataFrame({"point": ["a", "b"], "T": [1, 2], "value": [1.0, 2.0]})
    column, difference, tolerance, detail = reproduce.compare_frames(old, changed(old))
    assert difference == math.inf and expected in f"column {column} {detail}"


def test_a_figure_missing_on_either_side_is_a_mismatch(tmp_path):
    (tmp_path / "published").mkdir()
    (tmp_path / "now").mkdir()
    pd.DataFrame({"x": [1.0]}).to_csv(tmp_path / "published" / "retired.csv", index=False)
    comparisons = reproduce.compare_dirs(SLUG, tmp_path / "published", tmp_path / "now")
    assert {c.figure for c in comparisons} == {*plots.FIGURES, "retired"}
    assert not any(c.ok for c in comparisons)
    lines = {c.figure: c.mismatch_line() for c in comparisons}
    assert lines["roofline"].startswith(f"{SLUG}/roofline.csv: not published (")
    assert lines["retired"].startswith(f"{SLUG}/retired.csv: no longer drawn (")


def test_published_readme_states_every_tolerance():
    readme = (PUBLISHED / "README.md").read_text()
    for pattern, tolerance in reproduce.TOLERANCES.items():
        assert f"`{pattern}`" in readme and f"{tolerance:g}" in readme

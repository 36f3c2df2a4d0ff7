"""The HTML report of the committed H100 capture, figures embedded, opened in headless Chromium.

Chromium is Debian's `chromium` (.ci/run installs it); without it the browser test skips,
unless PDPROF_REQUIRE_TOOLCHAINS=1 (CI) makes a missing browser a failure.
"""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import _require
from PIL import Image

from pdprof import dataset, plots
from pdprof.cli import main
from pdprof.reproduce import replay_dataset

REPO = Path(__file__).resolve().parents[1]
SLUG = "nvidia-h100-80gb-hbm3"
WINDOW = (1280, 2000)
# Chromium's own chatter (D-Bus, GPU probing) also goes to stderr; page messages are "CONSOLE" lines.
CONSOLE_LINE = re.compile(r":CONSOLE[:(]")


@pytest.fixture(scope="module")  # module scope: set up before report_dir, so a skip costs nothing
def chromium() -> str:
    return _require("chromium")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """report.html of the committed capture, made by the CLI steps the pipeline's rules run."""
    root = tmp_path_factory.mktemp("report")
    parquet = root / "dataset.parquet"
    dataset.write_frame(replay_dataset(REPO / "captures" / SLUG), parquet)
    figures = str(root / "{gpu}" / "figures")
    assert main(["figures", str(parquet), "--out-dir", figures, "--format", "png"]) == 0
    report = str(root / "{gpu}" / "report")
    assert main(["validate", str(parquet), "--out-dir", report, "--figures-dir", figures]) == 0
    return root / SLUG / "report"


def test_figures_are_embedded_between_the_checks_and_the_points(report_dir):
    html = (report_dir / "report.html").read_text()
    order = [html.index(f'id="{section}"') for section in ("checks", "figures", "points", "provenance")]
    assert order == sorted(order)
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    pngs = [(report_dir.parent / "figures" / f"{name}.png").read_bytes() for name in plots.FIGURES]
    assert [base64.b64decode(data) for data in embedded] == pngs
    # self-contained: nothing to fetch, nothing to run
    assert not re.search(r'(src|href)="(?!data:|#)', html) and "<script" not in html


def test_markdown_links_the_figures_relatively(report_dir):
    markdown = (report_dir / "report.md").read_text()
    for name in plots.FIGURES:
        assert f"](../figures/{name}.png)" in markdown
    assert markdown.index("## Checks") < markdown.index("## Figures") < markdown.index("## Provenance")


def test_report_renders_in_headless_chromium(chromium, report_dir, tmp_path):
    screenshot = tmp_path / "report.png"
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={screenshot}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--enable-logging=stderr",
            "--v=0",
            (report_dir / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if CONSOLE_LINE.search(line)]
    assert console == [], console
    pixels = np.asarray(Image.open(screenshot).convert("RGB"), dtype=float)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    assert pixels.std() > 20, "screenshot is blank"
    # the figures' own colour (markers, fit lines) appears only if the embedded PNGs were decoded
    figure_blue = np.array([int(plots.PHASE_COLORS["prefill"][i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(pixels - figure_blue).max(axis=2) <= 8).sum() > 50, "no figure rendered"

"""Committed capture bundles read as a live run is: tidy rows, then validation with the bundle's
own calibration (the measured peaks of the card that made it)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pdprof import dataset, validate

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def points(bundle: Path) -> list[str]:
    return sorted(path.name for path in (bundle / "runs").iterdir())


def tidy_rows(bundle: Path) -> pd.DataFrame:
    return dataset.tidy_runs(bundle, points(bundle), bundle.name, timelines=True)


def checks_by_id(bundle: Path, rows: pd.DataFrame) -> dict[str, dict]:
    calibration = json.loads((bundle / "calibration.json").read_text())
    return {check["id"]: check for check in validate.validate(rows, calibration=calibration)["checks"]}

"""Which sweep points finished, which failed and why: for the report after a partial run.

A point failed when one of its raw outputs is missing after the run; its logs
say why (the one `pdprof <step>: error:` line each failing step wrote).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

# raw output of a point -> the step that writes it and where that step logs
STEP_OUTPUTS = {"bench.json": "bench", "ncu_raw.csv": "ncu"}


@dataclass(frozen=True)
class PointStatus:
    point: str
    status: str  # "ok" | "failed"
    failed_steps: tuple[str, ...]
    reason: str
    logs: tuple[str, ...]


def _error_line(log: Path) -> str:
    """The last error line a step wrote to its log, or '' when it wrote none."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line.strip() for line in lines if " error: " in line or line.startswith("==ERROR==")]
    return errors[-1] if errors else ""


def point_statuses(results: Path, raw_root: Path, points: list[str], ncu_enabled: bool) -> list[PointStatus]:
    expected = [name for name in STEP_OUTPUTS if ncu_enabled or name != "ncu_raw.csv"]
    statuses = []
    for point in points:
        missing = [name for name in expected if not (raw_root / "runs" / point / name).is_file()]
        steps = tuple(STEP_OUTPUTS[name] for name in missing)
        logs = tuple(str(results / "logs" / step / f"{point}.log") for step in steps)
        reasons = [line for line in map(_error_line, map(Path, logs)) if line]
        reason = "; ".join(reasons) if reasons else ("not run" if steps else "")
        statuses.append(PointStatus(point, "failed" if steps else "ok", steps, reason, logs))
    return statuses


def as_rows(statuses: list[PointStatus]) -> list[dict]:
    return [asdict(status) for status in statuses if status.status != "ok"]

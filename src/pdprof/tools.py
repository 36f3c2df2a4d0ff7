"""External tools (compilers, profilers): present, new enough, or one line saying how to get them."""

from __future__ import annotations

import re
import shutil
import subprocess

from pdprof.errors import PointFailed, ToolError

VERSION_TIMEOUT_S = 60


def version(argv: list[str], pattern: str) -> str:
    """The version a tool prints (first group of `pattern`), or '' where it cannot say."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = re.search(pattern, done.stdout + done.stderr)
    return match.group(1) if match else ""


def _as_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def require(tool: str, how_to_get: str, version_argv: list[str] | None = None,
            pattern: str = "", minimum: str = "") -> None:  # fmt: skip
    """Raise ToolError unless `tool` is on PATH and, where a minimum is given, at least that version."""
    if shutil.which(tool) is None:
        raise ToolError(f"{tool} not found on PATH: {how_to_get}")
    if not minimum:
        return
    found = version(version_argv or [tool, "--version"], pattern)
    if found and _as_tuple(found) < _as_tuple(minimum):
        raise ToolError(f"{tool} {found} is too old (need {minimum} or newer): {how_to_get}")


def run_tool(
    argv: list[str], timeout_s: float, what: str, how_to_get: str
) -> subprocess.CompletedProcess[str]:
    """Run a profiler (argv, never a shell) on a point, echoing its output into the job's log.

    A missing tool is a ToolError saying how to get it; running past the point's
    timeout is that point's failure (PointFailed), so the other points go on.
    """
    print("+ " + " ".join(argv), flush=True)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        raise ToolError(f"{argv[0]} not found on PATH: {how_to_get}") from None
    except subprocess.TimeoutExpired:
        raise PointFailed(f"{what} timed out after {timeout_s:g} s (run.timeout_s)") from None
    print(done.stdout + done.stderr, end="", flush=True)
    return done

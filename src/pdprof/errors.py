"""Exceptions that pdprof turns into one-line messages for the user.

Every error a user can cause derives from PdprofError, so a command-line entry
point can catch that one type and print its message without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class PdprofError(Exception):
    """Base of all user-facing pdprof errors; str() is the whole message."""


class ConfigError(PdprofError):
    """The pipeline configuration is invalid or points at something missing."""


class ToolError(PdprofError):
    """An external tool (compiler, nvidia-smi, profiler) is missing or failed."""


class ProfilerOutputError(PdprofError):
    """A profiler output file cannot be read or is not in a recognized format."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class PointFailed(PdprofError):
    """One sweep point crashed, hung or produced invalid output; other points go on."""


class DatasetError(PdprofError):
    """A dataset path is missing or holds no readable Parquet data."""

"""Provenance records the code revision, also where the work tree has no .git."""

from __future__ import annotations

import re

import pytest

from pdprof import provenance, tools
from pdprof.errors import ToolError


def test_git_revision_in_the_repository(repo, monkeypatch):
    monkeypatch.delenv("PDPROF_GIT_REV", raising=False)
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", provenance.git_revision(repo))


def test_git_revision_from_the_environment_outside_git(tmp_path, monkeypatch):
    monkeypatch.setenv("PDPROF_GIT_REV", "abc123")
    assert provenance.git_revision(tmp_path) == "abc123"
    monkeypatch.delenv("PDPROF_GIT_REV")
    assert provenance.git_revision(tmp_path) == ""


def test_tool_version_of_a_missing_tool_is_empty():
    assert tools.version(["no-such-tool-xyz", "--version"], r"(.*)") == ""


def test_a_missing_or_too_old_tool_is_one_line_saying_how_to_get_it(tmp_path, monkeypatch):
    fake = tmp_path / "ncu"
    fake.write_text(
        "#!/bin/sh\necho 'NVIDIA (R) Nsight Compute Command Line Profiler'\necho 'Version 2022.4.1.0'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match=r"^ncu 2022\.4\.1\.0 is too old \(need 2023\.1 or newer\): install"):
        tools.require("ncu", "install Nsight Compute", pattern=r"Version ([0-9.]+)", minimum="2023.1")
    tools.require("ncu", "install Nsight Compute", pattern=r"Version ([0-9.]+)", minimum="2022.4")
    with pytest.raises(ToolError, match="^nvcc not found on PATH: get CUDA$"):
        tools.require("nvcc", "get CUDA")

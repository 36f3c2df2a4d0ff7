"""Provenance records the code revision, also where the work tree has no .git."""

from __future__ import annotations

import re

from pdprof import provenance


def test_git_revision_in_the_repository(repo, monkeypatch):
    monkeypatch.delenv("PDPROF_GIT_REV", raising=False)
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", provenance.git_revision(repo))


def test_git_revision_from_the_environment_outside_git(tmp_path, monkeypatch):
    monkeypatch.setenv("PDPROF_GIT_REV", "abc123")
    assert provenance.git_revision(tmp_path) == "abc123"
    monkeypatch.delenv("PDPROF_GIT_REV")
    assert provenance.git_revision(tmp_path) == ""


def test_tool_version_of_a_missing_tool_is_empty():
    assert provenance.tool_version(["no-such-tool-xyz", "--version"], r"(.*)") == ""

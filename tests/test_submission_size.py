"""tools/submission_size.py counts a submission as its limits do: binary files whole on both sides."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "submission_size.py"
spec = importlib.util.spec_from_file_location("submission_size", TOOL)
submission_size = importlib.util.module_from_spec(spec)
spec.loader.exec_module(submission_size)

REPORT_BYTES = 300_000


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(
        ["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q")
    (tmp_path / "notes.txt").write_text("first line\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def test_a_report_replaced_in_place_counts_its_old_and_new_bytes(repo):
    base = git(repo, "rev-parse", "HEAD").strip()
    report = repo / "captures" / "ncu.ncu-rep"
    report.parent.mkdir()
    report.write_bytes(os.urandom(REPORT_BYTES) + b"\0")
    commit_all(repo, "capture")
    added = submission_size.commit_diff_bytes(base, "HEAD")
    assert REPORT_BYTES < added < REPORT_BYTES + 1000

    report.write_bytes(os.urandom(REPORT_BYTES) + b"\0")
    commit_all(repo, "recapture")
    assert submission_size.commit_diff_bytes("HEAD~1", "HEAD") > 2 * REPORT_BYTES


def test_text_counts_as_its_diff_not_the_whole_file(repo):
    (repo / "notes.txt").write_text("first line\n" * 5000 + "second\n")
    commit_all(repo, "long")
    (repo / "notes.txt").write_text("first line\n" * 5000 + "changed\n")
    commit_all(repo, "one line")
    assert submission_size.commit_diff_bytes("HEAD~1", "HEAD") < 1000


def test_exit_status_says_when_a_limit_is_exceeded(repo, monkeypatch, capsys):
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "r.bin").write_bytes(os.urandom(REPORT_BYTES) + b"\0")
    commit_all(repo, "capture")
    assert submission_size.main([base]) == 0
    monkeypatch.setattr(submission_size, "DIFF_LIMIT", REPORT_BYTES // 2)
    assert submission_size.main([base]) == 1
    assert "diffs: 0.3 MiB of 0 MiB (OVER THE LIMIT)" in capsys.readouterr().out


def test_without_a_base_it_counts_from_where_the_checkout_began(repo, capsys):
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "notes.txt").write_text("second line\n")
    commit_all(repo, "edit")
    assert submission_size.main([]) == 0
    assert f"1 commits since {first[:10]}" in capsys.readouterr().out


def test_an_empty_commit_counts_nothing(repo):
    git(repo, "commit", "-q", "--allow-empty", "-m", "empty")
    assert submission_size.commit_diff_bytes("HEAD~1", "HEAD") == 0


def test_an_unknown_base_is_one_line_and_exit_2(repo, capsys):
    assert submission_size.main(["no-such-rev"]) == 2
    assert capsys.readouterr().err.startswith("submission_size: git failed:")

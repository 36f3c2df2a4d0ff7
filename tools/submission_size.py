#!/usr/bin/env python3
"""How large the commits since BASE are, as a submission's limits count them.

A submission is refused whole when its commits pack to more than 512 MiB or when the diffs of
all its commits, added up as text, exceed 256 MiB. A file added in one commit and removed in a
later one counts twice, and so does a capture bundle replaced in place: its old files' removal
and the new files' addition. Capture bundles (an Nsight Compute report embeds the benchmark's
whole cubin) are what reach these limits, so run this before stopping a session that captured:

    python3 tools/submission_size.py [BASE]   # BASE: the commit the session started from
                                              # (default: where this branch's reflog begins)

Binary files count as their whole size on each side of a change (the old blob removed, the new
one added); text files as the bytes of their unified diff. Exit 1 when a limit is exceeded.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

MIB = 2**20
PACK_LIMIT = 512 * MIB
DIFF_LIMIT = 256 * MIB
WARN_FRACTION = 0.75  # leave room for what the rest of the session commits


def git(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], input=stdin, capture_output=True, check=True).stdout


def blob_sizes(blob_ids: set[str]) -> dict[str, int]:
    real = sorted(blob for blob in blob_ids if set(blob) != {"0"})
    if not real:
        return {}
    lines = git("cat-file", "--batch-check=%(objectname) %(objectsize)", stdin="\n".join(real).encode())
    return {name: int(size) for name, size in (line.split() for line in lines.decode().splitlines())}


def commit_diff_bytes(parent: str, commit: str) -> int:
    """Bytes of this commit's diff: text diffs as written, binary files whole, old and new."""
    text = len(git("diff", "--no-color", "--no-ext-diff", "-U0", parent, commit))
    binary_blobs: set[str] = set()
    numstat = git("diff", "--numstat", "-z", "--no-renames", parent, commit).split(b"\0")
    raw_text = git("diff", "--raw", "-z", "--no-renames", "--no-abbrev", parent, commit).rstrip(b"\0")
    raw = raw_text.split(b"\0") if raw_text else []
    binary_paths = {entry.split(b"\t", 2)[2] for entry in numstat if entry.startswith(b"-\t-\t")}
    # --raw -z: ":mode mode old new status\0path\0" for each changed file
    for header, path in zip(raw[0::2], raw[1::2], strict=True):
        if path in binary_paths:
            binary_blobs.update(header.decode().split()[2:4])
    return text + sum(blob_sizes(binary_blobs).values())


def pack_bytes(base: str) -> int:
    """The size of the thin pack that would send HEAD to a receiver that has BASE."""
    return len(git("pack-objects", "--revs", "--thin", "--stdout", "-q", stdin=f"HEAD\n^{base}\n".encode()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "base",
        nargs="?",
        help="the commit the submission starts from (the last one that landed); "
        "default: the oldest entry of this branch's reflog, where this checkout began",
    )
    args = parser.parse_args(argv)
    try:
        start = args.base or git("reflog", "show", "--format=%H", "HEAD").split()[-1].decode()
        base = git("rev-parse", "--verify", f"{start}^{{commit}}").decode().strip()
        commits = git("rev-list", "--reverse", "--first-parent", f"{base}..HEAD").decode().split()
    except subprocess.CalledProcessError as exc:
        print(f"submission_size: git failed: {exc.stderr.decode().strip()}", file=sys.stderr)
        return 2
    total = 0
    parent = base
    for commit in commits:
        size = commit_diff_bytes(parent, commit)
        total += size
        if size >= MIB:
            subject = git("log", "-1", "--format=%s", commit).decode().strip()
            print(f"{commit[:10]}  {size / MIB:8.1f} MiB  {subject[:70]}")
        parent = commit
    packed = pack_bytes(base)
    status = 0
    for name, value, limit in (("diffs", total, DIFF_LIMIT), ("pack", packed, PACK_LIMIT)):
        verdict = (
            "OVER THE LIMIT" if value > limit else "near the limit" if value > WARN_FRACTION * limit else "ok"
        )
        print(f"{name}: {value / MIB:.1f} MiB of {limit / MIB:.0f} MiB ({verdict})")
        status |= value > limit
    print(f"{len(commits)} commits since {base[:10]}")
    return int(status)


if __name__ == "__main__":
    sys.exit(main())

"""Tests of pdprof.report: formatting, section order, HTML escaping and atomic writes."""

from __future__ import annotations

import json
import math
import os

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdprof.report import format_number, render_html, render_markdown, write_reports
from pdprof.validate import validate

EVIL = "<script>alert('x')</script>"


def sample_result() -> dict:
    """A hand-built validation result with hostile strings and missing values."""
    return {
        "schema": "pdprof.validation/1",
        "gpu": ["nvidia-h100-80gb-hbm3"],
        "gpu_name": ["NVIDIA H100 80GB HBM3"],
        "summary": {"PASS": 1, "FAIL": 1, "WARN": 1, "SKIP": 1},
        "verdict": "FAIL",
        "checks": [
            {
                "id": "prefill_compute_bound",
                "phase": "prefill",
                "status": "PASS",
                "measured": 9.44,
                "unit": "×",
                "threshold": "SM/DRAM ≥ 2×",
                "explanation": "Prefill is compute bound.",
                "details": {},
            },
            {
                "id": "decode_memory_bound",
                "phase": "decode",
                "status": "WARN",
                "measured": 9.77,
                "unit": "×",
                "threshold": "DRAM/SM ≥ 2×",
                "explanation": "Neither unit is busy.",
                "details": {},
            },
            {
                "id": "decode_bandwidth_fraction",
                "phase": "decode",
                "status": "FAIL",
                "measured": 3.06,
                "unit": "% of peak",
                "threshold": "30 %–80 % of peak",
                "explanation": f"Kernel {EVIL} | reaches 103 GB/s.",
                "details": {},
            },
            {
                "id": "decode_linear_in_T",
                "phase": "decode",
                "status": "SKIP",
                "measured": None,
                "unit": "",
                "threshold": "R² ≥ 0.98 and slope > 0",
                "explanation": "Too few points.",
                "details": {},
            },
        ],
        "points": [
            {
                "point": EVIL,
                "variant": "seed",
                "L": 32,
                "H": 4096,
                "heads": 32,
                "kv_heads": 8,
                "T": 32768,
                "iters_fma": 256,
                "prefill_ms": 1.234,
                "decode_ms": None,
                "decode_GBps": 102.6,
                "prefill_sm_pct": 84.0,
                "prefill_dram_pct": 8.9,
                "decode_sm_pct": 0.13,
                "decode_dram_pct": 1.27,
            },
        ],
        "provenance": {"ncu_version": ["2025.3.1"], "git_rev": ["f680fd0", "abc1234"]},
    }


# --------------------------------------------------------------------------- format_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "—"),
        (math.nan, "—"),
        (math.inf, "∞"),
        (0, "0"),
        (0.0, "0"),
        (0.13, "0.13"),
        (1.2749, "1.27"),
        (84.0, "84"),
        (102.6, "103"),
        (999.7, "1,000"),
        (3352.4, "3,352"),
        (32768, "32,768"),
        (3.352e12, "3,352,000,000,000"),
        (-1234.5, "-1,234"),
        (1.5e-6, "1.5e-06"),
    ],
)
def test_format_number(value, expected):
    assert format_number(value) == expected


@given(st.one_of(st.none(), st.integers(), st.floats(allow_nan=True, allow_infinity=True)))
def test_format_number_never_fails_and_never_uses_exponent_for_large_values(value):
    text = format_number(value)
    assert text
    if isinstance(value, float) and math.isfinite(value) and abs(value) >= 100:
        assert "e" not in text


# --------------------------------------------------------------------------- rendering


def test_markdown_sections_in_order_and_cells_kept_in_table():
    md = render_markdown(sample_result())
    assert md.startswith("# pdprof validation — NVIDIA H100 80GB HBM3")
    assert "**Verdict: FAIL**" in md
    assert md.index("## Checks") < md.index("## Points") < md.index("## Provenance")
    assert md.index("decode_bandwidth_fraction") < md.index("## Points")
    assert "\\|" in md  # the pipe inside the explanation cannot split the row
    assert "| SKIP | decode_linear_in_T | decode | — |" in md
    assert "32,768" in md and "f680fd0, abc1234" in md


def test_html_is_self_contained_escaped_and_ordered():
    page = render_html(sample_result())
    assert '<meta charset="utf-8">' in page
    assert "<title>pdprof validation — NVIDIA H100 80GB HBM3</title>" in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "http://" not in page and "https://" not in page and "src=" not in page
    assert page.index('id="checks"') < page.index('id="points"') < page.index('id="provenance"')
    for status in ("pass", "fail", "warn", "skip"):
        assert f'<td class="status {status}">{status.upper()}</td>' in page
    assert '<td class="num">—</td>' in page  # missing decode_ms


def test_validate_output_renders_end_to_end(tmp_path):
    rows = [
        {
            "gpu": "g",
            "gpu_name": "Test GPU",
            "profiler": "bench",
            "point": EVIL,
            "variant": "seed",
            "L": 1,
            "H": 64,
            "heads": 1,
            "kv_heads": 1,
            "T": 16,
            "iters_fma": 8,
            "phase": phase,
            "kernel": phase,
            "launch": 0,
            "metric": "step_time",
            "value": 1000.0,
            "unit": "ns",
            "git_rev": "f680fd0",
        }
        for phase in ("prefill", "decode")
    ]
    result = validate(pd.DataFrame(rows))
    paths = write_reports(result, tmp_path)
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == result
    assert "<script" not in paths["html"].read_text(encoding="utf-8")
    assert "Test GPU" in paths["markdown"].read_text(encoding="utf-8")


# --------------------------------------------------------------------------- writing


def test_write_reports_creates_the_three_files(tmp_path):
    out = tmp_path / "results" / "nvidia-h100-80gb-hbm3"
    paths = write_reports(sample_result(), out)
    assert {kind: p.name for kind, p in paths.items()} == {
        "json": "validation.json",
        "markdown": "report.md",
        "html": "report.html",
    }
    assert all(p.is_file() and p.parent == out for p in paths.values())
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == sample_result()
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html",
        "report.md",
        "validation.json",
    ]  # no temp files


def test_failed_replace_leaves_no_report_and_no_temp_file(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_reports(sample_result(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_replace_keeps_the_previous_report(tmp_path, monkeypatch):
    write_reports(sample_result(), tmp_path)
    before = (tmp_path / "report.md").read_text(encoding="utf-8")
    changed = {**sample_result(), "verdict": "PASS"}

    def failing_replace(src, dst):
        raise OSError("boom")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_reports(changed, tmp_path)
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md", "validation.json"]


def test_nan_in_result_is_rejected_before_anything_is_written(tmp_path):
    bad = {**sample_result(), "summary": {"PASS": math.nan}}
    with pytest.raises(ValueError):
        write_reports(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_report_says_where_the_seed_note_is_wrong_before_provenance():
    markdown = render_markdown(sample_result())
    assert markdown.index("## Where the seed note is wrong") < markdown.index("## Provenance")
    assert "| 33,554,432 | 1,073,741,824 |" in markdown  # decode attention FLOPs: the factor L
    assert "| 12,884,901,376 | 12,884,901,888 |" in markdown  # 24·L·H², an arithmetic slip
    page = render_html(sample_result())
    assert page.index('id="seed-errata"') < page.index('id="provenance"')

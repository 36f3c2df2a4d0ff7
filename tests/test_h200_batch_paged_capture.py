"""Batched and paged decode as captured on a lent H200 (captures/nvidia-h200-batch_paged).

GPU-free: the bundle's raw tool outputs go through the same parse and validation as a live
run; what benchmarks/NOTES.md (v5) states about the batch and page-size axes is asserted here
from the files.
"""

from __future__ import annotations

import json

import pytest
from bundles import CAPTURES, points

from pdprof import plots
from pdprof.config import Point

BUNDLE = CAPTURES / "nvidia-h200-batch_paged"
POINTS = points(BUNDLE)
SHAPE = {"L": 32, "H": 4096, "heads": 32, "kv_heads": 8, "iters_fma": 256}


def rate(variant: str, T: int, batch: int = 1, page_size: int = 0) -> float:
    point = Point(variant=variant, T=T, batch=batch, page_size=page_size, **SHAPE)
    return json.loads((BUNDLE / "runs" / point.id / "bench.json").read_text())["decode"]["bytes_per_s"]


def test_every_point_ran_its_batch_and_page_size_and_matched_its_float64_reference():
    assert len(POINTS) == 13
    for name in POINTS:
        point = Point.from_id(name)
        result = json.loads((BUNDLE / "runs" / name / "bench.json").read_text())
        assert (result["params"]["batch"], result["params"]["page_size"]) == (point.batch, point.page_size)
        assert result["checks"]["decode_reference_rel_error"] < result["checks"]["reference_tolerance"]
        assert result["decode"]["tensor_cores"] is (point.variant != "kv_stream")


def test_a_paged_cache_streams_within_a_few_percent_of_contiguous_attention():
    for T in (4096, 32768):
        for page_size in (16, 64, 256):
            assert 0.95 <= rate("paged", T, page_size=page_size) / rate("attention", T) <= 1.02


def test_batching_amortizes_attention_per_layer_cost_until_it_streams_near_kv_stream():
    attention = [rate("attention", 4096, batch) for batch in (1, 4, 16)]
    assert attention[0] < attention[1] < attention[2]
    # One sequence waits on the per-layer chain (NOTES.md, v5); sixteen stream at >= 85 % of kv_stream.
    assert rate("attention", 4096) / rate("kv_stream", 4096) < 0.85
    assert rate("attention", 4096, 16) / rate("kv_stream", 4096, 16) >= 0.85


def test_every_decode_variant_is_bandwidth_bound_per_kernel(checks):
    for variant in ("kv_stream", "attention", "paged"):
        assert checks[f"decode_memory_bound[{variant}]"]["status"] == "PASS"


def test_the_batch_and_page_size_figures_plot_the_bench_numbers(rows):
    batch = plots.figure_data(rows, "decode_bandwidth_vs_batch")
    assert sorted(zip(batch["variant"], batch["batch"], strict=True)) == [
        (variant, size) for variant in ("attention", "kv_stream") for size in (1, 4, 16)
    ]
    for row in batch.itertuples():
        assert row.bandwidth_bytes_per_s == pytest.approx(rate(row.variant, 4096, row.batch), rel=1e-12)
    paged = plots.figure_data(rows, "paged_vs_page_size")
    assert len(paged) == 6
    for row in paged.itertuples():
        expected = rate("paged", row.T, page_size=row.page_size) / rate("attention", row.T)
        assert row.fraction_of_contiguous == pytest.approx(expected, rel=1e-12)

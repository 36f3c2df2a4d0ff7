"""benchmarks/kernels.py's side-by-side rows: attention of this version against a baseline's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "kernels.py"
spec = importlib.util.spec_from_file_location("kernels_table", SCRIPT)
kernels = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kernels)


def decode(bytes_per_s: float) -> dict:
    return {"decode": {"bytes_per_s": bytes_per_s}}


def test_baseline_rows_compare_each_attention_point_with_the_same_point_of_the_baseline():
    results, baseline = {}, {}
    for attention, stream, _ in kernels.ATTENTION_PAIRS:
        for T in kernels.DECODE_TS:
            results[kernels.point(attention, T).id] = decode(2.0e12)
            results[kernels.point(stream, T).id] = decode(2.5e12)
            baseline[kernels.point(attention, T).id] = decode(1.6e12 if T == 8192 else 2.0e12)
    rows = kernels.baseline_rows(results, baseline)
    assert len(rows) == 2 * len(kernels.DECODE_TS)
    by_shape = {(r["kernel"], r["shape"]): r for r in rows}
    fp8_8k = by_shape["attention_fp8 vs baseline", "fp8 T=8192"]
    assert fp8_8k["measured"] == "1.250x (2.000 vs 1.600 TB/s; 80.0% vs 64.0% of kv_stream_fp8)"
    assert fp8_8k["verdict"] == "n/a"
    assert by_shape["attention vs baseline", "bf16 T=2048"]["measured"].startswith("1.000x")

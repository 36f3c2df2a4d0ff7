"""benchmarks/fp8_convert_rate.py: its integer e4m3 -> f16 form is exact (emulated here bit for
bit), and its kernels compile for Hopper. The rates themselves need a GPU (run the script)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fp8_convert_rate.py"
spec = importlib.util.spec_from_file_location("fp8_convert_rate", SCRIPT)
fp8_convert_rate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fp8_convert_rate)


def exact_e4m3(code: np.ndarray) -> np.ndarray:
    """OCP e4m3 (bias 7, subnormals in steps of 2^-9), as kernels/kv_formats.h decodes it."""
    sign = np.where(code & 0x80, -1.0, 1.0)
    exponent, mantissa = (code >> 3) & 0xF, code & 0x7
    normal = (1 + mantissa / 8) * np.exp2(exponent.astype(float) - 7)
    return sign * np.where(exponent == 0, mantissa * 2.0**-9, normal)


def integer_pair(word: np.ndarray) -> np.ndarray:
    """The script's scaled_f16x2_of_e4m3x2: prmt 0x1404, shr 1, and 0x40004000, add."""
    placed = ((word & 0xFF) << 8) | (((word >> 8) & 0xFF) << 24)
    shifted = placed >> 1
    return (shifted + (shifted & 0x40004000)).astype(np.uint32)


def test_the_integer_form_is_every_e4m3_value_times_2_to_the_minus_8():
    words = np.arange(65536, dtype=np.uint32)
    halves = integer_pair(words).view(np.float16).astype(np.float64).reshape(-1, 2)
    codes = np.stack([words & 0xFF, (words >> 8) & 0xFF], axis=1)
    numeric = (codes & 0x7F) != fp8_convert_rate.E4M3_NAN
    assert np.array_equal((halves * 256)[numeric], exact_e4m3(codes)[numeric])
    # the signs of zero survive too: 0x80 is -0
    assert np.signbit(halves[0x80, 0]) and not np.signbit(halves[0, 0])


def test_the_kernels_compile_for_hopper_with_the_hardware_conversion(nvcc, tmp_path):
    source = tmp_path / "convert_rate.cu"
    source.write_text(fp8_convert_rate.SOURCE)
    ptx = tmp_path / "convert_rate.ptx"
    kernels = fp8_convert_rate.KERNELS
    subprocess.run(
        [nvcc, "-arch=sm_90", "-std=c++17", f"-I{kernels}", "-ptx", str(source), "-o", str(ptx)], check=True
    )
    text = ptx.read_text()
    for name, *_ in fp8_convert_rate.RATE_KERNELS:
        assert f".entry {name}(" in text
    assert "cvt.rn.f16x2.e4m3x2" in text and "prmt.b32" in text

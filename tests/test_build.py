"""The single-source benchmark compiles with nvcc 13 (CUDA) and hipcc (HIP), compile-only here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pdprof import build
from pdprof.errors import ToolError

SOURCE = Path(__file__).resolve().parents[1] / "kernels" / "prefill_decode_bench.cu"


def test_nvcc_builds_the_benchmark_for_hopper(nvcc, tmp_path):
    out = tmp_path / "bench"
    argv = build.build("cuda", SOURCE, out, "sm_90", ["-O3", "-std=c++17", "-lineinfo"])
    assert out.is_file() and out.stat().st_mode & 0o111
    assert "-arch=sm_90" in argv
    if shutil.which("cuobjdump"):  # it names the embedded cubins
        listing = subprocess.run(["cuobjdump", "--list-elf", str(out)], capture_output=True, text=True)
        assert "sm_90" in listing.stdout


# Decode attention's 7B-shape instances (4 query heads per KV head, head dim 128), bf16 and fp8.
ATTENTION_7B = [
    f"_Z{len(kernel)}{kernel}ILi4ELi128ELb0E{kv}E"
    for kernel in ("decode_attention_persistent_kernel", "decode_attention_mma_kernel")
    for kv in ("4Bf16", "7Fp8E4M3")
]


def test_attention_tile_math_for_hopper_takes_16_mma_per_tile_and_no_spills(nvcc, tmp_path):
    """K·qᵀ and P·V each one mma per 16 head dims on 8 columns (q's and P's hi and lo terms for
    4 heads), P transposed in registers (one movmatrix per 8-row half), nothing in local memory."""
    argv = ["nvcc", "-O3", "-std=c++17", "-arch=sm_90", "-cubin", "-Xptxas", "-v", "-keep",
            f"-keep-dir={tmp_path}", f"-I{SOURCE.parent}", str(SOURCE), "-o", str(tmp_path / "bench.cubin")]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    entries = (tmp_path / "prefill_decode_bench.ptx").read_text().split(".entry ")[1:]
    report = done.stdout + done.stderr  # ptxas -v: each entry's name, then its stack frame and spills
    spills = dict(
        re.findall(r"entry function '(\w+)'[^\n]*\n(?:[^\n]*\n)*?[^\n]*? (\d+) bytes spill stores", report)
    )
    for prefix in ATTENTION_7B:
        (body,) = [entry for entry in entries if entry.startswith(prefix)]
        assert body.count("mma.sync.aligned.m16n8k16") == 16, prefix
        assert body.count("movmatrix.sync.aligned.m8n8.trans.b16") == 2, prefix
        (spilled,) = [int(count) for name, count in spills.items() if name.startswith(prefix)]
        assert spilled == 0, prefix


def test_hipcc_builds_the_benchmark_for_gfx90a(hipcc, tmp_path):
    out = tmp_path / "bench_hip"
    build.build("hip", SOURCE, out, "gfx90a", ["-O3", "-std=c++17"])
    assert out.is_file() and out.stat().st_size > 0


def test_compiler_failure_leaves_no_binary(nvcc, tmp_path):
    broken = tmp_path / "broken.cu"
    broken.write_text("this is not C++\n")
    out = tmp_path / "bench"
    with pytest.raises(ToolError, match="nvcc failed"):
        build.build("cuda", broken, out, "sm_90", [])
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [broken]  # no temporary left behind either


def test_missing_compiler_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="hipcc not found on PATH: install ROCm's hipcc"):
        build.build("hip", SOURCE, tmp_path / "x", "gfx90a", [])


def test_compile_command_is_an_argument_list():
    argv = build.compile_command("hip", SOURCE, Path("out"), "gfx942", ["-O3"])
    assert argv[0] == "hipcc" and "--offload-arch=gfx942" in argv and argv[-2:] == ["-o", "out"]


def test_kv_storage_formats_round_trip_on_the_host(nvcc, tmp_path):
    """fp8 e4m3 / bf16 coding in kernels/kv_formats.h, which the float64 reference relies on."""
    repo = SOURCE.parents[1]
    out = tmp_path / "formats_check"
    argv = [
        "nvcc",
        "-std=c++17",
        f"-I{repo / 'kernels'}",
        str(repo / "tests" / "kernel_host" / "formats_check.cu"),
    ]
    subprocess.run([*argv, "-o", str(out)], check=True, capture_output=True, timeout=300)
    done = subprocess.run([str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip() == "ok"


def test_benchmark_variants_match_the_schema_and_the_python_table(nvcc, tmp_path):
    """kVariants in the .cu, the config schema's enum and pdprof.variants name the same variants
    (gemm runs in the CuPy runner only)."""
    import yaml

    from pdprof import variants

    out = tmp_path / "bench"
    build.build("cuda", SOURCE, out, "sm_90", ["-O3", "-std=c++17"])
    done = subprocess.run([str(out), "--help"], capture_output=True, text=True, timeout=60)  # no GPU call
    assert done.returncode == 2
    listed = next(line for line in done.stderr.splitlines() if line.startswith("variants: "))
    in_binary = listed.removeprefix("variants: ").split(", ")
    schema = yaml.safe_load((SOURCE.parents[1] / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert schema["$defs"]["variant_name"]["enum"] == list(variants.VARIANTS)
    assert in_binary == [name for name, spec in variants.VARIANTS.items() if spec.runner == "binary"]


def test_without_nvcc_but_with_cupy_the_build_is_an_nvrtc_launcher(monkeypatch, tmp_path):
    """The NVRTC runner takes the benchmark's flags: bad ones exit 2 before CuPy is even imported."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvcc
    monkeypatch.setattr(build.importlib.util, "find_spec", lambda name: object() if name == "cupy" else None)
    out = tmp_path / "bench"
    assert build.build("cuda", SOURCE, out, "sm_90", ["-O3"])[1:] == ["-m", "pdprof.cupy_bench"]
    assert out.stat().st_mode & 0o111
    done = subprocess.run(
        [str(out), "--T", "-5"], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == 2
    assert "--T: needs a positive integer, got '-5'" in done.stderr
    done = subprocess.run(
        [str(out), "--variant", "gemm", "--heads", "5"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "--H must be divisible by --heads" in done.stderr

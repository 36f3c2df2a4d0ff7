"""The benchmark's kernel variants (kVariants in kernels/prefill_decode_bench.cu), for the Python side.

A variant picks the kernel of each phase; a variant without a kernel for a phase does not
run it. The config schema's variant enum and the benchmark's own list are tested to equal
VARIANTS, so the three cannot drift apart.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

DECODE_THREADS = 256  # kDecodeThreads: the split merge gives each thread of a block one head dim


@dataclass(frozen=True)
class Variant:
    phases: tuple[str, ...]
    kv_bytes: int  # bytes per K/V element (decode variants)
    per_layer_kv: bool  # a distinct K/V per layer (the seed reuses one for all layers)
    group_sizes: tuple[int, ...] | None  # heads/kv_heads the kernel supports; None: any
    elements_per_thread: int  # K/V elements one thread loads per row (head_dim constraint)
    runner: str = "binary"  # "binary": kernels/prefill_decode_bench.cu; "cupy": pdprof.cupy_bench only
    batched: bool = False  # decodes a batch of sequences (the batch axis applies)
    paged: bool = False  # K/V in pages reached through a page table (the page_size axis applies)


# What each kernel does: config/README.md.
VARIANTS = {
    "seed": Variant(("prefill", "decode"), 4, False, None, 1),
    "fma_ilp": Variant(("prefill",), 0, False, None, 1),
    "kv_stream": Variant(("decode",), 2, True, None, 8, batched=True),
    "kv_stream_fp8": Variant(("decode",), 1, True, None, 16, batched=True),
    "attention": Variant(("decode",), 2, True, (1, 2, 4, 8), 8, batched=True),
    "attention_fp8": Variant(("decode",), 1, True, (1, 2, 4, 8), 8, batched=True),
    "graph": Variant(("decode",), 2, True, None, 8, batched=True),
    "paged": Variant(("decode",), 2, True, (1, 2, 4, 8), 8, batched=True, paged=True),
    "gemm": Variant(("prefill",), 0, False, None, 1, runner="cupy"),
}
# The CuPy runner: NVRTC where nvcc is missing (pdprof.build), and every "cupy" variant.
CUPY_RUNNER = [sys.executable, "-m", "pdprof.cupy_bench"]


def program(binary: str | Path, variant: str) -> list[str]:
    """The argv prefix that runs *variant*: the compiled benchmark, or the CuPy runner for its variants."""
    if VARIANTS[variant].runner == "cupy":
        return list(CUPY_RUNNER)
    return [str(binary)]


# Page size of variant paged where a sweep gives none (kDefaultPageSize, vLLM's default block size).
DEFAULT_PAGE_SIZE = 16


def applicable_axes(variant: str, batch: int, page_size: int) -> tuple[int, int]:
    """batch and page_size as they apply to *variant*: a variant that decodes no batch runs one
    sequence, one without pages has page size 0, and paged without one gets DEFAULT_PAGE_SIZE
    (so a sweep crossing these axes with other variants gives each its meaningful points)."""
    spec = VARIANTS[variant]
    if not spec.paged:
        page_size = 0
    elif page_size == 0:
        page_size = DEFAULT_PAGE_SIZE
    return (batch if spec.batched else 1), page_size


def page_size_problem(variant: str, page_size: int) -> str | None:
    """Why the variant cannot use this page size (a power of two from 8 to 4096), or None."""
    if VARIANTS[variant].paged and not (8 <= page_size <= 4096 and page_size & (page_size - 1) == 0):
        return f"variant {variant} needs a page_size that is a power of two from 8 to 4096, got {page_size}"
    return None


def shape_problem(variant: str, H: int, heads: int, kv_heads: int) -> str | None:
    """Why the variant's kernels cannot run this shape, or None."""
    spec = VARIANTS[variant]
    head_dim = H // heads
    lanes = head_dim // spec.elements_per_thread
    low, high = 2 * spec.elements_per_thread, min(32 * spec.elements_per_thread, DECODE_THREADS)
    if spec.elements_per_thread > 1 and (
        head_dim % spec.elements_per_thread or lanes < 2 or head_dim > high or lanes & (lanes - 1)
    ):
        return f"variant {variant} needs a head dim (H/heads) that is a power of two from {low} to {high}, got {head_dim}"
    if spec.group_sizes and heads // kv_heads not in spec.group_sizes:
        sizes = ", ".join(map(str, spec.group_sizes))
        return f"variant {variant} needs heads/kv_heads in {{{sizes}}}, got {heads // kv_heads}"
    return None

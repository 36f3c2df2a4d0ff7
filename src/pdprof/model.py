"""Exact analytic model of transformer inference: FLOPs, bytes moved, intensity, roofline time.

Notation of the seed note: L layers, hidden size H, h query heads, h_kv KV heads (GQA), head
dimension d = H/h, context T, batch B, s bytes per element. All FLOP and byte counts are Python
ints (exact at any size); only times and ratios are floats. One FMA counts as 2 FLOPs.

Per token and layer (linear layers):

- QKV projection 2·H·(H + 2·h_kv·d): Q has h heads, K and V have h_kv heads each;
- output projection 2·H²;
- MLP 2·p·H·ffn with p projections (2: up/down with GELU, 3: gated SiLU) of width ffn
  (default 4·H, the seed's 16·H²). With h_kv = h and the default MLP this is the seed's 24·H².

Attention: prefill of T tokens costs 2·T²·d·h for QKᵀ plus 2·T²·d·h for the product with V
per layer and sequence, 4·L·T²·d·h in all; ``causal=True`` halves it (the convention of
FlashAttention's FLOP counts: the masked upper triangle is skipped). A decoded token attends to
the T cached tokens: 4·L·T·d·h.

Bytes moved (what crosses the DRAM interface, assuming perfect on-chip reuse within a kernel):

- weights: every parameter once per forward pass (prefill once, decode once per step, shared by
  the batch); parameters are the linear layers' weights (embeddings, norms and biases omitted);
- activations: each layer reads its B·tokens×H input and writes its output once
  (2·L·B·tokens·H·s); intermediate tensors (QKV, MLP hidden, attention scores) are assumed fused
  or cache-resident, as in FlashAttention-style kernels;
- KV cache: prefill writes 2·L·T·d·h_kv·s per sequence; a decode step reads the whole cached
  context, 2·L·T·d·h_kv·s per sequence, and appends one token's K and V (2·L·d·h_kv·s).

Predicted time is the roofline bound max(FLOPs / peak FLOP/s, bytes / peak bandwidth) on
measured ceilings (a calibration) or, as fallback, the vendor datasheet.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pdprof.errors import PdprofError

SCHEMA = "pdprof.model/1"
DTYPE_NAMES = {1: "fp8", 2: "bf16", 4: "fp32"}
SEED_KERNEL_ELEMENT_BYTES = 4  # the seed's kernels compute and store fp32

# Vendor datasheet peaks (dense, no sparsity), used only when no calibration is given:
# NVIDIA H100 Tensor Core GPU datasheet (H100 SXM5: 3.35 TB/s HBM3, 989 TFLOPS BF16,
#   1,979 TFLOPS FP8, 67 TFLOPS FP32);
# NVIDIA H200 Tensor Core GPU datasheet (H200 SXM: 4.8 TB/s HBM3e, same compute as H100 SXM);
# NVIDIA A100 Tensor Core GPU datasheet (A100 80GB SXM: 2,039 GB/s HBM2e, 312 TFLOPS BF16,
#   19.5 TFLOPS FP32, no FP8);
# AMD Instinct MI250X datasheet (3.2768 TB/s HBM2e, 383 TFLOPS BF16, 47.9 TFLOPS FP32 vector);
# AMD Instinct MI300X datasheet (5.3 TB/s HBM3, 1,307.4 TFLOPS BF16, 2,614.9 TFLOPS FP8,
#   163.4 TFLOPS FP32 vector).
DATASHEETS: dict[str, dict[str, Any]] = {
    "h100-sxm": {
        "name": "NVIDIA H100 SXM5",
        "dram_bytes_per_s": 3.35e12,
        "flops_per_s": {"fp8": 1979e12, "bf16": 989e12, "fp32": 67e12},
    },
    "h200": {
        "name": "NVIDIA H200 SXM",
        "dram_bytes_per_s": 4.8e12,
        "flops_per_s": {"fp8": 1979e12, "bf16": 989e12, "fp32": 67e12},
    },
    "a100-80gb": {
        "name": "NVIDIA A100 80GB SXM",
        "dram_bytes_per_s": 2.039e12,
        "flops_per_s": {"bf16": 312e12, "fp32": 19.5e12},
    },
    "mi250x": {
        "name": "AMD Instinct MI250X",
        "dram_bytes_per_s": 3.2768e12,
        "flops_per_s": {"bf16": 383e12, "fp32": 47.9e12},
    },
    "mi300x": {
        "name": "AMD Instinct MI300X",
        "dram_bytes_per_s": 5.3e12,
        "flops_per_s": {"fp8": 2614.9e12, "bf16": 1307.4e12, "fp32": 163.4e12},
    },
}
# Device names as the driver reports them -> datasheet key (PCIe cards have other peaks: no match).
_DEVICE_NAME_PATTERNS = (
    (re.compile(r"H100.*(SXM|HBM3)", re.I), "h100-sxm"),
    (re.compile(r"H200", re.I), "h200"),
    (re.compile(r"A100.*SXM.*80GB", re.I), "a100-80gb"),
    (re.compile(r"MI250X", re.I), "mi250x"),
    (re.compile(r"MI300X", re.I), "mi300x"),
)


class ModelError(PdprofError, ValueError):
    """Model inputs that describe no transformer or GPU (e.g. H not divisible by heads)."""


@dataclass(frozen=True)
class Shape:
    """A transformer and the workload it runs: T tokens of context for each of B sequences."""

    L: int
    H: int
    heads: int
    kv_heads: int
    T: int
    batch: int = 1
    dtype_bytes: int = 2
    ffn: int | None = None  # MLP hidden size; None: 4·H
    mlp_projections: int = 2
    causal: bool = False

    def __post_init__(self) -> None:
        for name in ("L", "H", "heads", "kv_heads", "T", "batch", "dtype_bytes"):
            if getattr(self, name) < 1:
                raise ModelError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.H % self.heads:
            raise ModelError(f"H={self.H} is not divisible by heads={self.heads}")
        if self.heads % self.kv_heads:
            raise ModelError(f"heads={self.heads} is not divisible by kv_heads={self.kv_heads}")
        if self.mlp_projections not in (2, 3):
            raise ModelError(f"mlp_projections must be 2 or 3, got {self.mlp_projections}")
        if self.ffn is not None and self.ffn < 1:
            raise ModelError(f"ffn must be a positive integer, got {self.ffn}")

    @property
    def head_dim(self) -> int:
        return self.H // self.heads

    @property
    def ffn_size(self) -> int:
        return 4 * self.H if self.ffn is None else self.ffn


@dataclass(frozen=True)
class PhaseCost:
    """FLOPs and DRAM bytes of one prefill (B·T tokens) or one decode step (B tokens)."""

    phase: str
    tokens: int
    linear_flops: int
    attention_flops: int
    weight_bytes: int
    activation_bytes: int
    kv_read_bytes: int
    kv_write_bytes: int

    @property
    def flops(self) -> int:
        return self.linear_flops + self.attention_flops

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes + self.kv_read_bytes + self.kv_write_bytes

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved."""
        return self.flops / self.bytes


@dataclass(frozen=True)
class Ceilings:
    """Peak DRAM bandwidth and FLOP rate for one dtype, and where they come from."""

    gpu: str
    dram_bytes_per_s: float
    flops_per_s: float
    dtype: str
    source: str


@dataclass(frozen=True)
class Prediction:
    """Roofline time of a phase: the slower of its compute and its memory traffic."""

    compute_s: float
    memory_s: float
    time_s: float
    bound: str  # "compute" or "memory"
    tokens_per_s: float


# --------------------------------------------------------------------------- FLOPs


def qkv_flops_per_token_layer(shape: Shape) -> int:
    """Q with h heads of d, K and V with h_kv heads of d each."""
    return 2 * shape.H * (shape.H + 2 * shape.kv_heads * shape.head_dim)


def output_projection_flops_per_token_layer(shape: Shape) -> int:
    return 2 * shape.H * shape.H


def mlp_flops_per_token_layer(shape: Shape) -> int:
    return 2 * shape.mlp_projections * shape.H * shape.ffn_size


def linear_flops_per_token(shape: Shape) -> int:
    """All linear layers of all L layers for one token (the seed's 24·L·H² when h_kv = h)."""
    per_layer = (
        qkv_flops_per_token_layer(shape)
        + output_projection_flops_per_token_layer(shape)
        + mlp_flops_per_token_layer(shape)
    )
    return shape.L * per_layer


def prefill_attention_flops(shape: Shape) -> int:
    """QKᵀ and scores·V over T tokens, all layers and sequences; halved when causal."""
    full = shape.batch * shape.L * 4 * shape.T * shape.T * shape.head_dim * shape.heads
    return full // 2 if shape.causal else full


def decode_attention_flops(shape: Shape) -> int:
    """One new token per sequence attending to its T cached tokens: 4·L·T·d·h per sequence."""
    return shape.batch * shape.L * 4 * shape.T * shape.head_dim * shape.heads


# --------------------------------------------------------------------------- bytes


def parameter_count(shape: Shape) -> int:
    """Weights of the linear layers (FLOPs per token / 2): embeddings and norms omitted."""
    return linear_flops_per_token(shape) // 2


def weight_bytes(shape: Shape) -> int:
    return parameter_count(shape) * shape.dtype_bytes


def kv_bytes_per_sequence(shape: Shape, tokens: int) -> int:
    """K and V of *tokens* tokens over all layers for one sequence: 2·L·tokens·d·h_kv·s."""
    return 2 * shape.L * tokens * shape.head_dim * shape.kv_heads * shape.dtype_bytes


def activation_bytes(shape: Shape, tokens_per_sequence: int) -> int:
    """Each layer reads its input and writes its output activations once."""
    return 2 * shape.L * shape.batch * tokens_per_sequence * shape.H * shape.dtype_bytes


# --------------------------------------------------------------------------- phases


def prefill_cost(shape: Shape) -> PhaseCost:
    """Forward pass over T prompt tokens of each of B sequences, writing their KV cache."""
    tokens = shape.batch * shape.T
    return PhaseCost(
        phase="prefill",
        tokens=tokens,
        linear_flops=tokens * linear_flops_per_token(shape),
        attention_flops=prefill_attention_flops(shape),
        weight_bytes=weight_bytes(shape),
        activation_bytes=activation_bytes(shape, shape.T),
        kv_read_bytes=0,
        kv_write_bytes=shape.batch * kv_bytes_per_sequence(shape, shape.T),
    )


def decode_cost(shape: Shape) -> PhaseCost:
    """One decode step: one new token per sequence, with T tokens of context already cached."""
    return PhaseCost(
        phase="decode",
        tokens=shape.batch,
        linear_flops=shape.batch * linear_flops_per_token(shape),
        attention_flops=decode_attention_flops(shape),
        weight_bytes=weight_bytes(shape),  # read once per step, shared by the batch
        activation_bytes=activation_bytes(shape, 1),
        kv_read_bytes=shape.batch * kv_bytes_per_sequence(shape, shape.T),
        kv_write_bytes=shape.batch * kv_bytes_per_sequence(shape, 1),
    )


# --------------------------------------------------------------------------- ceilings and time


def datasheet_key(device_name: str) -> str | None:
    """Datasheet entry for a device name such as "NVIDIA H100 80GB HBM3", or None."""
    for pattern, key in _DEVICE_NAME_PATTERNS:
        if pattern.search(device_name):
            return key
    return None


def ceilings(gpu: str, dtype_bytes: int, calibration: Mapping[str, float] | None = None) -> Ceilings:
    """Peaks for *gpu* (a DATASHEETS key): calibration values where given, datasheet otherwise.

    *calibration* holds measured ``dram_bytes_per_s`` and/or ``flops_per_s`` (for this dtype).
    """
    dtype = DTYPE_NAMES.get(dtype_bytes)
    if dtype is None:
        raise ModelError(f"dtype_bytes must be one of {sorted(DTYPE_NAMES)}, got {dtype_bytes}")
    measured = calibration or {}
    sheet = DATASHEETS.get(gpu, {"dram_bytes_per_s": None, "flops_per_s": {}})
    bandwidth = measured.get("dram_bytes_per_s", sheet["dram_bytes_per_s"])
    flops = measured.get("flops_per_s", sheet["flops_per_s"].get(dtype))
    if bandwidth is None or flops is None:
        raise ModelError(
            f"no {dtype} peaks for gpu {gpu!r}: give a calibration or one of {', '.join(DATASHEETS)}"
        )
    sources = {
        "calibration" if key in measured else "datasheet" for key in ("dram_bytes_per_s", "flops_per_s")
    }
    return Ceilings(gpu, float(bandwidth), float(flops), dtype, "+".join(sorted(sources)))


def load_calibration(path: str | Path) -> dict[str, float]:
    """Measured peaks from a JSON file: {"dram_bytes_per_s": ..., "flops_per_s": ...} (either may be absent)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the calibration: {exc}") from exc
    known = {"dram_bytes_per_s", "flops_per_s"}
    if not isinstance(data, dict) or not set(data) <= known:
        raise ModelError(f"{path}: a calibration is a JSON object with keys among {sorted(known)}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in data.values()):
        raise ModelError(f"{path}: calibration peaks must be positive numbers")
    return {key: float(value) for key, value in data.items()}


def predict(cost: PhaseCost, peaks: Ceilings) -> Prediction:
    compute_s = cost.flops / peaks.flops_per_s
    memory_s = cost.bytes / peaks.dram_bytes_per_s
    time_s = max(compute_s, memory_s)
    return Prediction(
        compute_s=compute_s,
        memory_s=memory_s,
        time_s=time_s,
        bound="compute" if compute_s >= memory_s else "memory",
        tokens_per_s=cost.tokens / time_s,
    )


def machine_balance(peaks: Ceilings) -> float:
    """FLOPs per byte at the roofline's ridge point."""
    return peaks.flops_per_s / peaks.dram_bytes_per_s


# --------------------------------------------------------------------------- seed benchmark kernels


def seed_decode_bytes_per_context_token(L: int, H: int, heads: int, kv_heads: int) -> int:
    """KV bytes the seed decode kernel streams per token of context: fp32 K and V, all L layers."""
    return 2 * L * (H // heads) * kv_heads * SEED_KERNEL_ELEMENT_BYTES


def seed_decode_working_set(H: int, heads: int, kv_heads: int, T: int) -> int:
    """Distinct bytes of the seed decode: one fp32 K/V buffer of T tokens reused by all layers."""
    return 2 * T * (H // heads) * kv_heads * SEED_KERNEL_ELEMENT_BYTES


def seed_prefill_flops_per_iteration(L: int, H: int, T: int) -> int:
    """FLOPs of one iters_fma iteration over the T×H tensor in all L layers: 2 FMAs per element."""
    return 2 * 2 * T * H * L


# --------------------------------------------------------------------------- summary


def summary(shape: Shape, gpu: str = "h100-sxm", calibration: Mapping[str, float] | None = None) -> dict:
    """JSON-able model of both phases on *gpu* (ints exact, times in seconds)."""
    peaks = ceilings(gpu, shape.dtype_bytes, calibration)
    return {
        "schema": SCHEMA,
        "shape": {**asdict(shape), "head_dim": shape.head_dim, "ffn": shape.ffn_size},
        "parameters": parameter_count(shape),
        "weight_bytes": weight_bytes(shape),
        "ceilings": {**asdict(peaks), "machine_balance": machine_balance(peaks)},
        "prefill": _phase_summary(prefill_cost(shape), peaks),
        "decode": _phase_summary(decode_cost(shape), peaks),
    }


def _phase_summary(cost: PhaseCost, peaks: Ceilings) -> dict:
    return {
        "tokens": cost.tokens,
        "flops": {"linear": cost.linear_flops, "attention": cost.attention_flops, "total": cost.flops},
        "bytes": {
            "weights": cost.weight_bytes,
            "activations": cost.activation_bytes,
            "kv_read": cost.kv_read_bytes,
            "kv_write": cost.kv_write_bytes,
            "total": cost.bytes,
        },
        "intensity_flops_per_byte": cost.intensity,
        "predicted": asdict(predict(cost, peaks)),
    }


def format_summary(result: dict) -> str:
    """Plain-text table of summary(): one column per phase."""
    shape, peaks = result["shape"], result["ceilings"]
    rows = [
        ("FLOPs, linear layers", "flops", "linear"),
        ("FLOPs, attention", "flops", "attention"),
        ("FLOPs, total", "flops", "total"),
        ("bytes, weights", "bytes", "weights"),
        ("bytes, activations", "bytes", "activations"),
        ("bytes, KV read", "bytes", "kv_read"),
        ("bytes, KV write", "bytes", "kv_write"),
        ("bytes, total", "bytes", "total"),
    ]
    lines = [
        f"L={shape['L']} H={shape['H']} heads={shape['heads']} kv_heads={shape['kv_heads']} "
        f"d={shape['head_dim']} T={shape['T']} batch={shape['batch']} dtype_bytes={shape['dtype_bytes']} "
        f"ffn={shape['ffn']}x{shape['mlp_projections']} causal={shape['causal']}",
        f"parameters {result['parameters']:,} ({result['weight_bytes']:,} bytes)",
        f"ceilings ({peaks['source']}, {peaks['gpu']}, {peaks['dtype']}): "
        f"{peaks['dram_bytes_per_s'] / 1e9:,.0f} GB/s, {peaks['flops_per_s'] / 1e12:,.1f} TFLOP/s, "
        f"ridge {peaks['machine_balance']:,.0f} FLOP/byte",
        "",
        f"{'':<24}{'prefill':>26}{'decode step':>26}",
    ]
    for label, group, key in rows:
        lines.append(f"{label:<24}{result['prefill'][group][key]:>26,}{result['decode'][group][key]:>26,}")
    for label, value in (
        ("FLOP/byte", lambda p: f"{p['intensity_flops_per_byte']:,.2f}"),
        ("predicted time (ms)", lambda p: f"{p['predicted']['time_s'] * 1e3:,.4g}"),
        ("bound", lambda p: p["predicted"]["bound"]),
        ("predicted tokens/s", lambda p: f"{p['predicted']['tokens_per_s']:,.1f}"),
    ):
        lines.append(f"{label:<24}{value(result['prefill']):>26}{value(result['decode']):>26}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- seed errata

_SEED_7B = Shape(L=32, H=4096, heads=32, kv_heads=8, T=2048, dtype_bytes=2)
_SEED_7B_MHA = Shape(L=32, H=4096, heads=32, kv_heads=32, T=2048, dtype_bytes=2)  # the seed's 6H² QKV
_SEED_7B_CAUSAL_MHA = Shape(L=32, H=4096, heads=32, kv_heads=32, T=2048, dtype_bytes=2, causal=True)
_SEED_HBM_BYTES_PER_S = 1.5e12  # the seed's "1.5 TB/s HBM link"


def _seed_errata() -> list[dict[str, Any]]:
    """Where the seed note's 7B example (L=32, H=4096, h=32, h_kv=8, T=2048, BF16) is wrong."""
    per_token_mha = linear_flops_per_token(_SEED_7B_MHA)
    prefill_mha_causal = prefill_cost(_SEED_7B_CAUSAL_MHA)
    decode_mha = decode_cost(_SEED_7B_MHA)
    decode_gqa = decode_cost(_SEED_7B)
    return [
        {
            "quantity": "24·L·H² (linear FLOPs of one token, all layers)",
            "seed_value": 12_884_901_376,
            "correct_value": per_token_mha,
            "explanation": "Arithmetic slip: 24 × 32 × 4096² = 12,884,901,888.",
        },
        {
            "quantity": "prefill linear-layer FLOPs for T = 2048 tokens",
            "seed_value": 12_884_901_376,
            "correct_value": prefill_mha_causal.linear_flops,
            "explanation": "The seed's 24·L·H² is the cost of one token; a prefill of T tokens costs 24·L·H²·T.",
        },
        {
            "quantity": "prefill attention FLOPs 2·L·T²·d·h",
            "seed_value": 1_112_396_544_288,
            "correct_value": prefill_mha_causal.attention_flops,
            "explanation": (
                "Arithmetic slip: 2 × 32 × 2048² × 128 × 32 = 1,099,511,627,776. The formula counts QKᵀ "
                "and scores·V under a causal mask; without the mask it is 4·L·T²·d·h."
            ),
        },
        {
            "quantity": "total prefill FLOPs (≈1.125 TFLOPs, 0.543 GFLOPs/token)",
            "seed_value": 1.125e12,
            "correct_value": prefill_mha_causal.flops,
            "explanation": (
                "With the linear term multiplied by T the prefill is ≈27.5 TFLOPs, ≈13.4 GFLOPs per token "
                "(causal attention, MHA projections as in the seed's 24·L·H²)."
            ),
        },
        {
            "quantity": "decode attention FLOPs per token 4·L·T·d·h",
            "seed_value": 33_554_432,
            "correct_value": decode_mha.attention_flops,
            "explanation": "The seed's number is 4·T·d·h, one layer; the formula's factor L = 32 was dropped.",
        },
        {
            "quantity": "total decode FLOPs per token (≈12.91 GFLOPs)",
            "seed_value": 12.91e9,
            "correct_value": decode_mha.flops,
            "explanation": "24·L·H² + 4·L·T·d·h = 12,884,901,888 + 1,073,741,824 ≈ 13.96 GFLOPs.",
        },
        {
            "quantity": "QKV projection FLOPs per token and layer with GQA (h_kv = 8)",
            "seed_value": 6 * 4096 * 4096,
            "correct_value": qkv_flops_per_token_layer(_SEED_7B),
            "explanation": (
                "6·H² assumes K and V have h heads; with h_kv = 8 KV heads the projection is "
                "2·H·(H + 2·h_kv·d) = 3·H², so the example's linear term is 21·L·H² per token, not 24·L·H²."
            ),
        },
        {
            "quantity": 'KV bytes 2·L·T·d·h_kv·s ("≈256 MiB/token")',
            "seed_value": 268_435_456,
            "correct_value": decode_gqa.kv_read_bytes,
            "explanation": (
                "The number is right but it is the KV cache of the whole 2,048-token context, read once per "
                f"decoded token; one token adds {kv_bytes_per_sequence(_SEED_7B, 1):,} bytes (128 KiB) to the cache."
            ),
        },
        {
            "quantity": "decode tokens/s cap of a 1.5 TB/s HBM link (≈5.7 k)",
            "seed_value": 5.7e3,
            "correct_value": _SEED_HBM_BYTES_PER_S / decode_gqa.bytes,
            "explanation": (
                f"1.5e12 / 268,435,456 is ≈5.59 k, and a decode step also reads every weight once "
                f"({decode_gqa.weight_bytes:,} bytes in BF16 for this shape), so at batch 1 the cap is "
                f"≈{_SEED_HBM_BYTES_PER_S / decode_gqa.bytes:.0f} tokens/s."
            ),
        },
    ]


SEED_ERRATA: list[dict[str, Any]] = _seed_errata()

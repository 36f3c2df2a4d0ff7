"""Figures of one GPU's dataset (seaborn on matplotlib's Agg backend), each with its plotted numbers as CSV.

:data:`FIGURES` names the figures and says what each shows. For every figure a data function
turns the tidy dataset into the table that is drawn (pure pandas), and a draw function plots that
table and nothing else. :func:`write_figures` writes ``<name>.png``, ``<name>.svg`` and
``<name>.csv`` side by side. The CSV holds the exact numbers drawn, in base units (ns, byte, FLOP,
FLOP/s, byte/s, fractions); axes only rescale their tick labels, so a number read off a figure is
the CSV's number.

Reruns give identical bytes: fixed size and dpi, a fixed SVG hash salt, no dates or version strings
in the file metadata, rows sorted. A figure whose rows are missing from the dataset is still
written, saying which rows it needs, so the set of outputs never depends on the data.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pdprof import fsutil, validate
from pdprof.config import AXES
from pdprof.dataset import with_axis_defaults
from pdprof.report import format_number

FIGURES: dict[str, str] = {
    "decode_time_vs_T": "Decode step time against context length T (whiskers: min–max over repeats), with the least-squares line.",
    "prefill_time_vs_iters_fma": "Prefill step time against FMA iterations per element (whiskers: min–max over repeats), with the least-squares line.",
    "sm_vs_dram": "SM against DRAM throughput, one point per profiled launch; shaded: where one unit dominates the other by the validation ratio.",
    "roofline": "Roofline: achieved FLOP/s against arithmetic intensity (FLOPs per DRAM byte) of each kernel at each point, under the DRAM-bandwidth and FP32 ceilings.",
    "decode_bandwidth_fraction_vs_T": "Decode DRAM bandwidth as a fraction of the peak against T, from the benchmark (KV bytes / step time) and from Nsight Compute (DRAM bytes / kernel time); shaded: the acceptance band.",
    "decode_bandwidth_vs_batch": "Decode bandwidth (KV bytes of all sequences / step time) against the batch of sequences decoded together, per variant.",
    "paged_vs_page_size": "The paged variant's decode bandwidth as a fraction of contiguous attention at the same point, against the page size.",
}
FORMATS = ("png", "svg")

FFMA_METRIC = "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum"
PARAM_COLUMNS = AXES
# A decode step does not depend on iters_fma, so decode points differing only in it are replicates.
IRRELEVANT_PARAMS = {"decode": ("iters_fma",), "prefill": ()}

FIGURE_SIZE = (8.0, 4.6)  # inches
DPI = 100
RC_PARAMS = {"svg.hashsalt": "pdprof", "svg.fonttype": "path", "savefig.dpi": DPI, "font.size": 9}
# Matplotlib stamps its version (and, in SVG, the date) by default; either would change the bytes.
METADATA = {"png": {"Software": "pdprof"}, "svg": {"Creator": "pdprof", "Date": None}}
PHASE_COLORS = {"prefill": "#0173b2", "decode": "#de8f05"}  # seaborn "colorblind"
SOURCE_COLORS = {"bench": "#0173b2", "ncu": "#029e73"}
BAND_COLORS = {"good": "#029e73", "compute": "#0173b2", "memory": "#de8f05"}


@dataclass(frozen=True)
class Limits:
    """What the figures draw besides data: validation thresholds and roofline ceilings, with sources.

    Made by :func:`resolve_limits`, so that the defaults are validation's.
    """

    dominance_ratio: float
    bandwidth_band: tuple[float, float]  # fractions of the DRAM peak
    peak_dram_bandwidth: float | None  # byte/s
    peak_dram_source: str
    peak_flops: float | None  # FLOP/s
    peak_flops_source: str


def resolve_limits(
    df: pd.DataFrame,
    thresholds: dict | None = None,
    peak_dram_bandwidth: float | None = None,
    peak_flops: float | None = None,
    calibration: dict | None = None,
) -> Limits:
    """Thresholds and ceilings exactly as validation takes them, so figures and checks agree.

    Each ceiling: the argument where given, else validation's order (config, the calibrated
    value, the device-reported DRAM peak / the card's FP32 datasheet peak).
    """
    merged = validate.merge_thresholds(thresholds)
    merged["calibration"] = calibration or {}
    dram, dram_source = (
        (peak_dram_bandwidth, "given") if peak_dram_bandwidth else validate.dram_peak(df, merged)
    )
    flops, flops_source = (peak_flops, "given") if peak_flops else validate.fp32_peak(df, merged)
    return Limits(
        dominance_ratio=float(merged["dominance_ratio"]),
        bandwidth_band=(float(merged["bandwidth_fraction_min"]), float(merged["bandwidth_fraction_max"])),
        peak_dram_bandwidth=dram,
        peak_dram_source=dram_source if dram else "unknown",
        peak_flops=flops,
        peak_flops_source=flops_source if flops else "unknown",
    )


def write_figures(
    df: pd.DataFrame, out_dir: str | Path, limits: Limits | None = None, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Draw every figure of ONE GPU's rows into *out_dir*: images in *formats* and the data CSV."""
    gpus = sorted(df["gpu"].dropna().astype(str).unique())
    if len(gpus) > 1:
        raise ValueError(f"dataset holds several GPUs: {', '.join(gpus)}; pass one")
    df = with_axis_defaults(df)
    limits = limits or resolve_limits(df)
    title_suffix = ", ".join(sorted(df["gpu_name"].dropna().astype(str).unique()))
    out_dir = Path(out_dir)
    paths = []
    for name in FIGURES:
        data_of, draw, needs = _RECIPES[name]
        data = data_of(df, limits)
        paths.append(_write_csv(data, out_dir / f"{name}.csv"))
        with _style():
            figure = _draw_figure(data, limits, draw, needs, title_suffix)
            paths += [_save(figure, out_dir / f"{name}.{fmt}", fmt) for fmt in formats]
            _pyplot().close(figure)
    return paths


def figure_data(df: pd.DataFrame, name: str, limits: Limits | None = None) -> pd.DataFrame:
    """The table figure *name* draws (what its CSV holds)."""
    df = with_axis_defaults(df)
    return _RECIPES[name][0](df, limits or resolve_limits(df))


# --------------------------------------------------------------------------- figure data


def scaling_data(df: pd.DataFrame, phase: str, x: str) -> pd.DataFrame:
    """Bench step times of the largest sweep of *x* per variant, with the least-squares line.

    The sweep is chosen as validation chooses it: points that differ only in *x* (and in
    parameters the phase ignores), the group with the most distinct *x*.
    """
    step_columns = {
        "step_time": "step_time_ns",
        "step_time_min": "step_time_min_ns",
        "step_time_max": "step_time_max_ns",
    }
    fit_columns = ["fit_step_time_ns", f"fit_slope_ns_per_{x}", "fit_intercept_ns", "fit_r2"]
    columns = ["point", *PARAM_COLUMNS, *step_columns.values(), *fit_columns]
    table = _bench_wide(df, phase, list(step_columns)).rename(columns=step_columns)
    table = table.dropna(subset=["step_time_ns"])
    if table.empty:
        return pd.DataFrame(columns=columns)
    group_keys = [c for c in PARAM_COLUMNS if c not in (x, *IRRELEVANT_PARAMS[phase])]
    sweeps = [_largest_sweep(group, x, group_keys) for _, group in table.groupby("variant", sort=True)]
    fitted = pd.concat([_with_fit(sweep, x, fit_columns) for sweep in sweeps], ignore_index=True)
    return _sorted(fitted[columns], ["variant", x, "point"])


def utilisation_data(df: pd.DataFrame) -> pd.DataFrame:
    """SM and DRAM throughput (% of peak) of every profiled prefill and decode launch."""
    names = {"sm_throughput": "sm_throughput_pct", "dram_throughput": "dram_throughput_pct"}
    launches = _ncu_launches(df, list(names)).rename(columns=names)
    columns = ["phase", "kernel", "variant", "point", "launch", *names.values()]
    return _sorted(
        launches.dropna(subset=list(names.values()))[columns], ["phase", "kernel", "point", "launch"]
    )


def roofline_data(df: pd.DataFrame, limits: Limits) -> pd.DataFrame:
    """Each kernel at each point: FLOPs, DRAM bytes and duration (medians over launches) and the ceilings.

    FLOPs come from Nsight Compute's executed FFMA count × 2 (one FMA = 2 FLOPs), counted on the
    same launches as the duration and DRAM bytes, so the point is self-consistent and needs no
    analytic model (the seed's formulas are known to be wrong). Without that counter, the
    benchmark's kernel_flops per step / L (one launch per layer) stands in; ``flops_source`` says
    which. Only FP32 FMAs are counted: the seed's kernels are FMA-bound fp32 code, and the FP32
    ceiling is the matching roof. A kernel with no FP32 FMA (cuBLAS's tensor-core GEMMs) or no
    DRAM bytes has no place on this log-log roof and is left out.
    """
    keys = ["phase", "kernel", "variant", "point"]
    launches = _ncu_launches(df, ["duration", "dram_bytes", FFMA_METRIC])
    columns = [
        *keys, "T", "iters_fma", "flops", "flops_source", "dram_bytes", "duration_ns",
        "arithmetic_intensity_flop_per_byte", "achieved_flop_per_s",
        "peak_dram_bandwidth_bytes_per_s", "peak_dram_source", "peak_flop_per_s", "peak_flops_source",
    ]  # fmt: skip
    if launches.empty:
        return pd.DataFrame(columns=columns)
    kernels = (
        launches.groupby(keys, sort=True)[["duration", "dram_bytes", FFMA_METRIC]].median().reset_index()
    )
    kernels = kernels.merge(_point_params(df)[["point", "T", "iters_fma"]], on="point")
    fallback = _bench_flops_per_launch(df)
    from_bench = kernels.set_index(["point", "phase"]).index.map(fallback)
    kernels["flops"] = np.where(kernels[FFMA_METRIC].notna(), 2 * kernels[FFMA_METRIC], from_bench)
    kernels["flops_source"] = np.where(kernels[FFMA_METRIC].notna(), "ncu ffma x2", "bench kernel_flops / L")
    kernels = kernels.rename(columns={"duration": "duration_ns"})
    kernels["arithmetic_intensity_flop_per_byte"] = kernels["flops"] / kernels["dram_bytes"]
    kernels["achieved_flop_per_s"] = kernels["flops"] / (kernels["duration_ns"] * 1e-9)
    kernels["peak_dram_bandwidth_bytes_per_s"] = limits.peak_dram_bandwidth
    kernels["peak_dram_source"] = limits.peak_dram_source
    kernels["peak_flop_per_s"] = limits.peak_flops
    kernels["peak_flops_source"] = limits.peak_flops_source
    kernels = kernels.dropna(subset=["flops", "dram_bytes", "duration_ns"])
    return _sorted(kernels[(kernels["flops"] > 0) & (kernels["dram_bytes"] > 0)][columns], keys)


def bandwidth_data(df: pd.DataFrame, limits: Limits) -> pd.DataFrame:
    """Decode bandwidth per point as a fraction of the DRAM peak, from the benchmark and from ncu.

    bench: the KV bytes the kernel must stream / step time (what validation judges);
    ncu: DRAM bytes actually moved / kernel duration (median over launches), which falls short of
    the bench number where the working set is served from L2.
    """
    columns = [
        "source",
        "variant",
        "point",
        "T",
        "bandwidth_bytes_per_s",
        "peak_dram_bandwidth_bytes_per_s",
        "fraction",
    ]
    bench = _bench_wide(df, "decode", ["effective_bandwidth"]).rename(
        columns={"effective_bandwidth": "bandwidth_bytes_per_s"}
    )
    bench["source"] = "bench"
    ncu = validate.ncu_decode_bandwidth(df).rename("bandwidth_bytes_per_s").reset_index()
    ncu = ncu.merge(_point_params(df)[["point", "variant", "T"]], on="point")
    ncu["source"] = "ncu"
    rates = pd.concat([bench, ncu], ignore_index=True).dropna(subset=["bandwidth_bytes_per_s"])
    if rates.empty or not limits.peak_dram_bandwidth:
        return pd.DataFrame(columns=columns)
    rates["peak_dram_bandwidth_bytes_per_s"] = limits.peak_dram_bandwidth
    rates["fraction"] = rates["bandwidth_bytes_per_s"] / limits.peak_dram_bandwidth
    return _sorted(rates[columns], ["source", "variant", "T", "point"])


def batch_data(df: pd.DataFrame, limits: Limits) -> pd.DataFrame:
    """Decode bandwidth per point of each variant's largest batch sweep (points differing only in
    batch), where a variant has two or more batch sizes."""
    columns = ["variant", "point", "T", "batch", "page_size", "bandwidth_bytes_per_s", "fraction_of_peak"]
    table = _bench_wide(df, "decode", ["effective_bandwidth"]).dropna(subset=["effective_bandwidth"])
    group_keys = [c for c in PARAM_COLUMNS if c not in ("batch", *IRRELEVANT_PARAMS["decode"])]
    sweeps = [_largest_sweep(group, "batch", group_keys) for _, group in table.groupby("variant", sort=True)]
    sweeps = [sweep for sweep in sweeps if sweep["batch"].nunique() >= 2]
    if not sweeps:
        return pd.DataFrame(columns=columns)
    rows = pd.concat(sweeps, ignore_index=True).rename(
        columns={"effective_bandwidth": "bandwidth_bytes_per_s"}
    )
    peak = limits.peak_dram_bandwidth
    rows["fraction_of_peak"] = rows["bandwidth_bytes_per_s"] / peak if peak else math.nan
    return _sorted(rows[columns], ["variant", "batch", "point"])


def paged_data(df: pd.DataFrame) -> pd.DataFrame:
    """Each paged point's decode bandwidth beside contiguous attention's at the same other axes."""
    columns = ["point", "T", "batch", "page_size", "bandwidth_bytes_per_s", "contiguous_point",
               "contiguous_bandwidth_bytes_per_s", "fraction_of_contiguous"]  # fmt: skip
    table = _bench_wide(df, "decode", ["effective_bandwidth"]).dropna(subset=["effective_bandwidth"])
    same = [c for c in PARAM_COLUMNS if c not in ("variant", "page_size", *IRRELEVANT_PARAMS["decode"])]
    paged = table[table["variant"] == "paged"]
    contiguous = table[(table["variant"] == "attention") & (table["page_size"] == 0)]
    contiguous = contiguous.drop_duplicates(same)[[*same, "point", "effective_bandwidth"]]
    rows = paged.merge(contiguous, on=same, suffixes=("", "_contiguous"))
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.rename(columns={"effective_bandwidth": "bandwidth_bytes_per_s", "point_contiguous": "contiguous_point",
                                "effective_bandwidth_contiguous": "contiguous_bandwidth_bytes_per_s"})  # fmt: skip
    rows["fraction_of_contiguous"] = rows["bandwidth_bytes_per_s"] / rows["contiguous_bandwidth_bytes_per_s"]
    return _sorted(rows[columns], ["T", "batch", "page_size", "point"])


def short_kernel_name(name: str) -> str:
    """'<unnamed>::decode_kv_scan_kernel(const float *, ...)' -> 'decode_kv_scan_kernel'."""
    return re.sub(r"^.*::", "", str(name).split("(", 1)[0]).split(" ")[-1]


# --------------------------------------------------------------------------- data helpers


def _bench_wide(df: pd.DataFrame, phase: str, metrics: list[str]) -> pd.DataFrame:
    """One row per point: its parameters and the per-point median of each bench *metric*."""
    rows = df[(df["profiler"] == "bench") & (df["phase"] == phase) & df["metric"].isin(metrics)]
    if rows.empty:
        return pd.DataFrame(columns=["point", *PARAM_COLUMNS, *metrics])
    wide = rows.pivot_table(index="point", columns="metric", values="value", aggfunc="median")
    wide = wide.reindex(columns=metrics).reset_index()
    wide.columns.name = None
    return wide.merge(_point_params(df), on="point")


def _ncu_launches(df: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per profiled prefill/decode launch with a column per ncu *metric* (NaN where absent)."""
    keys = ["phase", "kernel", "variant", "point", "launch"]
    rows = df[
        (df["profiler"] == "ncu") & df["phase"].isin(["prefill", "decode"]) & df["metric"].isin(metrics)
    ]
    if rows.empty:
        return pd.DataFrame(columns=[*keys, *metrics])
    wide = rows.pivot_table(index=keys, columns="metric", values="value", aggfunc="median")
    wide = wide.reindex(columns=metrics).reset_index()
    wide.columns.name = None
    wide["kernel"] = wide["kernel"].map(short_kernel_name)
    return wide


def _point_params(df: pd.DataFrame) -> pd.DataFrame:
    params = df.drop_duplicates("point")[["point", *PARAM_COLUMNS]].copy()
    params["point"] = params["point"].astype(str)
    params["variant"] = params["variant"].astype(str)
    return params


def _bench_flops_per_launch(df: pd.DataFrame) -> dict[tuple[str, str], float]:
    """(point, phase) -> bench kernel_flops per step / L: a step launches the phase's kernel once per layer."""
    table = {}
    for phase in ("prefill", "decode"):
        wide = _bench_wide(df, phase, ["kernel_flops"])
        for row in wide.itertuples():
            table[(row.point, phase)] = row.kernel_flops / row.L
    return table


def _largest_sweep(table: pd.DataFrame, x: str, group_keys: list[str]) -> pd.DataFrame:
    """The points differing only in *x*: the group with the most distinct *x*, then the most points."""
    groups = [group for _, group in table.groupby(group_keys, sort=True)]
    return max(groups, key=lambda g: (g[x].nunique(), len(g))).sort_values(x)


def _with_fit(sweep: pd.DataFrame, x: str, fit_columns: list[str]) -> pd.DataFrame:
    """*sweep* with the least-squares line step_time = intercept + slope·x (NaN with < 2 distinct x)."""
    fitted = sweep.copy()
    xs, ys = sweep[x].to_numpy(float), sweep["step_time_ns"].to_numpy(float)
    if sweep[x].nunique() < 2:
        for column in fit_columns:
            fitted[column] = math.nan
        return fitted
    slope, intercept = np.polyfit(xs, ys, 1)
    line = intercept + slope * xs
    ss_tot = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - float(np.sum((ys - line) ** 2)) / ss_tot if ss_tot > 0 else 1.0
    for column, value in zip(fit_columns, (line, slope, intercept, r2), strict=True):
        fitted[column] = value
    return fitted


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- drawing


def _pyplot() -> Any:
    """matplotlib.pyplot on Agg, imported on first use: with seaborn it takes ~1.5 s, which every
    pipeline job importing pdprof (through the CLI) would otherwise pay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _seaborn() -> Any:
    import seaborn as sns

    return sns


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """Seaborn's whitegrid look and the deterministic rc settings, restored on exit."""
    with _seaborn().axes_style("whitegrid"), _pyplot().rc_context(RC_PARAMS):
        yield


def _draw_figure(
    data: pd.DataFrame, limits: Limits, draw: Callable[..., str], needs: str, title_suffix: str
) -> Any:
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=FIGURE_SIZE, layout="constrained")
    if data.empty:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"No data for this figure: it needs {needs}.", ha="center", va="center", wrap=True)
        ax.set_title(title_suffix)
        return figure
    title = draw(ax, data, limits)
    ax.set_title(f"{title} — {title_suffix}" if title_suffix else title)
    return figure


def _save(figure: Any, path: Path, fmt: str) -> Path:
    with fsutil.atomic_output(path) as tmp:
        figure.savefig(tmp, format=fmt, metadata=METADATA[fmt])
    return path


def _write_csv(data: pd.DataFrame, path: Path) -> Path:
    fsutil.write_text(path, data.to_csv(index=False, lineterminator="\n"))
    return path


def _draw_scaling(ax: Any, data: pd.DataFrame, x: str, xlabel: str, per: str) -> None:
    sns = _seaborn()
    ax.vlines(data[x], data["step_time_min_ns"], data["step_time_max_ns"], color="0.55", linewidth=1)
    variants = sorted(data["variant"].unique())
    colors = dict(zip(variants, sns.color_palette("colorblind", len(variants)), strict=True))
    sns.scatterplot(data=data, x=x, y="step_time_ns", hue="variant", palette=colors, ax=ax, zorder=3, s=36)
    for variant, sweep in data.groupby("variant", sort=True):
        slope, r2 = sweep[f"fit_slope_ns_per_{x}"].iloc[0], sweep["fit_r2"].iloc[0]
        if math.isnan(slope):  # a single point: nothing to fit
            continue
        label = f"{variant} fit: {_duration_text(slope)} per {per}, R² = {r2:.4f}"
        ax.plot(sweep[x], sweep["fit_step_time_ns"], color=colors[variant], linewidth=1.2, label=label)
    ax.set(xlabel=xlabel, ylabel="step time [ms]")
    ax.xaxis.set_major_formatter(_formatter(lambda v: f"{v:,.0f}"))
    times = data["step_time_ns"]
    if times.max() > 20 * times.min():  # variants orders of magnitude apart: all stay visible
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_formatter(lambda v: f"{v / 1e6:g}"))
    _legend_outside(ax)


def _draw_decode_time(ax: Any, data: pd.DataFrame, limits: Limits) -> str:
    _draw_scaling(ax, data, "T", "context length T [tokens]", "token")
    return "Decode step time vs T"


def _draw_prefill_time(ax: Any, data: pd.DataFrame, limits: Limits) -> str:
    T = ", ".join(f"{t:,}" for t in sorted(data["T"].unique())) if "T" in data else ""
    _draw_scaling(ax, data, "iters_fma", f"FMA iterations per element (T = {T})", "iteration")
    return "Prefill step time vs iters_fma"


def _draw_utilisation(ax: Any, data: pd.DataFrame, limits: Limits) -> str:
    sns, r = _seaborn(), limits.dominance_ratio
    values = data[["sm_throughput_pct", "dram_throughput_pct"]].to_numpy(float)
    low = 10 ** math.floor(math.log10(max(values[values > 0].min() / 2, 1e-4)))
    grid = np.geomspace(low, 100, 200)
    ratio = format_number(r)
    ax.fill_between(grid, np.minimum(r * grid, 100), 100, color=BAND_COLORS["compute"], alpha=0.10,
                    linewidth=0, label=f"SM ≥ {ratio}× DRAM (compute bound)")  # fmt: skip
    ax.fill_between(grid, low, grid / r, color=BAND_COLORS["memory"], alpha=0.12, linewidth=0,
                    label=f"DRAM ≥ {ratio}× SM (memory bound)")  # fmt: skip
    ax.plot([low, 100], [low, 100], linestyle="--", color="0.4", linewidth=1, label="SM = DRAM")
    sns.scatterplot(data=data, x="dram_throughput_pct", y="sm_throughput_pct", hue="phase", style="kernel",
                    palette=PHASE_COLORS, ax=ax, s=44, zorder=3)  # fmt: skip
    ax.set(xscale="log", yscale="log", xlim=(low, 100), ylim=(low, 100))
    ax.set(xlabel="DRAM throughput [% of peak]", ylabel="SM throughput [% of peak]")
    percent = _formatter(lambda v: f"{v:g} %")
    ax.xaxis.set_major_formatter(percent)
    ax.yaxis.set_major_formatter(percent)
    _legend_outside(ax)
    return "SM vs DRAM throughput per launch"


def _draw_roofline(ax: Any, data: pd.DataFrame, limits: Limits) -> str:
    sns = _seaborn()
    intensity = data["arithmetic_intensity_flop_per_byte"]
    bandwidth, flops = limits.peak_dram_bandwidth, limits.peak_flops
    ridge = flops / bandwidth if bandwidth and flops else None
    low = 10 ** math.floor(math.log10(intensity.min() / 4))
    high = 10 ** math.ceil(math.log10(max(intensity.max(), ridge or 0) * 4))
    if bandwidth:
        end = ridge or high
        label = f"DRAM {format_number(bandwidth / 1e9)} GB/s ({limits.peak_dram_source})"
        ax.plot([low, end], [low * bandwidth, end * bandwidth], color="0.2", linewidth=1.5, label=label)
    if flops:
        label = f"FP32 {format_number(flops / 1e12)} TFLOP/s ({limits.peak_flops_source})"
        ax.plot([ridge or low, high], [flops, flops], color="0.2", linestyle="--", linewidth=1.5, label=label)
    sns.scatterplot(data=data, x="arithmetic_intensity_flop_per_byte", y="achieved_flop_per_s", hue="phase",
                    style="kernel", palette=PHASE_COLORS, ax=ax, s=44, zorder=3)  # fmt: skip
    ax.set(xscale="log", yscale="log", xlim=(low, high))
    ax.set(xlabel="arithmetic intensity [FLOP per DRAM byte]", ylabel="achieved [FLOP/s]")
    _legend_outside(ax)
    return "Roofline"


def _legend_outside(ax: Any) -> None:
    """Legend right of the axes: on log-log plots every corner may hold data or a shaded region."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)


def _draw_bandwidth(ax: Any, data: pd.DataFrame, limits: Limits) -> str:
    sns = _seaborn()
    low, high = limits.bandwidth_band
    ax.axhspan(low, min(high, 1.0), color=BAND_COLORS["good"], alpha=0.12, linewidth=0,
               label=f"criterion {low:.0%}–{high:.0%} of peak")  # fmt: skip
    sources = {"bench": "bench: KV bytes / step time", "ncu": "ncu: DRAM bytes / kernel time"}
    markers = {sources["bench"]: "o", sources["ncu"]: "X"}
    shown = data.assign(measured=data["source"].map(sources))
    variants = sorted(shown["variant"].unique())
    colors = dict(zip(variants, sns.color_palette("colorblind", len(variants)), strict=True))
    sns.scatterplot(data=shown, x="T", y="fraction", hue="variant", style="measured", markers=markers,
                    palette=colors, ax=ax, s=40, zorder=3)  # fmt: skip
    medians = shown.groupby(["variant", "measured", "T"], sort=True)["fraction"].median().reset_index()
    for (variant, measured), line in medians.groupby(["variant", "measured"], sort=True):
        style = "-" if measured == sources["bench"] else ":"
        ax.plot(line["T"], line["fraction"], color=colors[variant], linewidth=1, linestyle=style)
    floor = 10 ** math.floor(math.log10(data["fraction"][data["fraction"] > 0].min() / 2))
    ax.set(yscale="log", ylim=(floor, max(1.0, float(data["fraction"].max()) * 1.2)))
    _log2_axis(ax, data["T"])
    ax.yaxis.set_major_formatter(_formatter(lambda v: f"{v * 100:g} %"))
    ax.set(xlabel="context length T [tokens]", ylabel=f"fraction of the {limits.peak_dram_source} DRAM peak")
    _legend_outside(ax)
    return "Decode bandwidth vs T"


def _log2_axis(ax: Any, values: pd.Series) -> None:
    """x on a log2 scale, a tick at each of *values*, labelled in full."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(values.unique()))
    ax.xaxis.set_major_formatter(_formatter(lambda v: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(_formatter(lambda v: ""))


def _draw_batch(ax: Any, data: pd.DataFrame, limits: Limits) -> str:
    sns = _seaborn()
    variants = sorted(data["variant"].unique())
    colors = dict(zip(variants, sns.color_palette("colorblind", len(variants)), strict=True))
    sns.lineplot(data=data, x="batch", y="bandwidth_bytes_per_s", hue="variant", palette=colors, marker="o",
                 ax=ax, linewidth=1.2)  # fmt: skip
    if limits.peak_dram_bandwidth:
        ax.axhline(limits.peak_dram_bandwidth, color="0.3", linestyle="--", linewidth=1,
                   label=f"DRAM peak ({limits.peak_dram_source})")  # fmt: skip
    _log2_axis(ax, data["batch"])
    T = ", ".join(f"{t:,}" for t in sorted(data["T"].unique()))
    ax.set(xlabel=f"sequences decoded together (T = {T} each)", ylabel="decode bandwidth [TB/s]")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_formatter(lambda v: f"{v / 1e12:g}"))
    _legend_outside(ax)
    return "Decode bandwidth vs batch"


def _draw_paged(ax: Any, data: pd.DataFrame, limits: Limits) -> str:
    sns = _seaborn()
    shown = data.assign(context=data["T"].map(lambda t: f"T = {t:,}"))
    style = "batch" if shown["batch"].nunique() > 1 else None
    sns.lineplot(data=shown, x="page_size", y="fraction_of_contiguous", hue="context", style=style,
                 palette="colorblind", marker="o", ax=ax, linewidth=1.2)  # fmt: skip
    ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1, label="contiguous attention")
    _log2_axis(ax, data["page_size"])
    ax.set(xlabel="page size [tokens]", ylabel="paged / contiguous decode bandwidth")
    ax.set_ylim(min(0.8, float(data["fraction_of_contiguous"].min()) * 0.95), 1.05)
    ax.yaxis.set_major_formatter(_formatter(lambda v: f"{v * 100:g} %"))
    _legend_outside(ax)
    return "Paged attention vs page size"


def _formatter(text: Callable[[float], str]) -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _pos: text(value))


def _duration_text(ns: float) -> str:
    for scale, unit in ((1e6, "ms"), (1e3, "µs")):
        if abs(ns) >= scale:
            return f"{format_number(ns / scale)} {unit}"
    return f"{format_number(ns)} ns"


# name -> (data function, draw function, the rows it needs: said on the figure when they are missing)
_RECIPES: dict[str, tuple[Callable[[pd.DataFrame, Limits], pd.DataFrame], Callable[..., str], str]] = {
    "decode_time_vs_T": (
        lambda df, _l: scaling_data(df, "decode", "T"),
        _draw_decode_time,
        "bench decode step_time rows",
    ),
    "prefill_time_vs_iters_fma": (
        lambda df, _l: scaling_data(df, "prefill", "iters_fma"),
        _draw_prefill_time,
        "bench prefill step_time rows",
    ),
    "sm_vs_dram": (
        lambda df, _l: utilisation_data(df),
        _draw_utilisation,
        "ncu sm_throughput and dram_throughput rows",
    ),
    "roofline": (
        roofline_data,
        _draw_roofline,
        "ncu duration, dram_bytes and FFMA (or bench kernel_flops) rows",
    ),
    "decode_bandwidth_fraction_vs_T": (
        bandwidth_data,
        _draw_bandwidth,
        "decode effective_bandwidth or ncu dram_bytes rows and a DRAM peak",
    ),
    "decode_bandwidth_vs_batch": (
        batch_data,
        _draw_batch,
        "bench decode effective_bandwidth rows of one variant at two or more batch sizes (sweep batch_paged)",
    ),
    "paged_vs_page_size": (
        lambda df, _l: paged_data(df),
        _draw_paged,
        "bench decode effective_bandwidth rows of paged and of contiguous attention at the same point",
    ),
}

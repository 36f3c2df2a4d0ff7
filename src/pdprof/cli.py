"""`pdprof` command line: every pipeline step, runnable without Snakemake.

The Snakemake scripts in workflow/scripts/ only translate the `snakemake`
object into these argument lists, so a failing job can be rerun by hand with
the command shown in its log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from pdprof import (
    build,
    calibrate,
    capture,
    compare,
    config,
    dataset,
    gpu,
    gpuslots,
    model,
    parse,
    plots,
    provenance,
    report,
    reproduce,
    run,
    status,
    validate,
)
from pdprof.errors import PdprofError, PointFailed, ToolError
from pdprof.fsutil import write_json, write_text
from pdprof.profilers import ncu, nsys, rocprof

EXIT_BAD_INPUT = 2
EXIT_POINT_FAILED = 1
EXIT_REGRESSION = 1
EXIT_MISMATCH = 1


def _load_sweep_config(args: argparse.Namespace) -> dict:
    """The config with --sweep (when given) as its sweep, so validation names an unknown one."""
    return config.load_config(args.config, overrides={"sweep": args.sweep} if args.sweep else None)


def _cmd_points(args: argparse.Namespace) -> None:
    for point in config.sweep_points(_load_sweep_config(args)):
        print(point.id)


def _cmd_config_check(args: argparse.Namespace) -> None:
    cfg = config.load_config(args.config)
    points = config.sweep_points(cfg)
    print(f"{args.config}: valid; sweep {cfg['sweep']!r} has {len(points)} points")


def _cmd_backend(args: argparse.Namespace) -> None:
    backend = gpu.resolve_backend(config.load_config(args.config))
    print(json.dumps({"kind": backend.kind, "gpu_slug": backend.gpu_slug, "reason": backend.reason}))


def _cmd_build(args: argparse.Namespace) -> None:
    arch = build.resolve_arch(args.backend, args.arch)
    build.build(args.backend, Path(args.source), Path(args.out), arch, args.flag)


def _cmd_bench(args: argparse.Namespace) -> None:
    point = config.Point.from_id(args.point)
    run.run_bench(Path(args.binary), point, Path(args.out), args.warmup, args.repeats, args.timeout)
    gpuslots.tag_json(args.out, getattr(args, "gpu_slot", None))


def _cmd_profile_ncu(args: argparse.Namespace) -> None:
    settings = {
        "metrics": args.metrics.split(","),
        "clock_control": args.clock_control,
        "cache_control": args.cache_control,
        "profile_layers": args.profile_layers,
    }
    point = config.Point.from_id(args.point)
    ncu.profile(Path(args.binary), point, Path(args.out_dir), settings, args.warmup, args.timeout)
    gpuslots.tag_json(Path(args.out_dir) / "ncu_command.json", getattr(args, "gpu_slot", None))


def _skip_optional_tool(args: argparse.Namespace, exc: ToolError, marker: str) -> None:
    """--optional: a missing or failing profiler is one line and a marker file; the run goes on."""
    if not args.optional:
        raise exc
    print(f"pdprof {args.command}: skipped: {exc}", file=sys.stderr)
    write_text(Path(args.out_dir) / marker, f"{exc}\n")


def _cmd_profile_nsys(args: argparse.Namespace) -> None:
    point = config.Point.from_id(args.point)
    try:
        empty = nsys.profile(
            Path(args.binary), point, Path(args.out_dir), args.warmup, args.repeats, args.timeout
        )
    except ToolError as exc:
        _skip_optional_tool(args, exc, "nsys_skipped.txt")
        return
    if empty:
        print(f"pdprof profile-nsys: no data in {', '.join(empty)} (kept empty, as nsys wrote them)")


def _rocprof_family(choice: str) -> str | None:
    if choice == "none":
        return None
    if choice != "auto":
        return choice
    device = rocprof.read_device()
    return rocprof.FAMILY_OF_GFX.get(device.gfx) if device else None


def _cmd_profile_rocprof(args: argparse.Namespace) -> None:
    point = config.Point.from_id(args.point)
    try:
        family = _rocprof_family(args.family)
        rocprof.profile(
            Path(args.binary), point, Path(args.out_dir), args.warmup, args.repeats, args.timeout, family
        )
    except ToolError as exc:
        _skip_optional_tool(args, exc, "rocprof_skipped.txt")


def _cmd_provenance(args: argparse.Namespace) -> None:
    write_json(args.out, provenance.collect(args.backend, config.REPO_ROOT))


def _cmd_tidy(args: argparse.Namespace) -> None:
    point = config.Point.from_id(args.point)
    ncu_page = Path(args.ncu) if args.ncu else None
    nsys_dir = Path(args.nsys) if args.nsys else None
    frame = dataset.tidy_point(point, args.gpu, Path(args.bench), Path(args.provenance), ncu_page, nsys_dir)
    dataset.write_frame(frame, Path(args.out))


def _cmd_partial_report(args: argparse.Namespace) -> None:
    results, raw_root = Path(args.results), Path(args.raw_root)
    statuses = status.point_statuses(results, raw_root, args.points, args.ncu)
    finished = [point_status.point for point_status in statuses if point_status.status == "ok"]
    if not finished:
        raise PointFailed(f"no point of the sweep finished; see the logs under {results / 'logs'}")
    result = validate.validate(dataset.tidy_runs(raw_root, finished, args.gpu), _thresholds(args))
    result["failed_points"] = status.as_rows(statuses)
    out_dir = results / "report-partial"
    report.write_reports(result, out_dir)
    print(
        f"pdprof: {len(result['failed_points'])} of {len(statuses)} points failed; "
        f"partial report of the others, with the failed points and their logs: {out_dir / 'report.html'}"
    )


def _cmd_dataset(args: argparse.Namespace) -> None:
    frames = [dataset.read_dataset([path]) for path in args.inputs]
    for profiler in args.profiler:
        dataset.write_partition(frames, Path(args.root), args.gpu, profiler)


def _thresholds(args: argparse.Namespace) -> dict | None:
    """The `validation` thresholds: from --config if given, else the JSON a Snakemake script passes."""
    if args.config:
        return config.load_config(args.config)["validation"]
    return json.loads(args.thresholds_json) if args.thresholds_json else None


def _calibrations(paths: list[str]) -> dict[str, dict]:
    """Calibration results (pdprof calibrate) by the folder holding them: results/<gpu>, captures/<gpu>."""
    found = {}
    for path in paths:
        result = json.loads(Path(path).read_text())
        if "device" in result:  # a skipped calibration says why and holds no peaks
            found[Path(path).resolve().parent.name] = result
    return found


def _cmd_calibrate(args: argparse.Namespace) -> None:
    try:
        result = calibrate.measure()
    except ToolError as exc:
        if not args.optional:
            raise
        # Validation then judges against datasheet and device-reported peaks, and says so.
        write_json(args.out, {"schema": calibrate.SCHEMA, "skipped": str(exc)})
        print(f"pdprof calibrate: skipped: {exc}")
        return
    write_json(args.out, result)
    print(
        f"{result['device']['name']}: copy {result['copy_bandwidth'] / 1e12:.2f} TB/s, "
        f"read {result['read_bandwidth'] / 1e12:.2f} TB/s, FP32 FMA {result['fp32_fma_flops'] / 1e12:.1f} TFLOP/s, "
        f"FP16 GEMM {result['fp16_gemm_flops'] / 1e12:.0f} TFLOP/s"
    )


def _cmd_validate(args: argparse.Namespace) -> None:
    frame = dataset.read_dataset(args.inputs)
    results = validate.validate_by_gpu(frame, _thresholds(args), _calibrations(args.calibration))
    for slug, result in results.items():
        out_dir = Path(args.out_dir.replace("{gpu}", slug))
        report.write_reports(result, out_dir, _report_figures(args.figures_dir, slug))
        summary = ", ".join(f"{n} {status}" for status, n in result["summary"].items() if n)
        print(f"{slug}: {result['verdict']} ({summary}) -> {out_dir}")


def _report_figures(figures_dir: str | None, slug: str) -> list[report.Figure]:
    """The PNGs `pdprof figures` wrote into *figures_dir* ('{gpu}' replaced), in plots.FIGURES order."""
    if not figures_dir:
        return []
    folder = Path(figures_dir.replace("{gpu}", slug))
    missing = [f"{name}.png" for name in plots.FIGURES if not (folder / f"{name}.png").is_file()]
    if missing:
        raise PdprofError(f"{folder}: no {', '.join(missing)}; run `pdprof figures` first")
    return [(folder / f"{name}.png", caption) for name, caption in plots.FIGURES.items()]


def _cmd_figures(args: argparse.Namespace) -> None:
    frame = dataset.read_dataset(args.inputs)
    thresholds = _thresholds(args)
    calibrations = _calibrations(args.calibration)
    for slug in sorted(frame["gpu"].unique()):
        rows = frame[frame["gpu"] == slug]
        calibration = validate.calibration_of(slug, rows, calibrations)
        limits = plots.resolve_limits(
            rows, thresholds, args.peak_dram_bandwidth, args.peak_flops, calibration
        )
        out_dir = Path(args.out_dir.replace("{gpu}", slug))
        paths = plots.write_figures(rows, out_dir, limits, args.format or plots.FORMATS)
        print(f"{slug}: {len(paths)} files -> {out_dir}")


def _cmd_reproduce(args: argparse.Namespace) -> int:
    comparisons = reproduce.reproduce(
        Path(args.captures), Path(args.published), Path(args.out_dir), _thresholds(args)
    )
    table = reproduce.format_table(comparisons)
    print(table)
    if args.table:
        write_text(args.table, table + "\n")
    mismatches = [c for c in comparisons if not c.ok]
    for comparison in mismatches:
        print(f"pdprof reproduce: MISMATCH {comparison.mismatch_line()}", file=sys.stderr)
    return EXIT_MISMATCH if mismatches else 0


def _cmd_capture(args: argparse.Namespace) -> None:
    point_ids = [point.id for point in config.sweep_points(_load_sweep_config(args))] if args.sweep else None
    copied = capture.create(Path(args.results), Path(args.bundle), args.run_command, point_ids)
    mib = capture.size_bytes(copied) / 2**20
    print(f"{len(copied)} files ({mib:.1f} MiB) copied into {args.bundle}")


def _cmd_model(args: argparse.Namespace) -> None:
    shape = model.Shape(
        L=args.L,
        H=args.H,
        heads=args.heads,
        kv_heads=args.kv_heads,
        T=args.T,
        batch=args.batch,
        dtype_bytes=args.dtype_bytes,
        ffn=args.ffn,
        mlp_projections=args.mlp_projections,
        causal=args.causal,
    )
    calibration = model.load_calibration(args.calibration) if args.calibration else None
    result = model.summary(shape, args.gpu, calibration)
    print(json.dumps(result, indent=2) if args.json else model.format_summary(result))


def _cmd_compare(args: argparse.Namespace) -> int:
    run_a = compare.load_run(args.run_a, args.gpu_a)
    run_b = compare.load_run(args.run_b, args.gpu_b)
    result = compare.compare(run_a, run_b, args.threshold_pct, args.all_metrics)
    labels = compare.run_label(run_a, args.run_a), compare.run_label(run_b, args.run_b)
    text = compare.render_markdown(result, *labels, args.threshold_pct)
    worse = result.regressions()
    if args.out:
        write_text(args.out, text)
        print(f"{len(result.table)} metrics compared, {len(worse)} regression(s) -> {args.out}")
    else:
        print(text, end="")
    return EXIT_REGRESSION if len(worse) else 0


def _add_point_run_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("binary", help="benchmark binary built by `pdprof build`")
    sub.add_argument("--point", required=True, help="point id, as listed by `pdprof points`")
    sub.add_argument("--warmup", type=int, default=2)
    sub.add_argument("--timeout", type=float, default=900.0, help="seconds before the run is killed")
    _add_gpu_slot_option(sub)


def _add_gpu_slot_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--gpu-slots",
        metavar="DIR",
        help="run on a GPU of its own: claim a free one with a lock file in DIR (under SLURM: the "
        "allocation's) and record it as gpu_slot in the output JSON",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pdprof", description=__doc__.splitlines()[0])
    subs = parser.add_subparsers(dest="command", required=True)

    def sub(
        name: str, func: Callable[[argparse.Namespace], int | None], help: str
    ) -> argparse.ArgumentParser:
        p = subs.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = sub("points", _cmd_points, "list the point ids of a sweep")
    p.add_argument("--config", default=config.DEFAULT_CONFIG_PATH)
    p.add_argument("--sweep", help="sweep name (default: the config's `sweep`)")

    p = sub("config-check", _cmd_config_check, "validate a config file against the schema")
    p.add_argument("--config", default=config.DEFAULT_CONFIG_PATH)

    p = sub("backend", _cmd_backend, "show which backend `auto` resolves to here")
    p.add_argument("--config", default=config.DEFAULT_CONFIG_PATH)

    p = sub("build", _cmd_build, "compile the benchmark with nvcc or hipcc")
    p.add_argument("--backend", choices=["cuda", "hip"], required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--arch", default="auto", help="sm_XX / gfxNNN; auto reads it from the GPU")
    p.add_argument("--flag", action="append", default=[], help="compiler flag (repeatable)")

    p = sub("bench", _cmd_bench, "timing run of one point (unprofiled) -> JSON result")
    _add_point_run_options(p)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out", required=True)

    p = sub("profile-ncu", _cmd_profile_ncu, "run one point under Nsight Compute -> report + CSV pages")
    _add_point_run_options(p)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--metrics", required=True, help="comma-separated ncu metric names")
    p.add_argument("--clock-control", choices=["none", "base"], default="none")
    p.add_argument("--cache-control", choices=["all", "none"], default="all")
    p.add_argument("--profile-layers", type=int, default=1)

    p = sub("profile-nsys", _cmd_profile_nsys, "run one point under Nsight Systems -> report + stats CSVs")
    _add_point_run_options(p)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--optional", action="store_true", help="a missing or failing nsys is a warning, exit 0")

    p = sub("profile-rocprof", _cmd_profile_rocprof, "run one point under rocprof (v1/v2/v3) -> CSVs")
    _add_point_run_options(p)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out-dir", required=True)
    p.add_argument(
        "--family",
        choices=["auto", *rocprof.COUNTER_PASSES, "none"],
        default="auto",
        help="counter set; auto: from rocminfo's gfx target; none: kernel trace only",
    )
    p.add_argument(
        "--optional", action="store_true", help="a missing or failing rocprof is a warning, exit 0"
    )

    p = sub("provenance", _cmd_provenance, "record card, driver, tool versions and git revision")
    p.add_argument("--backend", choices=["cuda", "hip"], required=True)
    p.add_argument("--out", required=True)

    p = sub("tidy", _cmd_tidy, "one point's raw outputs -> tidy Parquet rows with provenance")
    p.add_argument("--point", required=True)
    p.add_argument("--gpu", required=True, help="GPU slug")
    p.add_argument("--bench", required=True, help="bench.json of the point")
    p.add_argument("--ncu", help="ncu CSV of the point (raw page preferred)")
    p.add_argument("--nsys", help="folder of the point's nsys exports (pdprof profile-nsys --out-dir)")
    p.add_argument("--provenance", required=True)
    p.add_argument("--out", required=True)

    p = sub("dataset", _cmd_dataset, "merge per-point Parquet files into the partitioned dataset")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--root", required=True)
    p.add_argument("--gpu", required=True)
    p.add_argument("--profiler", action="append", required=True)

    p = sub("validate", _cmd_validate, "check a dataset against the acceptance criteria; write reports")
    p.add_argument("inputs", nargs="+", help="dataset roots or Parquet files")
    p.add_argument("--out-dir", default="results/{gpu}/report", help="'{gpu}' is replaced by the slug")
    p.add_argument("--config", help="take thresholds from this config's `validation` section")
    p.add_argument("--thresholds-json", help=argparse.SUPPRESS)
    p.add_argument("--figures-dir", help="embed the PNGs of `pdprof figures` from here; '{gpu}' is replaced")
    p.add_argument(
        "--calibration", action="append", default=[], help="calibration.json of a GPU (repeatable)"
    )

    p = sub("figures", _cmd_figures, "draw the figures of a dataset: PNG, SVG and the plotted data as CSV")
    p.add_argument("inputs", nargs="+", help="dataset roots or Parquet files")
    p.add_argument("--out-dir", default="results/{gpu}/figures", help="'{gpu}' is replaced by the slug")
    p.add_argument("--config", help="take thresholds and peak_dram_bandwidth from this config's `validation`")
    p.add_argument("--thresholds-json", help=argparse.SUPPRESS)
    p.add_argument("--format", action="append", choices=plots.FORMATS, help="image format (repeatable)")
    p.add_argument("--peak-dram-bandwidth", type=float, help="byte/s, e.g. calibrated; overrides the config")
    p.add_argument("--peak-flops", type=float, help="FLOP/s roofline ceiling (default: FP32 datasheet)")
    p.add_argument(
        "--calibration", action="append", default=[], help="calibration.json of a GPU (repeatable)"
    )

    p = sub(
        "calibrate",
        _cmd_calibrate,
        "measure this GPU's copy/read bandwidth, FP32 FMA and FP16 GEMM rates (CuPy)",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--optional", action="store_true", help="without CuPy, record why and exit 0")
    _add_gpu_slot_option(p)

    p = sub(
        "reproduce",
        _cmd_reproduce,
        "redraw the published figures from the capture bundles; exit 1 when their data differ",
    )
    p.add_argument("--captures", default="captures", help="capture bundles, one folder per GPU")
    p.add_argument("--published", default="published", help="published figure data, one folder per GPU")
    p.add_argument("--out-dir", default="results/reproduce", help="where the redrawn figures go")
    p.add_argument("--config", help="take thresholds from this config's `validation` section")
    p.add_argument("--thresholds-json", help=argparse.SUPPRESS)
    p.add_argument("--table", help="also write the comparison table to this file")

    p = sub("partial-report", _cmd_partial_report, "report on the points that finished; list the failed ones")
    p.add_argument("--results", required=True, help="results/<gpu>")
    p.add_argument(
        "--raw-root", required=True, help="where the points' raw outputs are (results/<gpu> or a bundle)"
    )
    p.add_argument("--gpu", required=True, help="GPU slug")
    p.add_argument("--points", nargs="+", required=True)
    p.add_argument("--ncu", action="store_true", help="points were also profiled with ncu")
    p.add_argument("--config", help="take thresholds from this config's `validation` section")
    p.add_argument("--thresholds-json", help=argparse.SUPPRESS)

    p = sub("capture", _cmd_capture, "copy a finished run's raw outputs into a replay bundle")
    p.add_argument("results", help="results/<gpu>")
    p.add_argument("bundle", help="captures/<gpu>")
    p.add_argument(
        "--command",
        dest="run_command",
        required=True,
        help="the command that produced the run, for the record",
    )
    p.add_argument("--sweep", help="copy only this sweep's points (default: every point in RESULTS/runs)")
    p.add_argument("--config", default=config.DEFAULT_CONFIG_PATH, help="the config that defines --sweep")

    p = sub("model", _cmd_model, "analytic prefill/decode FLOPs, bytes, intensity and roofline time")
    p.add_argument("--L", type=int, required=True, help="layers")
    p.add_argument("--H", type=int, required=True, help="hidden size")
    p.add_argument("--heads", type=int, required=True, help="query heads")
    p.add_argument("--kv-heads", type=int, required=True, help="KV heads (GQA)")
    p.add_argument("--T", type=int, required=True, help="prompt length / cached context in tokens")
    p.add_argument("--batch", type=int, default=1, help="sequences per step")
    p.add_argument("--dtype-bytes", type=int, choices=sorted(model.DTYPE_NAMES), default=2)
    p.add_argument("--ffn", type=int, help="MLP hidden size (default 4·H)")
    p.add_argument("--mlp-projections", type=int, choices=[2, 3], default=2, help="3: gated SiLU")
    p.add_argument("--causal", action="store_true", help="causal prefill attention (half the T² work)")
    p.add_argument("--gpu", default="h100-sxm", help=f"datasheet ceilings: {', '.join(model.DATASHEETS)}")
    p.add_argument("--calibration", help='JSON {"dram_bytes_per_s": .., "flops_per_s": ..}: measured peaks')
    p.add_argument("--json", action="store_true", help="JSON with exact integer counts")

    p = sub(
        "compare",
        _cmd_compare,
        "metric changes between two datasets; exit code 1 when a regression exceeds the threshold",
    )
    p.add_argument("run_a", help="baseline: dataset root or Parquet file")
    p.add_argument("run_b", help="candidate: dataset root or Parquet file")
    p.add_argument("--threshold-pct", type=float, default=5.0, help="flag changes worse than this (%%)")
    p.add_argument("--out", help="write the Markdown table here instead of stdout")
    p.add_argument("--gpu-a", help="GPU slug to take from RUN_A when it holds several")
    p.add_argument("--gpu-b", help="GPU slug to take from RUN_B when it holds several")
    p.add_argument("--all-metrics", action="store_true", help="also raw profiler counters (names with __)")
    return parser


@contextlib.contextmanager
def _output_to(log: str) -> Iterator[int]:
    """Send this process's and its children's output to the log; yield a fd of the console's stderr."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush(), sys.stderr.flush()
    with open(log, "a") as sink:
        os.dup2(sink.fileno(), 1), os.dup2(sink.fileno(), 2)
        try:
            yield saved[1]
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


@contextlib.contextmanager
def _gpu_slot(args: argparse.Namespace) -> Iterator[None]:
    """--gpu-slots: hold one GPU (CUDA/HIP_VISIBLE_DEVICES) while the command runs."""
    args.gpu_slot = None
    if not getattr(args, "gpu_slots", None):
        yield
        return
    with gpuslots.claim(args.gpu_slots, label=f"{args.command} {getattr(args, 'point', '')}") as slot:
        args.gpu_slot = slot
        if slot.visible:
            print(f"pdprof: {slot.variable}={slot.visible} ({slot.source}) on {slot.host}", flush=True)
        yield


def main(argv: list[str] | None = None, log: str | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["parse"]:
        with sigterm_unwinds():
            return parse.main(argv[1:])
    args = build_parser().parse_args(argv)
    if log is None:
        return _run_command(args)
    with _output_to(log) as console:
        code = _run_command(args)
        if args.error:  # the one error line also reaches the console, beside the job's log
            os.write(console, args.error.encode())
        return code


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """SIGTERM (scancel, a stopping Snakemake) unwinds like Ctrl-C, so no temporary output is left.

    Python's default SIGTERM ends the process at once, skipping the clean-up of atomic_output.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_command(args: argparse.Namespace) -> int:
    """The subcommand's exit code; a PdprofError is one line on stderr, kept in args.error."""
    args.error = ""
    try:
        with sigterm_unwinds(), _gpu_slot(args):
            code = args.func(args)
    except PdprofError as exc:
        args.error = f"pdprof {args.command}: error: {exc}\n"
        sys.stderr.write(args.error)
        sys.stderr.flush()
        return EXIT_POINT_FAILED if isinstance(exc, PointFailed) else EXIT_BAD_INPUT
    return code or 0


if __name__ == "__main__":
    sys.exit(main())

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
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from pdprof import build, capture, config, dataset, gpu, parse, provenance, report, run, validate
from pdprof.errors import PdprofError, PointFailed
from pdprof.fsutil import write_json
from pdprof.profilers import ncu

EXIT_BAD_INPUT = 2
EXIT_POINT_FAILED = 1


def _cmd_points(args: argparse.Namespace) -> None:
    cfg = config.load_config(args.config)
    for point in config.sweep_points(cfg, args.sweep):
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


def _cmd_profile_ncu(args: argparse.Namespace) -> None:
    settings = {
        "metrics": args.metrics.split(","),
        "clock_control": args.clock_control,
        "cache_control": args.cache_control,
        "profile_layers": args.profile_layers,
    }
    point = config.Point.from_id(args.point)
    ncu.profile(Path(args.binary), point, Path(args.out_dir), settings, args.warmup, args.timeout)


def _cmd_provenance(args: argparse.Namespace) -> None:
    write_json(args.out, provenance.collect(args.backend, config.REPO_ROOT))


def _cmd_tidy(args: argparse.Namespace) -> None:
    point = config.Point.from_id(args.point)
    prov = json.loads(Path(args.provenance).read_text())
    frames = [dataset.bench_frame(json.loads(Path(args.bench).read_text()))]
    if args.ncu:
        frames.append(dataset.profiler_frame(parse.parse_file(args.ncu, "ncu"), "ncu"))
    dataset.write_frame(dataset.point_frame(frames, point, args.gpu, prov), Path(args.out))


def _cmd_dataset(args: argparse.Namespace) -> None:
    frames = [dataset.read_dataset([path]) for path in args.inputs]
    for profiler in args.profiler:
        dataset.write_partition(frames, Path(args.root), args.gpu, profiler)


def _cmd_validate(args: argparse.Namespace) -> None:
    thresholds = json.loads(args.thresholds_json) if args.thresholds_json else None
    if args.config:
        thresholds = config.load_config(args.config)["validation"]
    frame = dataset.read_dataset(args.inputs)
    results = validate.validate_by_gpu(frame, thresholds)
    for slug, result in results.items():
        out_dir = Path(args.out_dir.replace("{gpu}", slug))
        report.write_reports(result, out_dir)
        summary = ", ".join(f"{n} {status}" for status, n in result["summary"].items() if n)
        print(f"{slug}: {result['verdict']} ({summary}) -> {out_dir}")


def _cmd_capture(args: argparse.Namespace) -> None:
    copied = capture.create(Path(args.results), Path(args.bundle), args.command)
    print(f"{len(copied)} files copied into {args.bundle}")


def _add_point_run_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("binary", help="benchmark binary built by `pdprof build`")
    sub.add_argument("--point", required=True, help="point id, as listed by `pdprof points`")
    sub.add_argument("--warmup", type=int, default=2)
    sub.add_argument("--timeout", type=float, default=900.0, help="seconds before the run is killed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pdprof", description=__doc__.splitlines()[0])
    subs = parser.add_subparsers(dest="command", required=True)

    def sub(name: str, func: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
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

    p = sub("provenance", _cmd_provenance, "record card, driver, tool versions and git revision")
    p.add_argument("--backend", choices=["cuda", "hip"], required=True)
    p.add_argument("--out", required=True)

    p = sub("tidy", _cmd_tidy, "one point's raw outputs -> tidy Parquet rows with provenance")
    p.add_argument("--point", required=True)
    p.add_argument("--gpu", required=True, help="GPU slug")
    p.add_argument("--bench", required=True, help="bench.json of the point")
    p.add_argument("--ncu", help="ncu CSV of the point (raw page preferred)")
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

    p = sub("capture", _cmd_capture, "copy a finished run's raw outputs into a replay bundle")
    p.add_argument("results", help="results/<gpu>")
    p.add_argument("bundle", help="captures/<gpu>")
    p.add_argument("--command", required=True, help="the command that produced the run, for the record")
    return parser


@contextlib.contextmanager
def _output_to(log: str | None) -> Iterator[int]:
    """Send this process's and its children's output to the log; yield a fd of the console's stderr."""
    console = os.dup(2)
    if log is None:
        yield console
        os.close(console)
        return
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush(), sys.stderr.flush()
    with open(log, "a") as sink:
        os.dup2(sink.fileno(), 1), os.dup2(sink.fileno(), 2)
        try:
            yield console
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            for fd in (*saved, console):
                os.close(fd)


def main(argv: list[str] | None = None, log: str | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["parse"]:
        return parse.main(argv[1:])
    args = build_parser().parse_args(argv)
    with _output_to(log) as console:
        try:
            args.func(args)
        except PdprofError as exc:
            message = f"pdprof {args.command}: error: {exc}\n"
            sys.stderr.write(message)
            if log is not None:
                sys.stderr.flush()
                os.write(console, message.encode())
            return EXIT_POINT_FAILED if isinstance(exc, PointFailed) else EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`pdprof capture`: a bundle holds exactly one run's points, copied byte for byte, and never merges."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pdprof import capture, config
from pdprof.cli import main
from pdprof.errors import ConfigError, PdprofError

PROVENANCE = {
    "gpu": {"name": "NVIDIA H200", "compute_capability": "9.0", "driver_version": "580.159.04"},
    "git_rev": "0123abc",
}


def smoke_points() -> list[str]:
    return [point.id for point in config.sweep_points(config.load_config(), "smoke")]


def make_results(root: Path, point_ids: list[str]) -> Path:
    """results/<gpu> as the pipeline leaves it: provenance, calibration and per-point raw outputs."""
    (root / "runs").mkdir(parents=True)
    (root / "provenance.json").write_text(json.dumps(PROVENANCE))
    (root / "calibration.json").write_text('{"dram_read_bytes_per_s": 4.8e12}')
    for index, point in enumerate(point_ids):
        run = root / "runs" / point
        (run / "nsys").mkdir(parents=True)
        (run / "bench.json").write_text(json.dumps({"variant": point.split("-")[0], "index": index}))
        (run / "ncu.ncu-rep").write_bytes(bytes(range(256)) * (index + 1))
        (run / "ncu_raw.csv").write_text(f'"ID","gpu__time_duration.sum"\n"0","{1000 + index}"\n')
        (run / "nsys" / "nsys_cuda_gpu_trace.csv").write_text(f"Start (ns),Name\n{index},k\n")
    return root


def bundle_points(bundle: Path) -> list[str]:
    return sorted(path.name for path in (bundle / "runs").iterdir())


def test_every_point_is_copied_byte_for_byte_with_its_record(tmp_path):
    points = smoke_points()[:3]
    results = make_results(tmp_path / "results", points)
    copied = capture.create(results, tmp_path / "bundle", "snakemake --cores 4")

    bundle = tmp_path / "bundle"
    assert bundle_points(bundle) == sorted(points)
    for path in copied:
        source = results / path.relative_to(bundle)
        assert path.read_bytes() == source.read_bytes()
    assert (bundle / "calibration.json").is_file()
    record = (bundle / "CAPTURE.md").read_text()
    assert "`snakemake --cores 4`" in record and "NVIDIA H200" in record and "0123abc" in record
    assert capture.size_bytes(copied) == sum(path.stat().st_size for path in copied)


def test_sweep_copies_only_its_own_points(tmp_path, capsys):
    """results/<gpu> keeps every point run there: another sweep's points stay out of the bundle."""
    smoke = smoke_points()
    other = "kv_stream_fp8-L32-H4096-h32-kv8-T2048-f256"
    results = make_results(tmp_path / "results", [*smoke, other])
    argv = ["capture", str(results), str(tmp_path / "bundle"), "--command", "x", "--sweep", "smoke"]
    assert main(argv) == 0
    assert bundle_points(tmp_path / "bundle") == sorted(smoke)
    assert f"copied into {tmp_path / 'bundle'}" in capsys.readouterr().out


def test_a_missing_point_of_the_sweep_is_named_and_nothing_is_written(tmp_path, capsys):
    smoke = smoke_points()
    results = make_results(tmp_path / "results", smoke[1:])
    argv = ["capture", str(results), str(tmp_path / "bundle"), "--command", "x", "--sweep", "smoke"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("pdprof capture: error:")  # the subcommand, not the --command text
    assert smoke[0] in error and "lacks 1 of the sweep's" in error
    assert not (tmp_path / "bundle").exists()


def test_an_unknown_sweep_is_named_by_the_config_validation(tmp_path, capsys):
    results = make_results(tmp_path / "results", smoke_points())
    argv = ["capture", str(results), str(tmp_path / "bundle"), "--command", "x", "--sweep", "nope"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "'nope' is not defined under sweeps" in error and "smoke" in error


def test_points_names_an_unknown_sweep_as_capture_does(capsys):
    assert main(["points", "--sweep", "nope"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("pdprof points: error:") and "'nope' is not defined under sweeps" in error


def test_points_lists_the_named_sweep():
    assert main(["points", "--sweep", "smoke"]) == 0


def test_an_existing_bundle_is_refused_and_left_as_it_was(tmp_path):
    results = make_results(tmp_path / "results", smoke_points()[:2])
    bundle = tmp_path / "bundle"
    capture.create(results, bundle, "first")
    before = {path: path.read_bytes() for path in bundle.rglob("*") if path.is_file()}
    make_results(tmp_path / "later", smoke_points()[2:4])
    with pytest.raises(ConfigError, match="never merged into"):
        capture.create(tmp_path / "later", bundle, "second")
    assert {path: path.read_bytes() for path in bundle.rglob("*") if path.is_file()} == before


def test_a_file_in_the_bundles_place_is_named(tmp_path):
    results = make_results(tmp_path / "results", smoke_points()[:1])
    (tmp_path / "bundle").write_text("not a folder")
    with pytest.raises(ConfigError, match="is a file, not a bundle folder"):
        capture.create(results, tmp_path / "bundle", "x")


def test_an_empty_folder_may_receive_the_bundle(tmp_path):
    results = make_results(tmp_path / "results", smoke_points()[:1])
    (tmp_path / "bundle").mkdir()
    assert capture.create(results, tmp_path / "bundle", "x")


def test_the_manifest_records_every_copied_file_and_sha256sum_accepts_it(tmp_path):
    results = make_results(tmp_path / "results", smoke_points()[:2])
    bundle = tmp_path / "bundle"
    copied = capture.create(results, bundle, "x")
    lines = (bundle / capture.MANIFEST).read_text().splitlines()
    assert sorted(line.split("  ", 1)[1] for line in lines) == sorted(
        str(p.relative_to(bundle)) for p in copied
    )
    assert capture.verify(bundle) == len(copied)
    if shutil.which("sha256sum"):
        done = subprocess.run(
            ["sha256sum", "--quiet", "-c", capture.MANIFEST], cwd=bundle, capture_output=True
        )
        assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("change", ["edit", "remove", "add"])
def test_a_bundle_changed_after_capture_is_named(tmp_path, change):
    point = smoke_points()[0]
    bundle = tmp_path / "bundle"
    capture.create(make_results(tmp_path / "results", [point]), bundle, "x")
    raw = bundle / "runs" / point / "ncu_raw.csv"
    if change == "edit":  # a hand "fix" of one number
        raw.write_text(raw.read_text().replace("1000", "1001"))
    elif change == "remove":
        raw.unlink()
    else:
        (raw.parent / "ncu_raw_fixed.csv").write_text("x")
    expected = {"edit": "differs from its sha256", "remove": "is missing", "add": "is not in"}[change]
    with pytest.raises(PdprofError, match=expected):
        capture.verify(bundle)


def test_a_bundle_from_before_manifests_verifies_nothing(tmp_path):
    bundle = tmp_path / "bundle"
    capture.create(make_results(tmp_path / "results", smoke_points()[:1]), bundle, "x")
    (bundle / capture.MANIFEST).unlink()
    assert capture.verify(bundle) == 0

"""Backend choice: auto falls back to replay (saying so) without a GPU."""

from __future__ import annotations

import copy

import pytest
import yaml

from pdprof import capture, config, gpu
from pdprof.errors import ConfigError, PdprofError, ToolError


@pytest.fixture
def cfg() -> dict:
    return config.validate_config(yaml.safe_load(config.DEFAULT_CONFIG_PATH.read_text()))


@pytest.fixture
def no_gpus(monkeypatch):
    monkeypatch.setattr(gpu, "nvidia_gpus", lambda: [])
    monkeypatch.setattr(gpu, "amd_gpus", lambda: [])


def test_slugify():
    assert gpu.slugify("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert gpu.slugify("AMD Instinct MI250X / MI250") == "amd-instinct-mi250x-mi250"


def test_auto_without_gpu_replays_and_says_so(cfg, no_gpus):
    backend = gpu.resolve_backend(cfg)
    assert backend.kind == "replay"
    assert backend.gpu_slug == "nvidia-h100-80gb-hbm3"
    assert backend.reason.startswith("no GPU found")
    assert "NVIDIA H100" in backend.reason


def test_auto_with_nvidia_gpu_picks_cuda(cfg, monkeypatch):
    found = [gpu.Gpu("NVIDIA H100 80GB HBM3", "9.0", "580.159.04")]
    monkeypatch.setattr(gpu, "nvidia_gpus", lambda: found)
    backend = gpu.resolve_backend(cfg)
    assert (backend.kind, backend.gpu_slug) == ("cuda", "nvidia-h100-80gb-hbm3")


def test_cuda_without_gpu_is_a_clear_error(cfg, no_gpus):
    cfg = {**cfg, "backend": "cuda"}
    with pytest.raises(ToolError, match="nvidia-smi finds no NVIDIA GPU"):
        gpu.resolve_backend(cfg)


def test_cuda_with_slug_needs_no_gpu_here(cfg, no_gpus):
    backend = gpu.resolve_backend({**cfg, "backend": "cuda", "gpu_slug": "nvidia-a100"})
    assert (backend.kind, backend.gpu_slug) == ("cuda", "nvidia-a100")


def test_replay_of_missing_bundle_is_a_config_error(cfg, tmp_path):
    bad = copy.deepcopy(cfg)
    bad["backend"] = "replay"
    bad["replay"]["captures"] = str(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="holds no capture bundle"):
        gpu.resolve_backend(bad)


def test_replay_of_a_bundle_edited_after_capture_names_the_file(cfg, tmp_path):
    results = tmp_path / "results"
    (results / "runs" / "p").mkdir(parents=True)
    (results / "provenance.json").write_text('{"gpu": {"name": "NVIDIA H200", "compute_capability": "9.0", '
                                             '"driver_version": "580"}}')  # fmt: skip
    (results / "runs" / "p" / "bench.json").write_text('{"decode": {"ms_median": 1.0}}')
    bundle = tmp_path / "nvidia-h200"
    capture.create(results, bundle, "x")
    replay = {**copy.deepcopy(cfg), "backend": "replay"}
    replay["replay"]["captures"] = str(bundle)
    assert gpu.resolve_backend(replay).gpu_slug == "nvidia-h200"
    (bundle / "runs" / "p" / "bench.json").write_text('{"decode": {"ms_median": 0.5}}')
    with pytest.raises(PdprofError, match="bench.json differs from its sha256"):
        gpu.resolve_backend(replay)

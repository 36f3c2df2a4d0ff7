"""Config validation: every mistake is one message naming the key, before any job runs."""

from __future__ import annotations

import copy

import pytest
import yaml

from pdprof import config
from pdprof.errors import ConfigError


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(config.DEFAULT_CONFIG_PATH.read_text())


def test_default_config_is_valid_and_expands_the_default_sweep(raw):
    cfg = config.validate_config(raw)
    ids = [p.id for p in config.sweep_points(cfg)]
    assert ids[0] == "seed-L32-H4096-h32-kv8-T2048-f256"  # the seed's 7B-class point
    assert len(ids) == len(set(ids)) == 1 + 5 + 4  # shared point counted once
    assert {p.T for p in config.sweep_points(cfg)} == {1024, 2048, 4096, 8192, 16384, 32768}
    assert {p.iters_fma for p in config.sweep_points(cfg)} == {64, 128, 256, 512, 1024}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c.update(colour="red"), "unknown key 'colour'"),
        (lambda c: c["run"].update(repeatz=3), "unknown key 'repeatz' in run"),
        (lambda c: c["sweeps"]["default"]["groups"][1].update(T=[1024, -5]), "groups[1].T[1]: -5"),
        (lambda c: c["run"].update(repeats="ten"), "run.repeats: 'ten' is not of type"),
        (lambda c: c.update(backend="gpu"), "backend: 'gpu' is not one of: auto, cuda, hip, replay"),
        (lambda c: c["profilers"]["ncu"].update(clock_control="max"), "clock_control"),
        (lambda c: c.update(sweep="nope"), "sweep 'nope' is not defined"),
        (lambda c: c["sweeps"]["default"]["base"].update(heads=30), "not divisible by heads=30"),
    ],
)
def test_bad_config_names_the_key(raw, mutate, expected):
    bad = copy.deepcopy(raw)
    mutate(bad)
    with pytest.raises(ConfigError) as err:
        config.validate_config(bad)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_shell_metacharacters_are_refused_where_strings_reach_a_command(raw):
    bad = copy.deepcopy(raw)
    bad["build"]["nvcc_flags"] = ["-O3; touch /tmp/pwned"]
    with pytest.raises(ConfigError, match="nvcc_flags"):
        config.validate_config(bad)


def test_defaults_fill_absent_sections(raw):
    minimal = {"sweeps": raw["sweeps"]}
    cfg = config.validate_config(minimal)
    assert cfg["backend"] == "auto"
    assert cfg["run"]["repeats"] == 10
    assert cfg["profilers"]["ncu"]["clock_control"] == "none"


def test_point_id_round_trips():
    point = config.Point("seed", 32, 4096, 32, 8, 2048, 256)
    assert config.Point.from_id(point.id) == point
    with pytest.raises(ConfigError, match="is not of the form"):
        config.Point.from_id("seed-L32;rm -rf /")


def test_batch_and_page_size_extend_the_id_only_where_they_are_not_the_default():
    old = config.Point.from_id("attention-L32-H4096-h32-kv8-T2048-f256")  # ids of every existing capture
    assert (old.batch, old.page_size) == (1, 0) and old.id == "attention-L32-H4096-h32-kv8-T2048-f256"
    paged = config.Point("paged", 32, 4096, 32, 8, 2048, 256, batch=4, page_size=64)
    assert paged.id == "paged-L32-H4096-h32-kv8-T2048-f256-b4-p64"
    assert config.Point.from_id(paged.id) == paged
    assert paged.bench_args()[-4:] == ["--batch", "4", "--page-size", "64"]
    assert "--batch" not in old.bench_args() and "--page-size" not in old.bench_args()


def test_batch_and_page_size_apply_to_the_variants_that_use_them(raw):
    raw["sweeps"]["default"]["groups"] = [
        {
            "name": "mixed",
            "variant": ["fma_ilp", "kv_stream", "paged"],
            "batch": [1, 4],
            "page_size": [16, 64],
        }
    ]
    points = config.sweep_points(config.validate_config(raw), "default")
    by_variant = {
        v: sorted((p.batch, p.page_size) for p in points if p.variant == v)
        for v in ("fma_ilp", "kv_stream", "paged")
    }
    assert by_variant == {
        "fma_ilp": [(1, 0)],  # no decode: one point, not four
        "kv_stream": [(1, 0), (4, 0)],  # contiguous K/V: the page size does not apply
        "paged": [(1, 16), (1, 64), (4, 16), (4, 64)],
    }


def test_a_page_size_that_is_no_power_of_two_is_refused(raw):
    raw["sweeps"]["default"]["groups"] = [{"name": "odd", "variant": ["paged"], "page_size": [24]}]
    with pytest.raises(
        ConfigError, match="paged needs a page_size that is a power of two from 8 to 4096, got 24"
    ):
        config.sweep_points(config.validate_config(raw), "default")


def test_yaml_syntax_error_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sweeps: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        config.load_config(path)


def test_sweep_that_does_not_fit_the_gpu_is_refused_with_numbers(raw):
    from pdprof import run

    cfg = config.validate_config(raw)
    points = config.sweep_points(cfg)
    largest = max(run.device_bytes(p) for p in points)
    # T=32768, H=4096: X and Y are 2 x 512 MiB, K and V 2 x 128 MiB (fp32)
    assert largest == 4 * (2 * 32768 * 4096 + 1024 + 2 * 32768 * 128 * 8 + 2 * 8 * 128)
    run.check_points_fit(points, free_bytes=largest)
    with pytest.raises(ConfigError, match=r"needs 1\.25 GiB of device memory, the GPU has 1\.00 GiB free"):
        run.check_points_fit(points, free_bytes=2**30)


def test_every_config_key_in_the_schema_has_a_type_and_a_description():
    schema = config.load_schema()
    undocumented = []

    def walk(node: dict, path: str) -> None:
        for key, sub in node.get("properties", {}).items():
            where = f"{path}.{key}".lstrip(".")
            if "description" not in sub or not ({"type", "$ref", "enum"} & set(sub)):
                undocumented.append(where)
            walk(sub, where)

    walk(schema, "")
    for name, definition in schema["$defs"].items():
        walk(definition, f"$defs.{name}")
    assert undocumented == []


def test_the_timing_command_takes_benchmark_flags_beyond_the_points():
    from pathlib import Path

    from pdprof import run

    point = config.Point("kv_stream", 32, 4096, 32, 8, 2048, 256)
    plain = run.bench_command(Path("bench"), point, warmup=2, repeats=5)
    assert plain == ["bench", *point.bench_args(), "--warmup", "2", "--repeats", "5", "--mode", "time"]
    flagged = run.bench_command(Path("bench"), point, 2, 5, bench_flags=("--layer-overlap", "off"))
    assert flagged == [*plain, "--layer-overlap", "off"]


def test_device_bytes_follow_each_variants_buffers():
    from pdprof import run

    def point(variant: str, T: int = 32768) -> config.Point:
        return config.Point(variant, 32, 4096, 32, 8, T, 256)

    # a distinct bf16 K and V per layer: 2 x 32 x 8 x 32768 x 128 x 2 bytes = 4 GiB, plus q, out, partials
    assert run.device_bytes(point("kv_stream")) == 2**32 + 4 * (2 * 32 + 2 * 32768) * 32 * 128
    assert run.device_bytes(point("kv_stream_fp8")) - run.device_bytes(point("kv_stream")) == -(2**31)
    assert run.device_bytes(point("fma_ilp")) == 4 * (2 * 32768 * 4096 + 1024)  # prefill buffers only
    # a batch of 4: four sequences' K, V, q, out and partials; paged: whole pages and the page table
    batched = config.Point("attention", 32, 4096, 32, 8, 32768, 256, batch=4)
    assert run.device_bytes(batched) == 4 * run.device_bytes(point("attention"))
    paged = config.Point("paged", 32, 4096, 32, 8, 1000, 256, page_size=64)  # 16 pages hold 1,024 rows
    contiguous_1024 = 2 * 32 * 8 * 1024 * 128 * 2
    assert run.device_bytes(paged) == contiguous_1024 + 4 * (2 * 32 + 2 * 1000) * 32 * 128 + 4 * 16
    # gemm: fp16 weights of one layer (QKV 4096x6144, O, MLP 2 x 4096x16384) and the activations
    weights = 2 * 4096 * (6144 + 4096 + 2 * 16384)
    assert run.device_bytes(point("gemm", 2048)) == weights + 2 * 2048 * (4096 + 6144 + 4096 + 16384 + 4096)

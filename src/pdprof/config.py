"""Pipeline configuration: schema validation, defaults and sweep expansion.

The schema (workflow/schemas/config.schema.yaml) is the single source of what
a key may hold; this module adds the checks a JSON schema cannot express
(cross-field divisibility, the selected sweep existing) and turns a config
mistake into one message that names the key.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pdprof import variants
from pdprof.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG_PATH = REPO_ROOT / "config" / "config.yaml"
AXES = ("variant", "L", "H", "heads", "kv_heads", "T", "iters_fma", "batch", "page_size")
# Axes a sweep's base may leave out, with the value they then take.
AXIS_DEFAULTS = {"batch": 1, "page_size": 0}
# Also the Snakemake wildcard constraint, hence no named groups or anchors. A batch of one
# and a contiguous K/V (page size 0) add nothing to the id, so ids from before those axes stand.
POINT_ID_PATTERN = r"[a-z0-9_]+-L\d+-H\d+-h\d+-kv\d+-T\d+-f\d+(?:-b\d+)?(?:-p\d+)?"
POINT_ID_FIELDS = re.compile(
    r"^([a-z0-9_]+)-L(\d+)-H(\d+)-h(\d+)-kv(\d+)-T(\d+)-f(\d+)(?:-b(\d+))?(?:-p(\d+))?$"
)


@dataclass(frozen=True)
class Point:
    """One benchmark configuration of a sweep."""

    variant: str
    L: int
    H: int
    heads: int
    kv_heads: int
    T: int
    iters_fma: int
    batch: int = 1  # sequences decoded together
    page_size: int = 0  # tokens per page of a paged K/V cache; 0: contiguous

    @property
    def id(self) -> str:
        batch = f"-b{self.batch}" if self.batch != 1 else ""
        pages = f"-p{self.page_size}" if self.page_size else ""
        return (
            f"{self.variant}-L{self.L}-H{self.H}-h{self.heads}-kv{self.kv_heads}-T{self.T}-f{self.iters_fma}"
            f"{batch}{pages}"
        )

    @classmethod
    def from_id(cls, point_id: str) -> Point:
        match = POINT_ID_FIELDS.match(point_id)
        if not match:
            raise ConfigError(
                f"point id {point_id!r} is not of the form "
                "<variant>-L<n>-H<n>-h<n>-kv<n>-T<n>-f<n>[-b<n>][-p<n>] (see `pdprof points`)"
            )
        variant, *numbers = match.groups()
        batch, page_size = numbers[-2:]
        return cls(variant, *map(int, numbers[:-2]), int(batch or 1), int(page_size or 0))

    def as_dict(self) -> dict[str, Any]:
        return {axis: getattr(self, axis) for axis in AXES}

    def bench_args(self) -> list[str]:
        """Benchmark command-line flags for this point (argv, never a shell string)."""
        return [
            "--variant", self.variant, "--L", str(self.L), "--H", str(self.H),
            "--heads", str(self.heads), "--kv-heads", str(self.kv_heads),
            "--T", str(self.T), "--iters-fma", str(self.iters_fma),
            *(["--batch", str(self.batch)] if self.batch != 1 else []),
            *(["--page-size", str(self.page_size)] if self.page_size else []),
        ]  # fmt: skip


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = []
    for part in error.absolute_path:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".") or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line naming the key, the bad value and what is allowed."""
    key = _key_path(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        where = key if key != "(top level)" else "the top level"
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {', '.join(map(repr, extra))} in {where}{hint}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{key}: {error.instance!r} is not one of: {allowed}"
    if error.validator == "type":
        return f"{key}: {error.instance!r} is not of type {error.validator_value}"
    return f"{key}: {error.message}"


def _fill_defaults(instance: Any, schema: dict, root: dict) -> None:
    """Insert schema defaults for absent keys (as Snakemake's validate() does)."""
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = root["$defs"][name]
    if not isinstance(instance, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, root)


def validate_config(raw: dict) -> dict:
    """Return a validated copy of `raw` with defaults filled in, or raise ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError("config: the file must hold a mapping of keys, not " + type(raw).__name__)
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        # jsonschema reports the deepest cause under anyOf/$ref; the first is enough.
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"config: {_describe(best)}")
    config = copy.deepcopy(raw)
    _fill_defaults(config, schema, schema)
    if config["sweep"] not in config["sweeps"]:
        known = ", ".join(sorted(config["sweeps"]))
        raise ConfigError(f"config: sweep {config['sweep']!r} is not defined under sweeps (defined: {known})")
    for point in sweep_points(config):
        _check_shape(point)
    if "reference" in config["validation"]:
        _check_shape(Point(**config["validation"]["reference"]))
    return config


def _check_shape(point: Point) -> None:
    if point.H % point.heads:
        raise ConfigError(f"config: point {point.id}: H={point.H} is not divisible by heads={point.heads}")
    if point.heads % point.kv_heads:
        raise ConfigError(
            f"config: point {point.id}: heads={point.heads} is not divisible by kv_heads={point.kv_heads}"
        )
    if point.T * point.H > 2**31 - 1:
        raise ConfigError(f"config: point {point.id}: T*H exceeds the prefill kernels' 32-bit index range")
    problem = variants.shape_problem(point.variant, point.H, point.heads, point.kv_heads) or (
        variants.page_size_problem(point.variant, point.page_size)
    )
    if problem:
        raise ConfigError(f"config: point {point.id}: {problem}")


def load_config(path: str | Path = DEFAULT_CONFIG_PATH, overrides: dict | None = None) -> dict:
    """Read a YAML config file, apply overrides (top-level keys) and validate it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config: {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if overrides:
        raw = {**raw, **overrides}
    return validate_config(raw)


def expand_group(base: dict, group: dict) -> Iterable[Point]:
    axes = [[base.get(a, AXIS_DEFAULTS.get(a))] if a not in group else group[a] for a in AXES]
    for variant, *numbers in itertools.product(*axes):
        # JSON Schema counts 1.0 as an integer; the point id and the benchmark want 1.
        *shape, batch, page_size = map(int, numbers)
        yield Point(variant, *shape, *variants.applicable_axes(variant, batch, page_size))


def sweep_points(config: dict, sweep: str | None = None) -> list[Point]:
    """The distinct points of a sweep, in first-seen order."""
    spec = config["sweeps"][sweep or config["sweep"]]
    seen: dict[str, Point] = {}
    for group in spec["groups"]:
        for point in expand_group(spec["base"], group):
            seen.setdefault(point.id, point)
    return list(seen.values())

"""Fuzz the config loader: any value anywhere gives a valid config or one ConfigError line."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdprof import config
from pdprof.errors import ConfigError

DEFAULT = yaml.safe_load(config.DEFAULT_CONFIG_PATH.read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["2048; touch /tmp/pwned", "$(reboot)", "`id`", "../../etc", "-O3 && rm -rf /"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(node, prefix=()):
    """Every key path in the default config, leaves and containers alike."""
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*prefix, index))


PATHS = [p for p in _paths(DEFAULT) if p]


def _replace(tree, path, value):
    tree = copy.deepcopy(tree)
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return tree


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=values)
def test_any_value_at_any_key_is_accepted_or_refused_in_one_line(path, value):
    mutated = _replace(DEFAULT, path, value)
    try:
        cfg = config.validate_config(mutated)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("config: ") and "\n" not in message
        return
    # Accepted: every point of the sweep is a well-formed benchmark configuration.
    for point in config.sweep_points(cfg):
        assert config.Point.from_id(point.id) == point
        numbers = {k: v for k, v in point.as_dict().items() if k != "variant"}
        assert all(
            isinstance(v, int) and v >= (k != "page_size") for k, v in numbers.items()
        )  # page 0: contiguous
    for flag in cfg["build"]["nvcc_flags"] + cfg["build"]["hipcc_flags"]:
        assert not set(flag) & set(";&|`$() <>'\"\\")


@settings(max_examples=100, deadline=None)
@given(top=st.dictionaries(st.text(max_size=10), values, max_size=4))
def test_arbitrary_documents_never_raise_anything_but_config_error(top):
    try:
        config.validate_config(top)
    except ConfigError:
        pass

"""Unit conversion and number parsing (pdprof.units)."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdprof.units import (
    is_missing_text,
    parse_number,
    parse_number_array,
    parse_numbers,
    to_base,
    to_base_series,
)

CONVERSIONS = [
    # bytes: ncu's prefixes are decimal
    ("byte", 1.0, "byte"),
    ("Kbyte", 1e3, "byte"),
    ("Mbyte", 1e6, "byte"),
    ("Gbyte", 1e9, "byte"),
    ("Tbyte", 1e12, "byte"),
    ("Pbyte", 1e15, "byte"),
    ("KB", 1e3, "byte"),
    ("MB", 1e6, "byte"),
    ("GB", 1e9, "byte"),
    ("TB", 1e12, "byte"),
    ("KiB", 1024.0, "byte"),
    ("MiB", 1024.0**2, "byte"),
    ("GiB", 1024.0**3, "byte"),
    ("TiB", 1024.0**4, "byte"),
    # time
    ("ns", 1.0, "ns"),
    ("nsecond", 1.0, "ns"),
    ("us", 1e3, "ns"),
    ("usecond", 1e3, "ns"),
    ("ms", 1e6, "ns"),
    ("msecond", 1e6, "ns"),
    ("s", 1e9, "ns"),
    ("second", 1e9, "ns"),
    # rates
    ("byte/second", 1.0, "byte/second"),
    ("Gbyte/second", 1e9, "byte/second"),
    ("Gbyte/s", 1e9, "byte/second"),
    ("Tbyte/s", 1e12, "byte/second"),
    ("Mbyte/second", 1e6, "byte/second"),
    # frequency, any case
    ("hz", 1.0, "hz"),
    ("Khz", 1e3, "hz"),
    ("Mhz", 1e6, "hz"),
    ("Ghz", 1e9, "hz"),
    ("GHz", 1e9, "hz"),
    ("ghz", 1e9, "hz"),
    ("cycle/nsecond", 1e9, "hz"),
    ("cycle/usecond", 1e6, "hz"),
    ("cycle/second", 1.0, "hz"),
    # prefixed counts
    ("Kcycle", 1e3, "cycle"),
    ("Mcycle", 1e6, "cycle"),
    ("Minst", 1e6, "inst"),
    ("Ginst", 1e9, "inst"),
    ("Ksector", 1e3, "sector"),
    ("Msector", 1e6, "sector"),
    ("Kwarp", 1e3, "warp"),
    ("cycle", 1.0, "cycle"),
    # per-something units keep their denominator (ncu prints these)
    ("Kbyte/block", 1e3, "byte/block"),
    ("inst/cycle", 1.0, "inst/cycle"),
    ("register/thread", 1.0, "register/thread"),
    # left alone
    ("%", 1.0, "%"),
    ("", 1.0, ""),
    ("SM", 1.0, "SM"),
    ("furlong/fortnight", 1.0, "furlong/fortnight"),
    ("bogus", 1.0, "bogus"),
]


@pytest.mark.parametrize(("unit", "factor", "base"), CONVERSIONS)
def test_to_base_converts_to_the_base_unit(unit: str, factor: float, base: str) -> None:
    value, base_unit = to_base(2.5, unit)
    assert base_unit == base
    assert value == pytest.approx(2.5 * factor, rel=1e-12)


def test_to_base_on_values_from_the_h100_fixture() -> None:
    assert to_base(536.93, "Mbyte") == (pytest.approx(536_930_000.0, rel=1e-12), "byte")
    assert to_base(3.55, "ms") == (pytest.approx(3_550_000.0, rel=1e-12), "ns")
    assert to_base(1.98, "Ghz") == (pytest.approx(1.98e9, rel=1e-12), "hz")


def test_to_base_keeps_nan() -> None:
    value, unit = to_base(math.nan, "Mbyte")
    assert math.isnan(value) and unit == "byte"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("68,719,476,736", 68_719_476_736.0),
        ("16,791,404", 16_791_404.0),
        ("536.93", 536.93),
        ("  8.89 ", 8.89),
        ("0", 0.0),
        ("-1.5", -1.5),
        ("1e3", 1000.0),
        ("9,495.42", 9495.42),
        (".5", 0.5),
    ],
)
def test_parse_number_reads_printed_numbers(text: str, expected: float) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["n/a", "N/A", "", "   "])
def test_parse_number_missing_is_nan(text: str) -> None:
    assert math.isnan(parse_number(text))


@pytest.mark.parametrize(
    "text", ["abc", "1,2", "12,34", "1.2.3", "nan", "inf", "1_000", ".", "CachePreferNone", "-"]
)
def test_parse_number_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_number(text)


def test_parse_numbers_matches_parse_number() -> None:
    texts = ["68,719,476,736", " 1.5 ", "n/a", "", "abc", "1,2", "-3e2"]
    parsed = parse_numbers(pd.Series(texts))
    assert parsed.dtype == np.float64
    assert parsed.tolist()[:2] == [68_719_476_736.0, 1.5]
    assert parsed.isna().tolist() == [False, False, True, True, True, True, False]
    assert is_missing_text(pd.Series(texts)).tolist() == [False, False, True, True, False, False, False]


@given(st.text(alphabet="0123456789,.-+eE naN/", max_size=20))
def test_parse_numbers_agrees_with_parse_number(text: str) -> None:
    try:
        expected = parse_number(text)
    except ValueError:
        expected = math.nan
    got = parse_numbers(pd.Series([text])).iloc[0]
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def _parsed_or_nan(text: str | None) -> float:
    try:
        return math.nan if text is None else parse_number(text)
    except ValueError:
        return math.nan


@given(
    texts=st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet="0123456789.-+eE", max_size=8),  # plain bytes: cast, or the expression
            st.text(alphabet="0123456789,.-+eE naN/", max_size=12),
        ),
        max_size=40,
    ),
    large=st.booleans(),
    cut=st.integers(0, 3),
)
def test_parse_number_array_agrees_with_parse_number(texts: list[str | None], large: bool, cut: int) -> None:
    """Plain numbers are cast, the rest matched: one array of both, sliced and in chunks."""
    array = pa.array(texts, type=pa.large_string() if large else pa.string())
    expected = np.array([_parsed_or_nan(text) for text in texts[cut:]], dtype=np.float64)
    for given_texts in (array.slice(cut), pa.chunked_array([array.slice(cut, 2), array.slice(cut + 2)])):
        got = parse_number_array(given_texts)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)


@given(st.lists(st.sampled_from([unit for unit, _, _ in CONVERSIONS]), min_size=1, max_size=30))
def test_to_base_series_agrees_with_to_base(units: list[str]) -> None:
    values = pd.Series(np.arange(len(units), dtype="float64") + 0.25)
    converted, bases = to_base_series(values, pd.Series(units))
    for value, unit, got_value, got_base in zip(values, units, converted, bases, strict=False):
        assert (got_value, got_base) == to_base(value, unit)


def test_vectorized_helpers_are_fast_on_large_inputs() -> None:
    size = 200_000
    texts = pd.Series(["1,234.5", "n/a", "68,719,476,736", "8.89"] * (size // 4))
    units = pd.Series(["Mbyte", "", "inst", "%"] * (size // 4))
    started = time.perf_counter()
    values, bases = to_base_series(parse_numbers(texts), units)
    assert time.perf_counter() - started < 5.0
    assert values.iloc[0] == pytest.approx(1_234_500_000.0)
    assert set(bases) == {"byte", "", "inst", "%"}

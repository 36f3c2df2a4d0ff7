"""Numbers and units as profilers print them, converted to base units.

Profilers scale values for humans ("536.93 Mbyte", "3.55 ms", "1.98 Ghz",
"68,719,476,736"). Analysis needs one unit per quantity, so every value is
converted to a base unit: byte, ns, hz, byte/second, and plain count words
(cycle, inst, sector, ...). Units are resolved through lookup tables, and the
vectorized helpers work on Arrow string arrays (pandas' "str" columns are Arrow
arrays too) and resolve each distinct unit once, so large tables convert with a
handful of array operations and no Python object per value.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# ncu scales with decimal prefixes (1 Kbyte = 1000 byte).
_DECIMAL_PREFIXES = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}

# Count words that may carry a decimal prefix ("Msector", "Ginst").
_COUNT_WORDS = (
    "byte",
    "cycle",
    "inst",
    "sector",
    "warp",
    "thread",
    "block",
    "request",
    "transaction",
    "wavefront",
    "register",
    "pass",
    "cluster",
    "branches",
    "op",
)

_BYTE_ALIASES = {
    "B": 1.0,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "TB": 1e12,
    "PB": 1e15,
    "KiB": 2.0**10,
    "MiB": 2.0**20,
    "GiB": 2.0**30,
    "TiB": 2.0**40,
}

# Kept in ns (exact powers of ten) so rate factors like 1e9 / 1 stay exact.
_NS_PER_TIME_UNIT = {
    "ns": 1.0,
    "nsecond": 1.0,
    "us": 1e3,
    "usecond": 1e3,
    "ms": 1e6,
    "msecond": 1e6,
    "s": 1e9,
    "second": 1e9,
}

# Frequencies are matched case-insensitively: ncu prints "Ghz", others "GHz".
_HZ_PER_FREQUENCY_UNIT = {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9}

_NS_PER_SECOND = 1e9


def _build_simple_units() -> dict[str, tuple[float, str]]:
    """Map every single-word unit to (factor to base, base unit)."""
    table = {
        f"{prefix}{word}": (factor, word)
        for word in _COUNT_WORDS
        for prefix, factor in _DECIMAL_PREFIXES.items()
    }
    table.update({alias: (factor, "byte") for alias, factor in _BYTE_ALIASES.items()})
    table.update({unit: (ns, "ns") for unit, ns in _NS_PER_TIME_UNIT.items()})
    return table


_SIMPLE_UNITS = _build_simple_units()


def _simple_to_base(unit: str) -> tuple[float, str] | None:
    """Resolve a unit without "/"; None when it is not known."""
    if unit.lower() in _HZ_PER_FREQUENCY_UNIT:
        return _HZ_PER_FREQUENCY_UNIT[unit.lower()], "hz"
    return _SIMPLE_UNITS.get(unit)


def _ratio_to_base(numerator: str, denominator: str) -> tuple[float, str] | None:
    """Resolve "a/b": per-time units become per-second rates, cycles per time become hz."""
    top = _simple_to_base(numerator)
    if top is None:
        return None
    top_factor, top_base = top
    if denominator in _NS_PER_TIME_UNIT:
        factor = top_factor * (_NS_PER_SECOND / _NS_PER_TIME_UNIT[denominator])
        return factor, "hz" if top_base == "cycle" else f"{top_base}/second"
    bottom = _SIMPLE_UNITS.get(denominator)
    if bottom is None:
        return None
    return top_factor / bottom[0], f"{top_base}/{bottom[1]}"


def unit_factor(unit: str) -> tuple[float, str]:
    """Return (factor, base unit) so that value * factor is in the base unit.

    Unknown units, "%" and "" map to themselves with factor 1.
    """
    numerator, slash, denominator = unit.strip().partition("/")
    resolved = _ratio_to_base(numerator, denominator) if slash else _simple_to_base(numerator)
    return resolved if resolved is not None else (1.0, unit)


def to_base(value: float, unit: str) -> tuple[float, str]:
    """Convert one value to its base unit, e.g. (536.93, "Mbyte") -> (536930000.0, "byte")."""
    factor, base = unit_factor(unit)
    return value * factor, base


def arrow_strings(texts: pd.Series) -> pa.ChunkedArray:
    """A string Series as Arrow large strings (no copy for pandas' Arrow-backed "str" columns)."""
    return pa.chunked_array(pa.array(texts, type=pa.large_string(), from_pandas=True))


def as_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow array as numpy; nulls become NaN in float arrays."""
    return array.to_numpy(zero_copy_only=False) if isinstance(array, pa.Array) else array.to_numpy()


def to_base_arrays(
    values: np.ndarray, units: pa.Array | pa.ChunkedArray
) -> tuple[np.ndarray, pa.DictionaryArray]:
    """Vectorized to_base on Arrow unit strings: each distinct unit is resolved once.

    The base units come back dictionary-encoded, with the same indices as `units` if it is.
    """
    if not pa.types.is_dictionary(units.type):
        units = pc.dictionary_encode(units)
    if isinstance(units, pa.ChunkedArray):
        units = units.combine_chunks()  # one dictionary for all chunks
    resolved = [unit_factor(unit) for unit in units.dictionary.to_pylist()]
    factors = np.array([factor for factor, _ in resolved], dtype="float64")
    bases = pa.array([base for _, base in resolved], type=pa.large_string())
    converted = values.astype("float64") * factors[units.indices.to_numpy()]
    return converted, pa.DictionaryArray.from_arrays(units.indices, bases)


def to_base_series(values: pd.Series, units: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorized to_base on Series (see to_base_arrays)."""
    converted, bases = to_base_arrays(values.to_numpy(dtype="float64"), arrow_strings(units))
    bases = pd.Series(pd.array(bases, dtype="str"), index=units.index)
    return pd.Series(converted, index=values.index), bases


# Profilers write missing values as "n/a"; an empty field means the same.
_MISSING_MARKERS = frozenset({"", "n/a"})

# Thousands separators are only accepted in groups of three, so "1,2" stays garbage.
_NUMBER_PATTERN = re.compile(r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(text: str) -> float:
    """Parse a printed number: "68,719,476,736" -> 68719476736.0, "n/a" or "" -> NaN.

    Raises ValueError for anything else that is not a number.
    """
    stripped = text.strip()
    if stripped.lower() in _MISSING_MARKERS:
        return math.nan
    if not _NUMBER_PATTERN.fullmatch(stripped):
        raise ValueError(f"not a number: {text!r}")
    return float(stripped.replace(",", ""))


def is_missing_array(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """True where a printed value means "no value" (n/a, empty), on Arrow strings."""
    normalized = pc.utf8_lower(pc.utf8_trim_whitespace(texts))
    return as_numpy(pc.is_in(normalized, value_set=pa.array(sorted(_MISSING_MARKERS))))


def is_missing_text(texts: pd.Series) -> pd.Series:
    """True where a printed value means "no value" (n/a, empty)."""
    return pd.Series(is_missing_array(arrow_strings(texts)), index=texts.index)


# The same number, matched by Arrow's RE2 engine over a whole column.
_WHOLE_NUMBER = f"^(?:{_NUMBER_PATTERN.pattern})$"


def _matched_numbers(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """parse_number_array by the regular expression (run by RE2 on every value), then a cast."""
    stripped = pc.utf8_trim_whitespace(texts)
    numeric = pc.match_substring_regex(stripped, _WHOLE_NUMBER)
    digits = pc.replace_substring(pc.if_else(numeric, stripped, None), ",", "")
    return as_numpy(pc.cast(digits, pa.float64()))


def _is_plain_byte(chars: np.ndarray) -> np.ndarray:
    """True for the bytes of a plain number: digits, ".", "+", "-", "e" and "E"."""
    return (
        (chars - np.uint8(ord("0")) < 10)
        | ((chars | np.uint8(0x20)) == ord("e"))
        | (chars == ord("."))
        | (chars == ord("-"))
        | (chars == ord("+"))
    )


def _plain_texts(texts: pa.Array) -> np.ndarray | None:
    """True where a valid text is not empty and all plain-number bytes; None unless Arrow strings.

    Works on the array's buffers: one pass over the characters, one reduction per text.
    """
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        return None
    _, offsets_buffer, data_buffer = texts.buffers()
    offset_type = np.int32 if pa.types.is_string(texts.type) else np.int64
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[texts.offset : texts.offset + len(texts) + 1]
    chars = (
        np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
        if data_buffer
        else np.empty(0, np.uint8)
    )
    # A False after the last character, so that every start indexes into it; empty texts
    # (two equal starts) get whatever their start holds and are ruled out by their length.
    not_plain = np.append(~_is_plain_byte(chars), False)
    plain = ~np.logical_or.reduceat(not_plain, offsets[:-1] - offsets[0]) & (np.diff(offsets) > 0)
    return plain & as_numpy(texts.is_valid()) if texts.null_count else plain


def parse_number_array(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Vectorized parse_number on Arrow strings: float64, NaN for missing markers, garbage and nulls.

    Plain numbers (digits, sign, point and exponent only, as profilers print most values)
    are cast straight away; the regular expression runs on the other texts only. A text
    Arrow's cast takes is one the expression takes (the same number then): where the cast
    refuses a plain text, all texts go the way of the expression.
    """
    if isinstance(texts, pa.ChunkedArray):
        return np.concatenate([np.empty(0), *(parse_number_array(chunk) for chunk in texts.chunks)])
    plain = _plain_texts(texts)
    if plain is None or not len(texts):
        return _matched_numbers(texts)
    numbers = np.full(len(texts), np.nan)
    try:
        numbers[plain] = as_numpy(pc.cast(texts.filter(plain), pa.float64()))
    except pa.ArrowInvalid:
        return _matched_numbers(texts)
    if not plain.all():
        others = ~plain
        numbers[others] = _matched_numbers(texts.filter(others))
    return numbers


def parse_numbers(texts: pd.Series) -> pd.Series:
    """Vectorized parse_number; missing markers and garbage both become NaN."""
    return pd.Series(parse_number_array(arrow_strings(texts)), index=texts.index, dtype="float64")

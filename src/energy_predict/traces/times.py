"""Arrival times in seconds from the first request, in whatever unit the trace wrote them, never silently misread.

The unit is, first to last: the one given (`--time-unit`, a profile's `time_unit`), the one the format documents
(Mooncake ms, LLMServingSim ns, ...), the one the column's name says (`arrival_time_ns`, `sent_at_ms`), the one
Unix times of that size have (1.7e9 s, 1.7e12 ms, ...), else seconds. Whatever the source, a rate outside what
serving traces hold, or a span over a year, is a warning that names the column and the unit it was read in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from energy_predict.errors import InputError
from energy_predict.profile import MAX_PERIOD_S
from energy_predict.traces.counts import numbers

SECONDS_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
PLAUSIBLE_RATE_PER_S = (1e-4, 1e5)  # a quiet day's trace to a large fleet's peak
PLAUSIBLE_SPAN_S = 366 * 86400.0
SECONDS_PER_YEAR = 365.25 * 86400
UNIX_S = (9.46e8, 4.1e9)  # Unix times from 2000 to 2099, in seconds
_NAME_UNITS = (("ns", ("ns", "nanos", "nanosecond", "nanoseconds")),
               ("us", ("us", "micros", "microsecond", "microseconds")),
               ("ms", ("ms", "millis", "millisecond", "milliseconds")),
               ("s", ("s", "sec", "secs", "second", "seconds")))
_LAST_WORD = re.compile(r"(?:^|[^a-z0-9])([a-z]+)\)?\]?$")


@dataclass(frozen=True)
class Arrivals:
    """Seconds from the first request (NaN throughout: no times); the unit they were read in and why."""

    seconds: np.ndarray
    unit: str | None  # s, ms, us, ns; "date" for calendar times; None: no times
    notes: tuple[str, ...] = ()


def unit_from_name(column: str) -> str | None:
    """The unit a column's name ends in (`arrival_time_ns`, `sent_at_ms`, `Time (s)`); None if it says none."""
    m = _LAST_WORD.search(column.strip().lower())
    if m is None or m.group(1) == column.strip().lower():  # a bare word ("timestamp", "s") is no unit
        return None
    return next((unit for unit, words in _NAME_UNITS if m.group(1) in words), None)


def unit_from_size(t: np.ndarray) -> str | None:
    """The unit in which the earliest time is a Unix time between 2000 and 2099; None when none is."""
    finite = t[np.isfinite(t)]
    if not len(finite):
        return None
    t0 = float(finite.min())
    return next((unit for unit, per_s in (("s", 1.0), ("ms", 1e3), ("us", 1e6), ("ns", 1e9))
                 if UNIX_S[0] * per_s <= t0 <= UNIX_S[1] * per_s), None)


def _span_text(span_s: float) -> str:
    if span_s >= 2 * SECONDS_PER_YEAR:
        return f"{span_s:.3g} s ({span_s / SECONDS_PER_YEAR:.3g} years)"
    if span_s >= 2 * 86400:
        return f"{span_s:.3g} s ({span_s / 86400:.3g} days)"
    return f"{span_s:.3g} s"


def implausible_rate_note(seconds: np.ndarray, column: str, unit: str, source: str, unit_flag: str) -> str | None:
    """A warning when the times give a rate no serving trace has, or span more than a year; else None."""
    n = len(seconds)
    if n < 2 or not np.isfinite(seconds).all():
        return None
    span = float(seconds.max() - seconds.min())
    if span <= 0:
        return None
    rate = n / span
    low, high = PLAUSIBLE_RATE_PER_S
    if low <= rate <= high and span <= PLAUSIBLE_SPAN_S:
        return None
    return (f"column {column} read in {UNIT_WORDS[unit]} ({source}) puts {n:,} requests over {_span_text(span)}, "
            f"{rate:.3g} req/s, outside what serving traces hold ({low:g} to {high:g} req/s, at most a year); "
            f"if its unit is not {UNIT_WORDS[unit]}, give {unit_flag} s, ms, us or ns")


def _dates(values: pd.Series) -> pd.Series | None:
    """Calendar times, or None when any value is not one (numbers are never read as dates)."""
    if not all(isinstance(v, str) for v in values.dropna()):
        return None
    try:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    except (ValueError, TypeError, OverflowError):
        return None
    return None if parsed.isna().any() else parsed


def arrivals(values: pd.Series, column: str, *, given: str | None, documented: str | None, documented_by: str,
             unit_flag: str) -> Arrivals:
    """Read one time column (see the module's docstring); InputError naming the column for times that are no times."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric:
        parsed = _dates(values)
        if parsed is not None and len(parsed):
            if given is not None:
                raise InputError(unit_flag, f"column {column} holds calendar times, which carry their own unit",
                                 f"leave {unit_flag} out")
            return Arrivals((parsed - parsed.min()).dt.total_seconds().to_numpy(), "date")
        if given is None and documented is None:
            raise InputError(column, f"{int(values.notna().sum())} timestamps that do not parse",
                             "give ISO times, or numbers (seconds, or name the unit with --time-unit)")
    x = numbers(values).to_numpy()
    unparsed = values.notna().to_numpy() & np.isnan(x)
    if unparsed.any():
        raise InputError(column, f"{int(unparsed.sum())} times that are not numbers",
                         "give times as numbers (or ISO times)")
    if np.isinf(x).any():
        raise InputError(column, "infinite times", "give finite times")
    if np.isnan(x).any() or not len(x):
        return Arrivals(np.full(len(x), np.nan), None)
    if given is not None:
        unit, source = given, f"as {unit_flag} says"
    elif documented is not None:
        unit, source = documented, f"the unit {documented_by} writes"
    elif (named := unit_from_name(column)) is not None:
        unit, source = named, "as its name says"
    elif (sized := unit_from_size(x)) is not None:
        unit, source = sized, "Unix times of that size"
    else:
        unit, source = "s", "no unit given, documented or in its name"
    t = (x - x.min()) * SECONDS_PER_UNIT[unit]
    if t.max() > MAX_PERIOD_S:
        raise InputError(column, f"times that span more than {MAX_PERIOD_S:.0e} s read in {UNIT_WORDS[unit]} "
                         f"({source})", f"give times in seconds, or their unit with {unit_flag}")
    note = implausible_rate_note(t, column, unit, source, unit_flag)
    return Arrivals(t, unit, (note,) if note else ())

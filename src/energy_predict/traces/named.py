"""Named columns: a CSV (or TSV) with a header row, or JSON lines with named keys; the table formats use it too."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from energy_predict.errors import InputError
from energy_predict.jsonio import json_type
from energy_predict.traces.base import FIX_TRACE, Options, RawTrace
from energy_predict.traces.detect import delimiter
from energy_predict.traces.head import Head
from energy_predict.traces.tables import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    TIME_NAMES,
    looks_like_header,
    pick,
    read_csv,
    read_json_records,
)

_TIMEISH = ("time", "date", "arriv", "created", "stamp")


def from_table(table: pd.DataFrame, path: Path, opts: Options, *, inputs: tuple[str, ...] = INPUT_NAMES,
               outputs: tuple[str, ...] = OUTPUT_NAMES, times: tuple[str, ...] = TIME_NAMES,
               units: dict[str, str] | None = None, unit_source: str = "", block_ids: str | None = None,
               notes: tuple[str, ...] = ()) -> RawTrace:
    """The requests of a table, its columns picked by the user's names or the format's.

    `units` maps a format's own time columns to the unit it documents (a column the user names instead is
    read by the general rules).
    """
    f = opts.fields
    if len(table) == 0:
        raise InputError(f.trace, f"{path} holds no requests", "give a trace with at least one row")
    cols = list(table.columns)
    if opts.input_column is None and opts.output_column is None and not looks_like_header(cols) \
            and not any(c in cols for c in inputs + outputs):
        raise InputError(f.trace, f"{path} has no header row of named columns, so it is not a trace", FIX_TRACE)
    icol = pick(cols, opts.input_column, inputs, "input-token", f.input_column)
    ocol = pick(cols, opts.output_column, outputs, "output-token", f.output_column)
    tcol = pick(cols, opts.time_column, times, "time", f.time_column, required=False)
    if tcol is None and any(w in str(c).lower() for c in cols for w in _TIMEISH):
        notes += (f"no arrival times read: a column whose name suggests times is not one this reader knows (not "
                  f"named here), so the profile has no rate; name it with {f.time_column} (and its unit with "
                  f"{f.time_unit})",)
    unit = (units or {}).get(tcol) if tcol is not None else None
    return RawTrace(table, icol, ocol, tcol, unit, unit_source if unit else "", block_ids, notes)


def read_csv_trace(path: Path, head: Head, opts: Options) -> RawTrace:
    """A CSV with a header row (tab-separated when the header has tabs and no commas)."""
    return from_table(read_csv(path, opts.fields.trace, delimiter(head.first_line)), path, opts)


def json_table(path: Path, opts: Options, example: str) -> pd.DataFrame:
    """JSON lines, or a JSON array of objects, as a table (one request a record)."""
    records = read_json_records(path, opts.fields.trace, example)
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise InputError(opts.fields.trace, f"{path} record {number} is {json_type(record)}, not a JSON object",
                             f"give one JSON object per request, e.g. {example}")
    return pd.DataFrame(records)


def read_jsonl_trace(path: Path, head: Head, opts: Options) -> RawTrace:
    """JSON lines (or an array of objects) whose keys are named like a CSV's columns."""
    return from_table(json_table(path, opts, '{"input_tokens": 100, "output_tokens": 20}'), path, opts)

"""Reading any trace: its format told or detected, its reader run, then the checks every format shares."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.errors import InputError
from energy_predict.jsonio import is_file
from energy_predict.traces import (
    azure,
    burstgpt,
    llmservingsim,
    mooncake,
    named,
    openai_usage,
    sharegpt,
    vidur,
    vllm_bench,
)
from energy_predict.traces.base import (
    CLI_FIELDS,
    PROFILE_FIELDS,
    TIME_UNITS,
    Options,
    RawTrace,
    Trace,
    TraceWarning,
)
from energy_predict.traces.counts import block_ids, token_counts
from energy_predict.traces.detect import FORMATS, JSON_DOCUMENT_FORMATS, detect_format
from energy_predict.traces.head import Head, read_head, require_lines
from energy_predict.traces.tables import KNOWN_NAMES
from energy_predict.traces.times import arrivals

READERS: dict[str, Callable[[Path, Head, Options], RawTrace]] = {
    "vllm": vllm_bench.read, "burstgpt": burstgpt.read, "sharegpt": sharegpt.read, "vidur": vidur.read,
    "llmservingsim": llmservingsim.read, "openai": openai_usage.read, "azure": azure.read, "mooncake": mooncake.read,
    "csv": named.read_csv_trace, "jsonl": named.read_jsonl_trace,
}


def _checked(raw: RawTrace, fmt: str, opts: Options, path: Path) -> Trace:
    """Token counts whole and in range, times in seconds from the first request, block ids checked."""
    f = opts.fields
    table = raw.table
    if len(table) == 0:
        raise InputError(f.trace, f"{path} holds no requests", "give a trace with at least one request")
    frame = pd.DataFrame({"input_tokens": token_counts(table[raw.input_column], raw.input_column, "input"),
                          "output_tokens": token_counts(table[raw.output_column], raw.output_column, "output")})
    notes, unit = list(raw.notes), None
    if raw.time_column is not None:
        times = arrivals(table[raw.time_column], raw.time_column, given=opts.time_unit, documented=raw.time_unit,
                         documented_by=raw.unit_source, unit_flag=f.time_unit)
        frame["arrival_s"], unit = times.seconds, times.unit
        notes += times.notes
    else:
        frame["arrival_s"] = np.nan
        if opts.time_unit is not None:
            notes.append(f"{f.time_unit} {opts.time_unit} has no effect: the trace has no arrival times")
    if raw.block_ids_column is not None and raw.block_ids_column in table:
        frame["hash_ids"] = block_ids(table[raw.block_ids_column], frame["input_tokens"].to_numpy())
    return Trace(frame, fmt, raw.time_column, unit, tuple(notes))


def load_trace(path: str | Path, fmt: str | None = None, input_column: str | None = None,
               output_column: str | None = None, time_column: str | None = None, from_profile: bool = False, *,
               time_unit: str | None = None, tokenizer: str | None = None) -> Trace:
    """Read a trace file into a `Trace`; InputError naming the column, option or profile field that is wrong.

    `fmt` None: detected from the file's content (FORMATS lists the names). `time_unit` (s, ms, us, ns): the unit
    of the time column, over what the format documents or its name says. `tokenizer`: for conversations (text).
    """
    f = PROFILE_FIELDS if from_profile else CLI_FIELDS
    opts = Options(fmt, input_column, output_column, time_column, time_unit, tokenizer, f)
    p = Path(path)
    if not is_file(p):
        raise InputError(f.trace, f"no file at {p}", "give the path to a trace file")
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f.format, f"unknown trace format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise InputError(f.time_unit, f"unknown time unit {time_unit!r}", f"use one of {', '.join(TIME_UNITS)}")
    head = read_head(p, f.trace)
    name = fmt or detect_format(p, head)
    if name in JSON_DOCUMENT_FORMATS and name != "openai" and not head.is_json:
        raise InputError(f.trace, f"{p} is not JSON, so not a {FORMATS[name]}", "check the file and --trace-format")
    one_document = head.is_json and name in JSON_DOCUMENT_FORMATS or head.is_array and head.json_keys() & KNOWN_NAMES
    if not one_document:  # lines: the first must end within the first MiB
        require_lines(head, p, f.trace)
    return _checked(READERS[name](p, head, opts), name, opts, p)


def read_trace(path: str | Path, fmt: str | None = None, input_column: str | None = None,
               output_column: str | None = None, time_column: str | None = None,
               from_profile: bool = False, *, time_unit: str | None = None,
               tokenizer: str | None = None) -> pd.DataFrame:
    """`load_trace`'s frame; its notes (rows dropped, lengths averaged, an implausible rate) as TraceWarnings."""
    trace = load_trace(path, fmt, input_column, output_column, time_column, from_profile,
                       time_unit=time_unit, tokenizer=tokenizer)
    for note in trace.notes:
        warnings.warn(note, TraceWarning, stacklevel=2)
    return trace.frame

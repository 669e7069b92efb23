"""LLMServingSim traces (casys-kaist/LLMServingSim `dataset/`).

Columns `input_toks`, `output_toks` and `arrival_time_ns` (nanoseconds from the start), as a TSV (v0.1, v0.2)
or JSON lines that also carry the token ids (`input_tok_ids`, `output_tok_ids`, not needed here).
"""

from __future__ import annotations

from pathlib import Path

from energy_predict.traces.base import Options, RawTrace
from energy_predict.traces.detect import delimiter
from energy_predict.traces.head import Head
from energy_predict.traces.named import from_table, json_table
from energy_predict.traces.tables import INPUT_NAMES, OUTPUT_NAMES, TIME_NAMES, read_csv

_COLUMNS = {"inputs": ("input_toks", *INPUT_NAMES), "outputs": ("output_toks", *OUTPUT_NAMES),
            "times": ("arrival_time_ns", *TIME_NAMES)}


def read(path: Path, head: Head, opts: Options) -> RawTrace:
    """The TSV or the JSON lines; times in nanoseconds."""
    if head.is_json:
        table = json_table(path, opts, '{"input_toks": 100, "output_toks": 20, "arrival_time_ns": 0}')
    else:
        table = read_csv(path, opts.fields.trace, delimiter(head.first_line))
    return from_table(table, path, opts, **_COLUMNS, units={"arrival_time_ns": "ns"}, unit_source="LLMServingSim")

"""BurstGPT traces (HPMLL/BurstGPT, Azure OpenAI GPT service).

Columns `Timestamp` (seconds from 0:00 of the trace's first day), `Model` (ChatGPT or
GPT-4), `Request tokens`, `Response tokens`, `Total tokens`, `Log Type` (conversation or API).

Its README marks failed requests by 0 response tokens (the `_without_fails` files drop them); so does this reader,
and says how many.
"""

from __future__ import annotations

from pathlib import Path

from energy_predict.errors import InputError
from energy_predict.traces.base import Options, RawTrace
from energy_predict.traces.counts import numbers
from energy_predict.traces.head import Head
from energy_predict.traces.named import from_table
from energy_predict.traces.tables import INPUT_NAMES, OUTPUT_NAMES, TIME_NAMES, read_csv


def read(path: Path, head: Head, opts: Options) -> RawTrace:
    """Request and response token counts; failed requests dropped; `Timestamp` in seconds."""
    table = read_csv(path, opts.fields.trace)
    raw = from_table(table, path, opts, inputs=("Request tokens", *INPUT_NAMES),
                     outputs=("Response tokens", *OUTPUT_NAMES), times=("Timestamp", *TIME_NAMES),
                     units={"Timestamp": "s"}, unit_source="BurstGPT")
    if raw.output_column != "Response tokens":
        return raw
    failed = (numbers(table["Response tokens"]) == 0).to_numpy()
    if not failed.any():
        return raw
    if failed.all():
        raise InputError(opts.fields.trace, f"{path} holds only failed requests (0 response tokens, as BurstGPT marks "
                         "failures)", "give a trace with completed requests")
    note = (f"dropped {int(failed.sum()):,} of {len(table):,} requests with 0 response tokens, which BurstGPT marks "
            "as failed",)
    return RawTrace(table[~failed].reset_index(drop=True), raw.input_column, raw.output_column, raw.time_column,
                    raw.time_unit, raw.unit_source, raw.block_ids_column, raw.notes + note)

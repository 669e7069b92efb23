"""Vidur traces (microsoft/vidur `data/processed_traces/`, read by its trace-replay request generator).

Columns `arrived_at` (seconds, Vidur's simulated time), `num_prefill_tokens`, `num_decode_tokens`. Length-only
traces of the same columns (Etalon's) have no `arrived_at`, and so no rate.
"""

from __future__ import annotations

from pathlib import Path

from energy_predict.traces.base import Options, RawTrace
from energy_predict.traces.head import Head
from energy_predict.traces.named import from_table
from energy_predict.traces.tables import INPUT_NAMES, OUTPUT_NAMES, TIME_NAMES, read_csv


def read(path: Path, head: Head, opts: Options) -> RawTrace:
    """Prefill and decode counts; `arrived_at` in seconds."""
    return from_table(read_csv(path, opts.fields.trace), path, opts, inputs=("num_prefill_tokens", *INPUT_NAMES),
                      outputs=("num_decode_tokens", *OUTPUT_NAMES), times=("arrived_at", *TIME_NAMES),
                      units={"arrived_at": "s"}, unit_source="Vidur")

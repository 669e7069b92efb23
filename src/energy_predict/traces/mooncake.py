"""Mooncake traces (kvcache-ai/Mooncake, FAST'25): JSON lines.

Keys `timestamp` (ms from the trace's start), `input_length`, `output_length` and `hash_ids` (the ids of each
prompt's 512-token blocks; a shared id is a reusable prefix). JSON lines of other known key names read alike.
"""

from __future__ import annotations

from pathlib import Path

from energy_predict.traces.base import Options, RawTrace
from energy_predict.traces.head import Head
from energy_predict.traces.named import from_table, json_table


def read(path: Path, head: Head, opts: Options) -> RawTrace:
    """Named keys; `timestamp` in milliseconds; `hash_ids` kept as prefix block ids."""
    table = json_table(path, opts, '{"timestamp": 0, "input_length": 100, "output_length": 20}')
    return from_table(table, path, opts, units={"timestamp": "ms"}, unit_source="Mooncake",
                      block_ids="hash_ids")

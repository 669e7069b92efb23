"""Azure LLM inference traces (Azure/AzurePublicDataset, 2023 and 2024).

Columns `TIMESTAMP` (calendar times), `ContextTokens`, `GeneratedTokens`.
"""

from __future__ import annotations

from pathlib import Path

from energy_predict.traces.base import Options, RawTrace
from energy_predict.traces.head import Head
from energy_predict.traces.named import from_table
from energy_predict.traces.tables import INPUT_NAMES, OUTPUT_NAMES, TIME_NAMES, read_csv


def read(path: Path, head: Head, opts: Options) -> RawTrace:
    """The trace's three columns; times are calendar times."""
    return from_table(read_csv(path, opts.fields.trace), path, opts, inputs=("ContextTokens", *INPUT_NAMES),
                      outputs=("GeneratedTokens", *OUTPUT_NAMES), times=("TIMESTAMP", *TIME_NAMES))

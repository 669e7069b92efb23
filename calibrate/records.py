"""Calibration records: appended to a JSONL journal as taken, mirrored to records.parquet.

The journal is what makes a killed run resumable without lost or duplicated rows: a record is on disk
(flushed and fsynced) before the next repetition starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

JOURNAL = "records.jsonl"
TABLE = "records.parquet"
RUN_META = "run.json"

# The columns every run has, in this order (more may follow).
COLUMNS = [
    "run_id", "backend", "config", "model", "gpu", "gpu_count", "batch_size", "input_tokens", "output_tokens",
    "repetition", "status", "energy_j", "energy_above_idle_j", "duration_s", "repeats", "idle_power_w",
    "mean_power_w", "max_power_w", "sampled_energy_j", "sm_clock_mhz", "temperature_c", "sensor", "null_reason",
    "generated_tokens", "error", "timestamp",
]


def append_record(run_dir: Path, record: dict) -> None:
    """Append one record to the journal and make it durable before returning."""
    with (run_dir / JOURNAL).open("a") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_journal(run_dir: Path) -> list[dict]:
    """Records taken so far; a torn last line (killed mid-write) is dropped.

    Only records.parquet is committed, so a run without its journal resumes from the table.
    """
    path = run_dir / JOURNAL
    if not path.is_file():
        if (run_dir / TABLE).is_file():
            return [{k: v for k, v in r.items() if not (isinstance(v, float) and v != v)}
                    for r in pd.read_parquet(run_dir / TABLE).to_dict("records")]
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def write_table(run_dir: Path, records: list[dict]) -> pd.DataFrame:
    """Rewrite records.parquet from all records so far (standard columns first)."""
    frame = pd.DataFrame(records)
    ordered = [c for c in COLUMNS if c in frame] + [c for c in frame if c not in COLUMNS]
    frame = frame[ordered] if len(frame) else pd.DataFrame(columns=COLUMNS)
    frame.to_parquet(run_dir / TABLE, index=False)
    return frame


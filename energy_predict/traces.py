"""Request traces: read Azure, Mooncake and named-column CSV files into one frame.

The frame has `input_tokens`, `output_tokens` and `arrival_s` (seconds from the first request, NaN where
the trace has no times).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.errors import InputError

_INPUT_NAMES = ("input_tokens", "ContextTokens", "num_prefill_tokens", "input_length", "prompt_tokens")
_OUTPUT_NAMES = ("output_tokens", "GeneratedTokens", "num_decode_tokens", "output_length", "completion_tokens")
_TIME_NAMES = ("arrival_s", "TIMESTAMP", "timestamp")


def detect_format(path: Path) -> str:
    """azure, mooncake or csv, from the file's suffix and header."""
    if path.suffix in (".jsonl", ".json"):
        return "mooncake"
    with path.open() as fh:
        header = fh.readline()
    return "azure" if "ContextTokens" in header and "TIMESTAMP" in header else "csv"


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], role: str, flag: str) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            problem = f"column {wanted!r} not in the trace ({', '.join(columns)})"
            raise InputError(flag, problem, "name an existing column")
        return wanted
    found = next((c for c in candidates if c in columns), None)
    if found is None and role != "time":
        raise InputError(flag, f"no {role} column among {', '.join(columns)}", f"name it with {flag}")
    return found


def _times_to_seconds(values: pd.Series, unit: str | None) -> np.ndarray:
    if unit == "ms":
        t = values.astype(float).to_numpy() / 1000.0
    elif pd.api.types.is_numeric_dtype(values):
        t = values.astype(float).to_numpy()
    else:
        parsed = pd.to_datetime(values, errors="coerce")
        if parsed.isna().any():
            raise InputError("--time-column", "timestamps that do not parse", "give ISO times or seconds")
        t = (parsed - parsed.min()).dt.total_seconds().to_numpy()
    return t - np.nanmin(t) if len(t) else t


def read_trace(path: str | Path, fmt: str | None = None, input_column: str | None = None,
               output_column: str | None = None, time_column: str | None = None) -> pd.DataFrame:
    """Read a trace file; raise InputError naming the column or field that is wrong."""
    p = Path(path)
    if not p.is_file():
        raise InputError("trace", f"no file at {p}", "give the path to a trace file")
    fmt = fmt or detect_format(p)
    if fmt == "mooncake":
        try:
            rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InputError("trace", f"{p} line {exc.lineno}: not JSON", "give one JSON object a line") from None
        frame = pd.DataFrame(rows)
        unit = "ms"
    else:
        try:
            frame = pd.read_csv(p)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise InputError("trace", f"{p} is not a readable CSV ({exc})", "give a CSV with a header row") from None
        unit = None
    cols = list(frame.columns)
    icol = _pick(cols, input_column, _INPUT_NAMES, "input-token", "--input-column")
    ocol = _pick(cols, output_column, _OUTPUT_NAMES, "output-token", "--output-column")
    tcol = _pick(cols, time_column, _TIME_NAMES, "time", "--time-column")
    out = pd.DataFrame({
        "input_tokens": pd.to_numeric(frame[icol], errors="coerce"),
        "output_tokens": pd.to_numeric(frame[ocol], errors="coerce"),
    })
    bad = out.isna().any(axis=1) | (out["input_tokens"] < 0) | (out["output_tokens"] < 0)
    if bad.any():
        raise InputError(icol if out["input_tokens"].isna().any() else ocol,
                         f"{int(bad.sum())} rows with missing or negative token counts "
                         f"(first: row {int(bad.idxmax())})",
                         "clean the trace or drop those rows")
    out = out.astype(np.int64)
    out["arrival_s"] = _times_to_seconds(frame[tcol], unit) if tcol else np.nan
    if len(out) == 0:
        raise InputError("trace", f"{p} holds no requests", "give a trace with at least one row")
    return out

"""Request traces: read Azure, Mooncake and named-column CSV files into one frame.

The frame has `input_tokens`, `output_tokens` and `arrival_s` (seconds from the first request, NaN where
the trace has no times), and `hash_ids` (each prompt's 512-token block ids) where a Mooncake trace has them.
Every token count is a whole number in [0, MAX_TOKENS] and every time is finite: a file that is not a trace is
refused with one line that never quotes its contents.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.errors import InputError
from energy_predict.jsonio import is_file, json_type
from energy_predict.prefix import BLOCK_TOKENS
from energy_predict.profile import MAX_PERIOD_S, MAX_TOKENS

_INPUT_NAMES = ("input_tokens", "ContextTokens", "num_prefill_tokens", "input_length", "prompt_tokens")
_OUTPUT_NAMES = ("output_tokens", "GeneratedTokens", "num_decode_tokens", "output_length", "completion_tokens")
_TIME_NAMES = ("arrival_s", "TIMESTAMP", "timestamp")
_SNIFF_BYTES = 1 << 20  # a trace's header (and first JSONL record) fits in 1 MiB; longer is not a trace
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_ .()\[\]/+-]{1,64}$")
_FIX_TRACE = "give an Azure CSV, a Mooncake JSONL or a CSV with a header row (see README)"


def _head(path: Path, field: str = "trace") -> str:
    """The file's first MiB as text; InputError for binary, non-UTF-8 or a first line longer than that."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(_SNIFF_BYTES)
            more = bool(fh.read(1))
    except OSError as exc:
        raise InputError(field, f"{path} cannot be read ({exc.strerror or type(exc).__name__})",
                         "check the file's permissions") from None
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(raw, final=not more)
    except UnicodeDecodeError:
        raise InputError(field, f"{path} is not a UTF-8 text file", _FIX_TRACE) from None
    if "\x00" in text:
        raise InputError(field, f"{path} is a binary file", _FIX_TRACE)
    if more and "\n" not in text:
        raise InputError(field, f"{path} has a first line longer than 1 MiB, which no trace has", _FIX_TRACE)
    return text


def detect_format(path: Path, head: str | None = None) -> str:
    """azure, mooncake or csv, from the file's suffix and header."""
    if path.suffix in (".jsonl", ".json"):
        return "mooncake"
    header = (head if head is not None else _head(path)).split("\n", 1)[0]
    return "azure" if "ContextTokens" in header and "TIMESTAMP" in header else "csv"


def _looks_like_header(columns: list) -> bool:
    """Two or more short plain names: a CSV header, not a line of some other file (which is never quoted)."""
    names = [str(c) for c in columns]
    return 2 <= len(names) <= 50 and all(_PLAIN_NAME.match(n) for n in names)


_KNOWN_NAMES = frozenset(_INPUT_NAMES + _OUTPUT_NAMES + _TIME_NAMES + ("request_id", "session_id", "hash_ids"))


def _columns_text(columns: list) -> str:
    """What the trace's header holds, without echoing it: a header can hold anything (a token, say).

    Only column names this module knows are named; the rest are counted.
    """
    if not len(columns):
        return "no columns"
    if not _looks_like_header(columns):
        return f"{len(columns)} column(s) that do not look like a trace header"
    known = [str(c) for c in columns if str(c) in _KNOWN_NAMES]
    others = len(columns) - len(known)
    named = f"{', '.join(known)} and " if known else ""
    return f"{len(columns)} column(s): {named}{others} not named here" if others else \
        f"{len(columns)} column(s): {', '.join(known)}"


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], role: str, flag: str) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise InputError(flag, f"column {wanted!r} is not in the trace ({_columns_text(columns)})",
                             "name an existing column")
        return wanted
    found = next((c for c in candidates if c in columns), None)
    if found is None and role != "time":
        raise InputError(flag, f"no {role} column among {_columns_text(columns)}", f"name it with {flag}")
    return found


def _numbers(values: pd.Series) -> pd.Series:
    """Floats; NaN for anything that is not a plain number (text, lists, objects, booleans)."""
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(np.nan, index=values.index)
    try:
        return pd.to_numeric(values, errors="coerce").astype(float)
    except (TypeError, ValueError, OverflowError):
        def one(v):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                return np.nan
            try:
                return float(v)
            except OverflowError:
                return np.inf
        return values.map(one).astype(float)


def _token_counts(values: pd.Series, column: str, role: str) -> np.ndarray:
    """Whole token counts in [0, MAX_TOKENS]; InputError naming the column and the first bad row otherwise."""
    x = _numbers(values).to_numpy()
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(x) | (x < 0) | (x > MAX_TOKENS) | (x != np.round(x))
    if bad.any():
        first = int(np.argmax(bad))
        v = x[first]
        why = ("missing or not a number" if np.isnan(v) else "negative" if v < 0 else
               f"above {MAX_TOKENS:,} tokens" if v > MAX_TOKENS else "not a whole number")
        raise InputError(column, f"{int(bad.sum())} rows with bad {role} token counts (first: data row {first + 1}, "
                         f"{why}; counts must be whole, not negative, at most {MAX_TOKENS:,})",
                         "clean the trace or drop those rows")
    return x.astype(np.int64)


def _times_to_seconds(values: pd.Series, unit: str | None, column: str) -> np.ndarray:
    """Seconds from the first request; NaN everywhere when any time is missing (the trace then has no times)."""
    if unit == "ms" or pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        t = _numbers(values).to_numpy() / (1000.0 if unit == "ms" else 1.0)
        unparsed = values.notna().to_numpy() & np.isnan(t)
        if unparsed.any():
            raise InputError(column, f"{int(unparsed.sum())} times that are not numbers",
                             "give times in seconds (or ISO times)")
        if np.isinf(t).any():
            raise InputError(column, "infinite times", "give finite times in seconds")
        if np.isnan(t).any():
            return np.full(len(t), np.nan)
    else:
        try:
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        except (ValueError, TypeError, OverflowError):
            parsed = pd.Series(pd.NaT, index=values.index)
        if parsed.isna().any():
            raise InputError(column, f"{int(parsed.isna().sum())} timestamps that do not parse",
                             "give ISO times or seconds")
        t = (parsed - parsed.min()).dt.total_seconds().to_numpy()
    t = t - t.min() if len(t) else t
    if len(t) and t.max() > MAX_PERIOD_S:
        raise InputError(column, f"times that span more than {MAX_PERIOD_S:.0e} s", "give times in seconds")
    return t


def _block_ids(values: pd.Series, input_tokens: np.ndarray) -> list[tuple[int, ...]]:
    """Each row's prefix block ids: whole numbers >= 0, one per started block of its input; InputError otherwise."""
    out, bad, first_why = [], 0, ""
    for row, (ids, n) in enumerate(zip(values, input_tokens)):
        why = ""
        if not isinstance(ids, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in ids):
            why = "not a list of whole numbers"
        elif any(not 0 <= h < 2**63 for h in ids):
            why = "an id outside 0 .. 2^63 - 1"
        elif len(ids) != -(-int(n) // BLOCK_TOKENS):
            why = f"{len(ids)} ids for {int(n)} input tokens (one per {BLOCK_TOKENS}-token block)"
        if why:
            bad += 1
            first_why = first_why or f"data row {row + 1}, {why}"
            continue
        out.append(tuple(ids))
    if bad:
        raise InputError("hash_ids", f"{bad} rows with bad prefix block ids (first: {first_why})",
                         "give each request the ids of its 512-token prompt blocks, as Mooncake traces do")
    return out


def _read_jsonl(p: Path, field: str) -> pd.DataFrame:
    rows = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(field, f"{p} cannot be read ({exc.strerror or type(exc).__name__})",
                         "check the file's permissions") from None
    except UnicodeDecodeError:
        raise InputError(field, f"{p} is not a UTF-8 text file", _FIX_TRACE) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise InputError(field, f"{p} line {number} is not a JSON object", "give one JSON object a line") \
                from None
        if not isinstance(row, dict):
            raise InputError(field, f"{p} line {number} is {json_type(row)}, not a JSON object",
                             "give one JSON object a line, e.g. {\"input_length\": 100, \"output_length\": 20}")
        rows.append(row)
    return pd.DataFrame(rows)


def _read_csv(p: Path, field: str) -> pd.DataFrame:
    try:
        return pd.read_csv(p)
    except pd.errors.EmptyDataError:
        raise InputError(field, f"{p} is empty", _FIX_TRACE) from None
    except pd.errors.ParserError as exc:
        where = re.search(r"line \d+, saw \d+", str(exc))
        problem = f"{p} has a row with more fields than its header" + (f" ({where.group(0)})" if where else "")
        raise InputError(field, problem, "fix the ragged rows") from None
    except (UnicodeDecodeError, ValueError, OSError):
        raise InputError(field, f"{p} is not a readable CSV", _FIX_TRACE) from None


# What an error names: the command-line option, or the profile field that set the same thing.
_CLI_FIELDS = ("trace", "--format", "--input-column", "--output-column", "--time-column")
_PROFILE_FIELDS = tuple(f"workload.tokens.{k}" for k in ("path", "format", "input_column", "output_column",
                                                          "time_column"))


def read_trace(path: str | Path, fmt: str | None = None, input_column: str | None = None,
               output_column: str | None = None, time_column: str | None = None,
               from_profile: bool = False) -> pd.DataFrame:
    """Read a trace file; raise InputError naming the column, option or profile field that is wrong.

    A Mooncake trace's `hash_ids` (prefix block ids) come too, checked, as a `hash_ids` column
    of tuples; a trace without them has no such column.
    """
    field, fmt_flag, in_flag, out_flag, time_flag = _PROFILE_FIELDS if from_profile else _CLI_FIELDS
    p = Path(path)
    if not is_file(p):
        raise InputError(field, f"no file at {p}", "give the path to a trace file")
    if fmt not in (None, "azure", "mooncake", "csv"):
        raise InputError(fmt_flag, f"unknown trace format {fmt!r}", "use azure, mooncake or csv")
    head = _head(p, field)
    fmt = fmt or detect_format(p, head)
    if fmt == "mooncake":
        frame, unit = _read_jsonl(p, field), "ms"
    else:
        frame, unit = _read_csv(p, field), None
    if len(frame) == 0:
        raise InputError(field, f"{p} holds no requests", "give a trace with at least one row")
    cols = list(frame.columns)
    if input_column is None and output_column is None and not _looks_like_header(cols) \
            and not any(c in cols for c in _INPUT_NAMES + _OUTPUT_NAMES):
        raise InputError(field, f"{p} has no header row of named columns, so it is not a trace", _FIX_TRACE)
    icol = _pick(cols, input_column, _INPUT_NAMES, "input-token", in_flag)
    ocol = _pick(cols, output_column, _OUTPUT_NAMES, "output-token", out_flag)
    tcol = _pick(cols, time_column, _TIME_NAMES, "time", time_flag)
    out = pd.DataFrame({"input_tokens": _token_counts(frame[icol], icol, "input"),
                        "output_tokens": _token_counts(frame[ocol], ocol, "output")})
    out["arrival_s"] = _times_to_seconds(frame[tcol], unit, tcol) if tcol else np.nan
    if fmt == "mooncake" and "hash_ids" in cols:
        out["hash_ids"] = _block_ids(frame["hash_ids"], out["input_tokens"].to_numpy())
    return out

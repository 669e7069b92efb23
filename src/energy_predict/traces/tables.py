"""Reading a trace file into rows (CSV, JSON lines, one JSON document), and choosing its columns.

A header can hold anything (a token, say), so errors name only the column names some reader knows and count the
rest; file content is never quoted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from energy_predict.errors import InputError
from energy_predict.jsonio import json_type
from energy_predict.traces.base import FIX_TRACE

INPUT_NAMES = ("input_tokens", "ContextTokens", "num_prefill_tokens", "input_length", "prompt_tokens")
OUTPUT_NAMES = ("output_tokens", "GeneratedTokens", "num_decode_tokens", "output_length", "completion_tokens")
# Times whose unit the name does not say are read by their size (Unix times) or as seconds, with a warning when
# the rate that gives is implausible.
TIME_NAMES = ("arrival_s", "TIMESTAMP", "timestamp", "Timestamp", "arrived_at", "arrival_time", "arrival_time_s",
              "arrival_time_ms", "arrival_time_us", "arrival_time_ns", "arrival_ms", "created", "created_at",
              "start_time", "time_s")
OTHER_KNOWN = ("request_id", "session_id", "hash_ids", "Request tokens", "Response tokens", "Total tokens", "Model",
               "Log Type", "input_toks", "output_toks", "input_lens", "output_lens", "start_times",
               "usage.prompt_tokens", "usage.completion_tokens", "usage.input_tokens", "usage.output_tokens",
               "usage_prompt_tokens", "usage_completion_tokens", "num_total_tokens", "pd_ratio", "total_tokens")
KNOWN_NAMES = frozenset(INPUT_NAMES + OUTPUT_NAMES + TIME_NAMES + OTHER_KNOWN)
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_ .()\[\]/+-]{1,64}$")


def looks_like_header(columns: list) -> bool:
    """Two or more short plain names: a CSV header, not a line of some other file (which is never quoted)."""
    names = [str(c) for c in columns]
    return 2 <= len(names) <= 50 and all(_PLAIN_NAME.match(n) for n in names)


def columns_text(columns: list) -> str:
    """What the trace's header holds, without echoing it: known names are named, the rest counted."""
    if not len(columns):
        return "no columns"
    if not looks_like_header(columns):
        return f"{len(columns)} column(s) that do not look like a trace header"
    known = [str(c) for c in columns if str(c) in KNOWN_NAMES]
    others = len(columns) - len(known)
    named = f"{', '.join(known)} and " if known else ""
    return f"{len(columns)} column(s): {named}{others} not named here" if others else \
        f"{len(columns)} column(s): {', '.join(known)}"


def pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], role: str, flag: str,
         required: bool = True) -> str | None:
    """The column the user named (which must exist), else the first candidate present."""
    if wanted is not None:
        if wanted not in columns:
            raise InputError(flag, f"column {wanted!r} is not in the trace ({columns_text(columns)})",
                             "name an existing column")
        return wanted
    found = next((c for c in candidates if c in columns), None)
    if found is None and required:
        raise InputError(flag, f"no {role} column among {columns_text(columns)}", f"name it with {flag}")
    return found


def read_csv(path: Path, field: str, sep: str = ",") -> pd.DataFrame:
    """The whole table; InputError for an empty, ragged or unreadable file."""
    try:
        return pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise InputError(field, f"{path} is empty", FIX_TRACE) from None
    except pd.errors.ParserError as exc:
        where = re.search(r"line \d+, saw \d+", str(exc))
        problem = f"{path} has a row with more fields than its header" + (f" ({where.group(0)})" if where else "")
        raise InputError(field, problem, "fix the ragged rows") from None
    except (UnicodeDecodeError, ValueError, OSError):
        raise InputError(field, f"{path} is not a readable CSV", FIX_TRACE) from None


def _text(path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8").removeprefix("\ufeff")
    except OSError as exc:
        raise InputError(field, f"{path} cannot be read ({exc.strerror or type(exc).__name__})",
                         "check the file's permissions") from None
    except UnicodeDecodeError:
        raise InputError(field, f"{path} is not a UTF-8 text file", FIX_TRACE) from None


def read_json_lines(path: Path, field: str, example: str = '{"input_length": 100, "output_length": 20}',
                    text: str | None = None) -> list[dict]:
    """One JSON object a line (blank lines skipped); InputError naming the first line that is not one."""
    rows = []
    for number, line in enumerate((_text(path, field) if text is None else text).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise InputError(field, f"{path} line {number} is not a JSON object", "give one JSON object a line") \
                from None
        if not isinstance(row, dict):
            raise InputError(field, f"{path} line {number} is {json_type(row)}, not a JSON object",
                             f"give one JSON object a line, e.g. {example}")
        rows.append(row)
    return rows


def read_json_records(path: Path, field: str, example: str) -> list:
    """A JSON document's records: the items of a top-level array, or the document itself (an object).

    A file that is no one JSON document is read as JSON lines (several objects, one a line, as appended results are).
    """
    text = _text(path, field)
    try:
        doc = json.loads(text)
    except RecursionError:
        raise InputError(field, f"{path} nests deeper than any trace", FIX_TRACE) from None
    except ValueError:
        return read_json_lines(path, field, example, text)
    return doc if isinstance(doc, list) else [doc]

"""vLLM bench results (`vllm bench serve --save-result`, vllm/benchmarks/serve.py; `benchmark_serving.py` before).

With `--save-detailed` the result lists each request: `input_lens`, `output_lens` (0 for a failed request),
`errors` ("" when it succeeded) and, since 2025, `start_times` (the client's `time.perf_counter()` when it sent the
request, in seconds). Without it the file holds totals only (`completed`, `total_input_tokens`,
`total_output_tokens`): each completed request is then given the mean lengths, and a warning says so.
`--append-result` writes one result a line: their requests are read one run after another, without times.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.errors import InputError
from energy_predict.jsonio import json_type
from energy_predict.profile import MAX_TOKENS
from energy_predict.traces.base import Options, RawTrace, counted
from energy_predict.traces.head import Head
from energy_predict.traces.tables import read_json_records

MAX_TOTALS_REQUESTS = 10_000_000  # a totals-only result becomes one row per request
_EXAMPLE = '{"input_lens": [512, 300], "output_lens": [128, 64], "errors": ["", ""]}'


def refuse_columns(opts: Options, what: str) -> None:
    """Column options mean nothing to a format whose fields are fixed: refuse rather than ignore them."""
    for value, flag in ((opts.input_column, opts.fields.input_column), (opts.output_column, opts.fields.output_column),
                        (opts.time_column, opts.fields.time_column)):
        if value is not None:
            raise InputError(flag, f"{what} has fixed fields, so columns cannot be named", f"leave {flag} out")


def _list(doc: dict, key: str, n: int | None, path: Path) -> list | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or (n is not None and len(value) != n):
        raise InputError(key, f"{path}: {key} is {json_type(value)}" + (
            f" of {len(value)} items for {n} requests" if isinstance(value, list) else ", not a list"),
            "give the result as vllm bench serve saved it")
    return value


def _count(doc: dict, key: str, path: Path) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(key, f"{path}: {key} is {json_type(value)}, not a count",
                         "give the result as vllm bench serve saved it")
    return float(value)


def _detailed(doc: dict, path: Path) -> tuple[pd.DataFrame, int, bool]:
    """The requests of one result that lists them; the failed ones dropped (their number), and whether it has times."""
    ins = _list(doc, "input_lens", None, path)
    outs = _list(doc, "output_lens", None if ins is None else len(ins), path)
    if ins is None or outs is None:
        raise InputError("output_lens" if ins is not None else "input_lens",
                         f"{path} lacks {'output_lens' if ins is not None else 'input_lens'}",
                         "give the result as vllm bench serve saved it (--save-detailed)")
    n = len(ins)
    errors = _list(doc, "errors", n, path)
    starts = _list(doc, "start_times", n, path)
    table = pd.DataFrame({"input_lens": pd.Series(ins, dtype=object), "output_lens": pd.Series(outs, dtype=object),
                          "start_times": pd.Series(starts if starts is not None else [None] * n, dtype=object)})
    failed = np.array([bool(e) for e in errors] if errors is not None else [False] * n, dtype=bool)
    return table[~failed].reset_index(drop=True), int(failed.sum()), starts is not None


def _totals(doc: dict, path: Path) -> tuple[pd.DataFrame, str]:
    """One row per completed request at the result's mean lengths, and the note that says so."""
    completed = _count(doc, "completed", path)
    if completed != int(completed) or not 1 <= completed <= MAX_TOTALS_REQUESTS:
        raise InputError("completed", f"{path}: {completed:g} completed requests; a profile needs 1 to "
                         f"{MAX_TOTALS_REQUESTS:,}", "give a result with completed requests")
    n = int(completed)
    mean_in = _count(doc, "total_input_tokens", path) / n
    mean_out = _count(doc, "total_output_tokens", path) / n
    if max(mean_in, mean_out) > MAX_TOKENS:
        raise InputError("total_input_tokens", f"{path}: the mean request is over {MAX_TOKENS:,} tokens",
                         "give the result as vllm bench serve saved it")
    note = (f"the vLLM result holds totals only (saved without --save-detailed): each of its {n:,} completed "
            f"requests is taken at the mean lengths, {mean_in:.1f} input and {mean_out:.1f} output tokens, and "
            "without arrival times; rerun with --save-detailed for the real mix and times")
    rate = doc.get("request_rate")
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and math.isfinite(rate) and rate > 0:
        note += f" (it sent requests at {rate:g} req/s: --rate {rate:g} predicts that)"
    return pd.DataFrame({"input_lens": [round(mean_in)] * n, "output_lens": [round(mean_out)] * n,
                         "start_times": [None] * n}), note


def read(path: Path, head: Head, opts: Options) -> RawTrace:
    """Each listed request (failed ones dropped), or the totals' mean request; appended results one by one."""
    refuse_columns(opts, "a vLLM bench result")
    field = opts.fields.trace
    docs = read_json_records(path, field, _EXAMPLE)
    tables, notes, failed, timed = [], [], 0, True
    for number, doc in enumerate(docs, 1):
        if not isinstance(doc, dict):
            raise InputError(field, f"{path} record {number} is {json_type(doc)}, not a vLLM result object",
                             "give the JSON file vllm bench serve --save-result wrote")
        if "input_lens" in doc:
            table, dropped, has_times = _detailed(doc, path)
            failed += dropped
            timed &= has_times
        elif "completed" in doc and "total_input_tokens" in doc:
            table, note = _totals(doc, path)
            notes.append(note)
            timed = False
        else:
            raise InputError(field, f"{path} holds neither input_lens nor completed and total_input_tokens, so it "
                             "is not a vLLM bench result", "give the JSON file vllm bench serve --save-result wrote")
        tables.append(table)
    if failed:
        notes.append(f"dropped {counted(failed, 'failed request')} (an error in the result's errors list)")
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if len(tables) > 1:
        notes.append(f"{len(tables)} results (--append-result) read one after another, without arrival times")
    elif timed is False and not any("totals only" in n for n in notes):
        notes.append("the vLLM result has no start_times (saved by a vLLM before 2025), so no arrival times and no "
                     "rate: give --rate to predict online")
    return RawTrace(table, "input_lens", "output_lens", "start_times" if timed and len(tables) == 1 else None,
                    "s", "vLLM", notes=tuple(notes))

"""OpenAI usage logs: the API's own response objects, one per request, as most clients and proxies log them.

- JSON lines (or a JSON array) of Chat Completions responses: `created` (Unix seconds) and `usage.prompt_tokens`,
  `usage.completion_tokens` (reasoning tokens included); Responses API objects (`created_at`,
  `usage.input_tokens`, `usage.output_tokens`) alike;
- a Batch API output file: each line's `response.body` is such a response; a line with an error or a status other
  than 200 is a failed request, dropped with a warning;
- a CSV export of the same fields (`prompt_tokens`, `completion_tokens`, optionally `usage.`/`usage_` prefixed,
  `created` as Unix seconds or a calendar time).

The organization usage API and the dashboard's exports hold totals per time bucket, not requests: refused, since
a profile needs each request's lengths.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from energy_predict.errors import InputError
from energy_predict.jsonio import json_type
from energy_predict.traces.base import Options, RawTrace, counted
from energy_predict.traces.detect import OPENAI_AGGREGATE_KEYS, delimiter
from energy_predict.traces.head import Head
from energy_predict.traces.named import from_table
from energy_predict.traces.tables import TIME_NAMES, read_csv, read_json_records
from energy_predict.traces.vllm_bench import refuse_columns

INPUT, OUTPUT, TIME = "usage.prompt_tokens", "usage.completion_tokens", "created"
_INPUT_KEYS = ("prompt_tokens", "input_tokens")
_OUTPUT_KEYS = ("completion_tokens", "output_tokens")
_CSV_INPUTS = ("prompt_tokens", "usage.prompt_tokens", "usage_prompt_tokens", "input_tokens", "usage.input_tokens",
               "usage_input_tokens")
_CSV_OUTPUTS = ("completion_tokens", "usage.completion_tokens", "usage_completion_tokens", "output_tokens",
                "usage.output_tokens", "usage_output_tokens")
_EXAMPLE = '{"created": 1733011200, "usage": {"prompt_tokens": 100, "completion_tokens": 20}}'


def _aggregate(path: Path, field: str) -> InputError:
    return InputError(field, f"{path} holds usage totals per time bucket (the usage API or a dashboard export), not "
                      "one record per request, and a profile needs each request's token counts",
                      "log each response's usage (JSON lines of the API's responses), or write a histogram or "
                      "samples profile from the totals")


def _first(mapping: dict, keys: tuple[str, ...]):
    return next((mapping[k] for k in keys if k in mapping), None)


def _row(record: dict) -> tuple[str, dict | None]:
    """('ok', row), ('failed', None) for a failed batch request, ('chunk', None) for a stream chunk without usage."""
    body = record
    response = record.get("response")
    if "custom_id" in record or isinstance(response, dict) and "body" in response:
        if record.get("error") or not isinstance(response, dict) or response.get("status_code") != 200:
            return "failed", None
        body = response.get("body")
        if not isinstance(body, dict):
            return "ok", {INPUT: None, OUTPUT: None, TIME: None}
    usage = body.get("usage")
    if usage is None and body.get("object") == "chat.completion.chunk":
        return "chunk", None
    if not isinstance(usage, dict):  # flat records: the usage fields at the top, maybe prefixed
        usage = {k.split(".", 1)[-1].removeprefix("usage_"): v for k, v in body.items()}
    created = _first(body, ("created", "created_at"))
    return "ok", {INPUT: _first(usage, _INPUT_KEYS), OUTPUT: _first(usage, _OUTPUT_KEYS), TIME: created}


def _read_json(path: Path, opts: Options) -> RawTrace:
    refuse_columns(opts, "an OpenAI usage log")
    field = opts.fields.trace
    rows, failed, chunks = [], 0, 0
    for number, record in enumerate(read_json_records(path, field, _EXAMPLE), 1):
        if not isinstance(record, dict):
            raise InputError(field, f"{path} record {number} is {json_type(record)}, not a JSON object",
                             f"give one API response per line, e.g. {_EXAMPLE}")
        if record.get("object") in ("page", "bucket") or any(k in record for k in OPENAI_AGGREGATE_KEYS):
            raise _aggregate(path, field)
        kind, row = _row(record)
        failed += kind == "failed"
        chunks += kind == "chunk"
        if row is not None:
            rows.append(row)
    notes = []
    if failed:
        notes.append(f"dropped {counted(failed, 'failed request')} (an error, or a status other than 200, in the "
                     "batch output)")
    if chunks:
        notes.append(f"skipped {counted(chunks, 'stream chunk')} without usage (the last chunk of a stream carries it)")
    table = pd.DataFrame(rows, columns=[INPUT, OUTPUT, TIME])
    times = table[TIME]
    if len(table) and times.isna().any():
        missing = int(times.isna().sum())
        if missing < len(table):
            notes.append(f"{missing:,} of {len(table):,} responses have no created time, so the trace has no "
                         "arrival times and no rate")
    return RawTrace(table, INPUT, OUTPUT, TIME if len(table) and times.notna().all() else None, "s", "OpenAI",
                    notes=tuple(notes))


def read(path: Path, head: Head, opts: Options) -> RawTrace:
    """JSON records (responses, batch output) or a CSV export; bucket totals refused."""
    if head.is_json:
        return _read_json(path, opts)
    table = read_csv(path, opts.fields.trace, delimiter(head.first_line))
    if any(k in table.columns for k in OPENAI_AGGREGATE_KEYS):
        raise _aggregate(path, opts.fields.trace)
    return from_table(table, path, opts, inputs=_CSV_INPUTS, outputs=_CSV_OUTPUTS,
                      times=("created", "created_at", *TIME_NAMES), units={"created": "s", "created_at": "s"},
                      unit_source="OpenAI")

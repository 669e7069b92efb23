"""Which format a trace is, from its content (keys or header columns), never from its file name alone."""

from __future__ import annotations

from pathlib import Path

from energy_predict.traces.head import Head, read_head

# name: what it is (each reader's module says more; the README lists them)
FORMATS = {
    "vllm": "vLLM bench result",
    "burstgpt": "BurstGPT trace",
    "sharegpt": "ShareGPT conversations",
    "vidur": "Vidur trace",
    "llmservingsim": "LLMServingSim trace",
    "openai": "OpenAI usage log",
    "azure": "Azure LLM inference trace",
    "mooncake": "Mooncake trace",
    "csv": "CSV with named columns",
    "jsonl": "JSON lines with named keys",
}
JSON_DOCUMENT_FORMATS = ("vllm", "sharegpt", "openai")  # may be one long line: read whole, not by lines

OPENAI_INPUT_KEYS = ("prompt_tokens", "usage.prompt_tokens", "usage_prompt_tokens")
OPENAI_AGGREGATE_KEYS = ("num_model_requests", "n_context_tokens_total", "n_generated_tokens_total")


def delimiter(header: str) -> str:
    """Tab for a header with tabs and no commas (LLMServingSim's TSV), else comma."""
    return "\t" if "\t" in header and "," not in header else ","


def header_columns(header: str) -> set[str]:
    """A header line's column names, quotes stripped."""
    return {c.strip().strip('"') for c in header.split(delimiter(header))}


def _json_format(keys: set[str]) -> str:
    if "input_lens" in keys or {"total_input_tokens", "completed"} <= keys:
        return "vllm"
    if "usage" in keys or any(k in keys for k in OPENAI_INPUT_KEYS + OPENAI_AGGREGATE_KEYS):
        return "openai"
    if "input_toks" in keys:
        return "llmservingsim"
    if "conversations" in keys or "messages" in keys:
        return "sharegpt"
    if "hash_ids" in keys or "input_length" in keys:
        return "mooncake"
    return "jsonl"


def _table_format(columns: set[str]) -> str:
    if {"TIMESTAMP", "ContextTokens", "GeneratedTokens"} <= columns:
        return "azure"
    if {"Request tokens", "Response tokens"} <= columns:
        return "burstgpt"
    if {"num_prefill_tokens", "num_decode_tokens"} <= columns:
        return "vidur"
    if {"input_toks", "output_toks"} <= columns:
        return "llmservingsim"
    if any(k in columns for k in OPENAI_INPUT_KEYS + OPENAI_AGGREGATE_KEYS):
        return "openai"
    return "csv"


def detect_format(path: Path, head: Head | str | None = None) -> str:
    """The format's name (a key of FORMATS), from the keys of a JSON trace or the header of a table."""
    if head is None:
        head = read_head(path)
    elif isinstance(head, str):
        head = Head(head, True)
    if head.is_json:
        return _json_format(head.json_keys())
    return _table_format(header_columns(head.first_line))

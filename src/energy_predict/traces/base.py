"""The values a trace crosses the package in: what the user asked for, what a reader found, what comes out."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

TIME_UNITS = ("s", "ms", "us", "ns")
FIX_TRACE = ("give a trace in one of the formats the README lists (vLLM bench result, BurstGPT, Azure, Mooncake, "
             "Vidur, LLMServingSim, OpenAI usage, ShareGPT, or a CSV with a header row)")


def counted(n: int, noun: str) -> str:
    """`1 failed request`, `2 failed requests`."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


class TraceWarning(UserWarning):
    """Something about a trace the user should know: rows dropped, lengths averaged, times in an odd unit."""


@dataclass(frozen=True)
class Fields:
    """The names an error gives for each thing the user set: command-line options, or a profile's fields."""

    trace: str = "trace"
    format: str = "--trace-format"
    input_column: str = "--input-column"
    output_column: str = "--output-column"
    time_column: str = "--time-column"
    time_unit: str = "--time-unit"
    tokenizer: str = "--tokenizer"


CLI_FIELDS = Fields()
PROFILE_FIELDS = Fields("workload.tokens.path", "workload.tokens.format", "workload.tokens.input_column",
                        "workload.tokens.output_column", "workload.tokens.time_column", "workload.tokens.time_unit",
                        "workload.tokens.path")  # a profile names no tokenizer: conversations are converted first


@dataclass(frozen=True)
class Options:
    """What the user gave about a trace; None: detect it."""

    format: str | None = None
    input_column: str | None = None
    output_column: str | None = None
    time_column: str | None = None
    time_unit: str | None = None
    tokenizer: str | None = None
    fields: Fields = CLI_FIELDS

    @property
    def columns_given(self) -> bool:
        return any(c is not None for c in (self.input_column, self.output_column, self.time_column))


@dataclass(frozen=True, eq=False)
class RawTrace:
    """A reader's find, before the checks every format shares.

    `table` holds the requests one a row; the named columns hold their token counts and (optionally) times.
    `time_unit` is the unit the format documents (None: not documented, detected later), `unit_source` says who
    documents it. `notes` are what the reader did that the user should know (rows dropped, means used).
    """

    table: pd.DataFrame
    input_column: str
    output_column: str
    time_column: str | None = None
    time_unit: str | None = None
    unit_source: str = ""
    block_ids_column: str | None = None
    notes: tuple[str, ...] = ()
    no_times_why: str | None = None  # why a trace of a format that has times has none here


@dataclass(frozen=True, eq=False)
class Trace:
    """A trace read and checked.

    `frame` has `input_tokens` and `output_tokens` (whole, 0 to MAX_TOKENS), `arrival_s` (seconds from the first
    request; NaN throughout when the trace has no times) and, for traces with prefix block ids, `hash_ids`.
    `time_unit` is the unit the times were read in (`date` for calendar times), `notes` the warnings to show.
    """

    frame: pd.DataFrame
    format: str
    time_column: str | None = None
    time_unit: str | None = None
    notes: tuple[str, ...] = field(default=())

"""A trace's first MiB: enough to tell its format, and to refuse a file that is no trace before reading it all."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from energy_predict.errors import InputError
from energy_predict.traces.base import FIX_TRACE

SNIFF_BYTES = 1 << 20  # a trace's header, first JSON line or leading keys fit in 1 MiB
_JSON_START = re.compile(r'\s*(?:\{|\[\s*(?:[\[{"\]\-0-9]|true|false|null|$))')
_KEY = re.compile(r'"([A-Za-z_][A-Za-z0-9_. ]{0,63})"\s*:')  # a JSON object key (escaped quotes never match)


@dataclass(frozen=True)
class Head:
    """The first MiB as text; `whole` when that is the whole file."""

    text: str
    whole: bool

    @property
    def first_line_complete(self) -> bool:
        return self.whole or "\n" in self.text

    @property
    def first_line(self) -> str:
        return self.text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")

    @property
    def is_json(self) -> bool:
        """Starts as a JSON object or array (JSON lines, or one JSON document); `[bold],x` is a CSV header."""
        return bool(_JSON_START.match(self.text.lstrip("\ufeff")))

    @property
    def is_array(self) -> bool:
        """Starts as a JSON array: one document, which may be a single line of any length."""
        return self.is_json and self.text.lstrip("\ufeff \t\r\n").startswith("[")

    def json_keys(self) -> set[str]:
        """Every object key in the head, nested ones too (a key inside a string is escaped, so never counts)."""
        return set(_KEY.findall(self.text))


def read_head(path: Path, field: str = "trace") -> Head:
    """The file's first MiB; InputError for an unreadable, binary or non-UTF-8 file."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(SNIFF_BYTES)
            more = bool(fh.read(1))
    except OSError as exc:
        raise InputError(field, f"{path} cannot be read ({exc.strerror or type(exc).__name__})",
                         "check the file's permissions") from None
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(raw, final=not more)
    except UnicodeDecodeError:
        raise InputError(field, f"{path} is not a UTF-8 text file", FIX_TRACE) from None
    if "\x00" in text:
        raise InputError(field, f"{path} is a binary file", FIX_TRACE)
    return Head(text, not more)


def require_lines(head: Head, path: Path, field: str) -> None:
    """A line-based trace (CSV, JSON lines) whose first line does not end in 1 MiB is no trace."""
    if not head.first_line_complete:
        raise InputError(field, f"{path} has a first line longer than 1 MiB, which no trace has", FIX_TRACE)

"""Tables as text that never folds a word or a number: aligned plain text, Markdown, CSV.

A table is a `TableView`: columns named by their keys (the JSON and CSV names, units in the suffix) and rows of
values. Plain text keeps every cell on one line; where the table is wider than the space it is given it is
wrapped as a whole: the columns are split into groups printed one under the other, each group repeating the
key columns (the ones that say which row it is), so no column is dropped and no cell is cut. Titles and
free text wrap at spaces only (a word longer than the line stays whole).
"""

from __future__ import annotations

import csv
import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

FORMATS = ("table", "markdown", "json", "csv")
GAP = "  "  # between columns


@dataclass(frozen=True)
class Column:
    """One column: its key (the header, the JSON and CSV name), how a value is printed, and its alignment."""

    key: str
    fmt: str = "{}"
    numeric: bool = True

    def cell(self, value) -> str:
        """The printed cell: n/a for a missing value (None or NaN), else the format applied."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        if isinstance(value, str):
            return value
        return self.fmt.format(value)


@dataclass(frozen=True)
class TableView:
    """A titled table: columns, rows (values by key), and how many leading columns identify a row."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict, ...]
    key_columns: int = 1
    notes: tuple[str, ...] = field(default_factory=tuple)

    def cells(self) -> list[list[str]]:
        """Every row as its printed cells, in column order."""
        return [[c.cell(row.get(c.key)) for c in self.columns] for row in self.rows]


def wrap_words(text: str, width: int | None, indent: str = "") -> list[str]:
    """Lines of at most `width` characters, broken at spaces only (never inside a word, a number or a name)."""
    if width is None or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width=max(width, 20), subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [""]


def _groups(widths: list[int], keys: int, width: int | None) -> list[list[int]]:
    """Column indices per printed block: all in one if they fit, else key columns plus as many more as fit."""
    every = list(range(len(widths)))

    def span(cols):
        return sum(widths[c] for c in cols) + len(GAP) * (len(cols) - 1)

    if width is None or span(every) <= width:
        return [every]
    head = every[:keys]
    groups, current = [], list(head)
    for c in every[keys:]:
        if len(current) > len(head) and span([*current, c]) > width:
            groups.append(current)
            current = [*head, c]
        else:
            current.append(c)
    groups.append(current)
    return groups


def _records(headers: list[str], cells: list[list[str]], width: int) -> list[str]:
    """One block per row, a `column  value` line per column; a value longer than the room wraps at its spaces."""
    label = max(len(h) for h in headers)
    room = max(width - label - len(GAP), 20)
    lines: list[str] = []
    for n, row in enumerate(cells):
        if n:
            lines.append("")
        for h, value in zip(headers, row):
            first, *rest = wrap_words(value, room)
            lines.append(f"{h.ljust(label)}{GAP}{first}".rstrip())
            lines.extend(" " * (label + len(GAP)) + more for more in rest)
    return lines


def plain(view: TableView, width: int | None = None) -> str:
    """Aligned text: a header, a rule, one line per row; wrapped into column groups to fit `width` if given.

    Where even the key columns and one more column are wider than `width` (a long deployment label or run id in a
    narrow terminal), each row is printed as its own block of `column  value` lines instead: no line runs past the
    width for the terminal to fold, and no cell is cut.
    """
    cells = view.cells()
    headers = [c.key for c in view.columns]
    widths = [max([len(h)] + [len(r[k]) for r in cells]) for k, h in enumerate(headers)]
    lines = wrap_words(view.title, width) if view.title else []
    groups = _groups(widths, view.key_columns, width)
    if width is not None and any(sum(widths[c] for c in g) + len(GAP) * (len(g) - 1) > width for g in groups):
        lines.extend(_records(headers, cells, width))  # the key columns and one more do not fit: a row at a time
        groups = []
    for n, group in enumerate(groups):
        if n:
            lines.append("")

        def line(values, group=group):
            parts = [(values[c].rjust(widths[c]) if view.columns[c].numeric else values[c].ljust(widths[c]))
                     for c in group]
            return GAP.join(parts).rstrip()

        lines.append(line(headers))
        lines.append(GAP.join("-" * widths[c] for c in group))
        lines.extend(line(r) for r in cells)
    for note in view.notes:
        lines.extend(wrap_words(f"note: {note}", width, "  "))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown(view: TableView) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned), its title as a paragraph above it."""
    lines = [_md(view.title), ""] if view.title else []
    lines.append("| " + " | ".join(_md(c.key) for c in view.columns) + " |")
    lines.append("|" + "|".join("---:" if c.numeric else "---" for c in view.columns) + "|")
    lines.extend("| " + " | ".join(_md(v) for v in row) + " |" for row in view.cells())
    if view.notes:
        lines.append("")
        lines.extend(f"- note: {_md(n)}" for n in view.notes)
    return "\n".join(lines) + "\n"


def csv_text(view: TableView) -> str:
    """CSV: a header of the keys and the raw values (full precision, empty for a missing one)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in view.columns])
    for row in view.rows:
        writer.writerow(["" if row.get(c.key) is None else row.get(c.key) for c in view.columns])
    return buffer.getvalue()


def key_value(rows: Sequence[tuple[str, str]], title: str, width: int | None) -> str:
    """A two-column table of a field and its value; a long value wraps at spaces under its own column."""
    label = max((len(k) for k, _ in rows), default=0)
    lines = wrap_words(title, width) if title else []
    lines.append("-" * min(width or 80, label + len(GAP) + 40))
    room = None if width is None else max(width - label - len(GAP), 20)
    for k, v in rows:
        wrapped = wrap_words(v, room)
        lines.append(f"{k.ljust(label)}{GAP}{wrapped[0]}".rstrip())
        lines.extend(f"{' ' * (label + len(GAP))}{more}" for more in wrapped[1:])
    return "\n".join(lines) + "\n"


def key_value_markdown(rows: Sequence[tuple[str, str]], title: str) -> str:
    """The field/value table as Markdown."""
    lines = [_md(title), ""] if title else []
    lines += ["| field | value |", "|---|---|"]
    lines.extend(f"| {_md(k)} | {_md(v)} |" for k, v in rows)
    return "\n".join(lines) + "\n"

"""Markdown pieces of the generated pages: tables, signed percentages, ratios of effects."""

from __future__ import annotations

import numpy as np
import pandas as pd


def md(frame: pd.DataFrame, floatfmt: str = "{:.3g}") -> str:
    """A frame as a Markdown table, floats in `floatfmt`."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(floatfmt.format(v) if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def reference_table(rows: list[tuple[str, str, str, str, str]]) -> str:
    """The findings table: finding, the study's number (quoted), ours, ratio, why they differ."""
    head = ("| finding | reference study (quoted) | ours, H100 | ours / theirs | why they differ |\n"
            "|---|---|---|---|---|")
    return head + "".join(f"\n| {' | '.join(r)} |" for r in rows)


def verdict(holds: bool) -> str:
    """'holds' or 'does not hold'."""
    return "holds" if holds else "does not hold"


def pct(factor: float) -> str:
    """'+20%' for a factor of 1.20."""
    return f"{100 * (factor - 1):+.0f}%"


def effect_ratio(ours: float, theirs: float) -> str:
    """Our change over theirs, both as factors (x1.20 against x1.29: 0.69); 'opposite sign' where they disagree."""
    if np.isnan(ours):
        return "-"
    r = (ours - 1) / (theirs - 1)
    return f"{r:.2f}" if r >= 0 else f"{r:.2f} (opposite sign)"

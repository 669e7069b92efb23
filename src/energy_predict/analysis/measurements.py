"""Side measurements the findings page quotes: the HF padding A/B and the meter-overhead A/B, parsed from text."""

from __future__ import annotations

import re

import pandas as pd


def padding_table(ab_rows: list[dict], fits: list[tuple[str, dict]]) -> tuple[pd.DataFrame, str]:
    """The HF padding A/B: energy per variant and cell, and where the numbers come from (artifacts/padding/).

    `ab_rows`: the raw A/B rows (`*.jsonl`) where committed; else `fits` ((file name, content) of each
    `*.fit.json`, newest first) gives the cell means the padding fit file carries (its raw rows were lost, and it
    says so).
    """
    if ab_rows:
        frame = pd.DataFrame(ab_rows).groupby(["b", "i", "o", "variant"])["energy_j"].mean().unstack("variant")
        return frame[[c for c in ("ones", "pad1", "padded") if c in frame]].reset_index(), "the raw A/B rows"
    for name, fit in fits:
        means = fit.get("published_cell_means_j")
        if means:
            frame = pd.DataFrame(means["rows"], columns=means["columns"]).astype(float)
            frame[["b", "i", "o"]] = frame[["b", "i", "o"]].astype(int)
            return frame, (f"`artifacts/padding/{name}`: means of the A/B rows rounded to 1 J (the raw rows "
                           "were never committed and are lost; the fit file says so)")
    return pd.DataFrame(), "not measured"


def meter_summary(text: str) -> str:
    """'x s median (lo-hi) with no meter; ...' from a meter-overhead A/B's output (`benchmarks/meter_overhead.py`)."""
    parts = []
    for line in text.splitlines():
        m = re.match(r"(.+?)\s+time_s ([\d.]+) \[([^\]]*)\]", line)
        if m:
            runs = [float(x) for x in m.group(3).split(",")]
            parts.append(f"{float(m.group(2)):.2f} s median ({min(runs):.2f}-{max(runs):.2f}) "
                         f"with {m.group(1).strip()}")
    return "; ".join(parts)

"""The one unit convention of every output (table, JSON, CSV, plots, HTML), and the conversions to it.

- Energy of a workload, a period or a day: kWh (`_kwh`); of one bin of a workload (the small parts): Wh (`_wh`).
- Energy per request and per token: J, with the denominator in the name: `_j_per_input_token` (prefill energy over
  input tokens), `decode_j_per_output_token` (decode energy over output tokens), `energy_j_per_output_token` and
  `energy_j_per_total_token` (all the energy over output tokens, over input + output tokens).
- Latencies: ms (`_ms`); periods and GPU time: s or h (`_s`, `gpu_hours`); power: W (`_w`).

A key's unit is its suffix, and a table's column is named by its key, so a table, its JSON and its CSV agree.
"""

from __future__ import annotations

J_PER_KWH = 3.6e6
J_PER_WH = 3600.0
MS_PER_S = 1000.0


def kwh(energy_j: float) -> float:
    """Joules as kWh."""
    return energy_j / J_PER_KWH


def wh(energy_j: float) -> float:
    """Joules as Wh."""
    return energy_j / J_PER_WH


def wh_from_kwh(energy_kwh: float | None) -> float | None:
    """KWh as Wh (None stays None)."""
    return None if energy_kwh is None else energy_kwh * 1000.0


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds (None, for no measurement, stays None)."""
    return None if seconds is None else seconds * MS_PER_S


def per(numerator: float, denominator: float) -> float | None:
    """A ratio, or None where the denominator is zero (no tokens, no requests)."""
    return numerator / denominator if denominator else None

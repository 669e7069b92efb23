"""Measured cells and the comparisons between configurations on the same cells, from the records.

A cell is (model, config, batch size, input tokens, output tokens); its energy is the median of its repetitions.
"""

from __future__ import annotations

import pandas as pd

from energy_predict.analysis.subject import LLAMA8
from energy_predict.datasets import cell_stats

CELL = ["model", "config", "batch_size", "input_tokens", "output_tokens"]
SHAPE = ["batch_size", "input_tokens", "output_tokens"]


def all_cells(records: pd.DataFrame) -> pd.DataFrame:
    """Every measured cell of every config; a cell measured twice keeps its latest run."""
    frames = [cell_stats(r).assign(run_id=run_id, started=r["started"].iloc[0])
              for run_id, r in records.groupby("run_id")]
    cells = pd.concat(frames, ignore_index=True).sort_values("started")
    return cells.drop_duplicates(CELL, keep="last")


def cell_j_per_token(cells: pd.DataFrame, config: str, b: int, i: int, o: int, model: str = LLAMA8.name) -> float:
    """J per output token of one measured cell of `model` (NaN where it was not measured)."""
    m = cells[(cells["model"] == model) & (cells["config"] == config) & (cells["batch_size"] == b)
              & (cells["input_tokens"] == i) & (cells["output_tokens"] == o)]
    return float(m["energy_j"].iloc[0]) / (b * o) if len(m) else float("nan")


def per_run_cell(records: pd.DataFrame, model: str, config: str, b: int, i: int, o: int) -> dict[str, float]:
    """J per output token of one cell in each run that measured it, oldest first."""
    r = records
    m = r[(r["model"] == model) & (r["config"] == config) & (r["batch_size"] == b) & (r["input_tokens"] == i)
          & (r["output_tokens"] == o) & (r["status"] == "ok")].sort_values("started")
    medians = m.groupby("run_id", sort=False)["energy_j"].median()
    return {run_id: float(e) / (b * o) for run_id, e in medians.items()}


def between_runs(records: pd.DataFrame, config: str) -> pd.Series:
    """Per cell measured by more than one run: max over min of the runs' medians, minus 1."""
    ok = records[(records["config"] == config) & (records["status"] == "ok") & records["energy_j"].notna()]
    medians = ok.groupby(["model", *SHAPE, "run_id"])["energy_j"].median()
    spread = medians.groupby(level=[0, 1, 2, 3]).agg(["max", "min", "size"])
    spread = spread[spread["size"] > 1]
    return spread["max"] / spread["min"] - 1


def matched_ratio(cells: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Cells both configs measured: energy of each (`energy_j_a`, `energy_j_b`) and b's saving over a in %."""
    key = ["model", *SHAPE]
    x = cells[cells["config"] == a].set_index(key)[["energy_j"]]
    y = cells[cells["config"] == b].set_index(key)[["energy_j"]]
    both = x.merge(y, left_index=True, right_index=True, suffixes=("_a", "_b")).reset_index()
    both["saving_pct"] = 100 * (1 - both["energy_j_b"] / both["energy_j_a"])
    return both


def saving(matched: pd.DataFrame, batch_one: bool) -> float:
    """Median saving (%) of matched cells at batch 1, or above it."""
    rows = matched[(matched["batch_size"] == 1) == batch_one]
    return float(rows["saving_pct"].median()) if len(rows) else float("nan")


def lease(run_id: str) -> str:
    """The lease a run was taken on ('x4b' of '2026-11-27-x4b-hf-sampling'): runs of one lease share a host."""
    return run_id.split("-")[3]


def paired_ratios(records: pd.DataFrame, a: str, b: str, model: str = LLAMA8.name) -> pd.DataFrame:
    """Energy of config `b` over config `a`, per cell that both measured (`model`, ok records).

    `b`'s latest run is paired with `a`'s latest run of the same lease where there is one, else with `a`'s latest
    run: HF at small batch follows its host, so a cross-lease pair can differ by more than the effect (Caveats).
    """
    ok = records[(records["model"] == model) & (records["status"] == "ok") & records["energy_j"].notna()
                 & records["config"].isin([a, b])]
    runs = ok.groupby(["config", *SHAPE, "run_id"]).agg(energy_j=("energy_j", "median"), started=("started", "first"))
    runs = runs.reset_index().assign(lease=lambda f: f["run_id"].map(lease)).sort_values("started")
    rows = []
    for key, g in runs.groupby(SHAPE):
        x, y = g[g["config"] == a], g[g["config"] == b]
        if not len(x) or not len(y):
            continue
        yb = y.iloc[-1]
        same = bool((x["lease"] == yb["lease"]).any())
        xa = x[x["lease"] == yb["lease"]].iloc[-1] if same else x.iloc[-1]
        rows.append(dict(zip(SHAPE, key)) | {"ratio": yb["energy_j"] / xa["energy_j"], "same_lease": same,
                                            "lease": yb["lease"]})
    return pd.DataFrame(rows, columns=[*SHAPE, "ratio", "same_lease", "lease"])

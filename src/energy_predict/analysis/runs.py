"""What the runs' metadata (each run's run.json) tell the findings page: GPUs, idle power, campaigns."""

from __future__ import annotations

import pandas as pd


def campaign_runs(run_meta: dict[str, dict], campaign: str) -> set[str]:
    """The runs whose run.json names `campaign` (a folder of campaigns/) as their lease's campaign."""
    return {run for run, meta in run_meta.items()
            if str((meta.get("lease") or {}).get("campaign", "")).rstrip("/").split("/")[-1] == campaign}


def idle_power(run_meta: dict[str, dict], run_ids) -> tuple[list[float], list[float]]:
    """(empty, loaded) idle power readings (W) of the runs' GPUs, from their run.json."""
    empty, loaded = [], []
    for run in run_ids:
        for key, watts in run_meta[run].get("idle_power_w", {}).items():
            if watts is not None and key == "before":
                empty.append(watts)
            elif watts is not None and key.startswith("loaded:"):
                loaded.append(watts)
    return empty, loaded


def gpu_meta(run_meta: dict[str, dict], run_ids) -> str:
    """'NAME, driver D, P W power limit' of every distinct GPU setting the runs recorded."""
    seen = []
    for run in run_ids:
        for g in run_meta[run].get("meter", {}).get("gpus", []):
            desc = f"{g.get('name')}, driver {g.get('driver')}, {g.get('power_limit_w', 0):.0f} W power limit"
            if desc not in seen:
                seen.append(desc)
    return "; ".join(seen) or "not recorded"


def other_gpus(records: pd.DataFrame) -> str:
    """One sentence on what was measured on GPUs other than the H100 (not on this page)."""
    if not len(records):
        return ""
    ok = records[records["status"] == "ok"]
    parts = []
    for (gpu, tp), g in ok.groupby(["gpu", ok["tensor_parallel"].fillna(1).astype(int)]):
        n = len(g.drop_duplicates(["model", "config", "batch_size", "input_tokens", "output_tokens"]))
        parts.append(f"{gpu} tensor parallel {tp}: {n} distinct cells of {', '.join(sorted(g['model'].unique()))}")
    runs = ", ".join(sorted(ok["run_id"].unique()))
    return f"Measured on other GPUs, not on this page ({runs}): " + "; ".join(parts) + "."

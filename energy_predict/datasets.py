"""Calibration runs on disk: list them, load their measured records, summarise their spread."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

CELL = ["model", "config", "batch_size", "input_tokens", "output_tokens"]


def calibration_dir() -> Path:
    """The shipped calibration runs folder."""
    from energy_predict.provenance import artifacts_dir

    return artifacts_dir() / "calibration"


def run_dirs(root: Path | None = None) -> list[Path]:
    """Run folders (those with a run.json) under `root`, sorted by name."""
    root = root or calibration_dir()
    return sorted(p for p in root.iterdir() if (p / "run.json").is_file()) if root.is_dir() else []


def load_records(run_dir: Path) -> pd.DataFrame:
    """A run's records (parquet, or the journal of a run still going)."""
    if (run_dir / "records.parquet").is_file():
        return pd.read_parquet(run_dir / "records.parquet")
    journal = run_dir / "records.jsonl"
    if journal.is_file():
        return pd.read_json(journal, lines=True)
    return pd.DataFrame()


def cell_stats(records: pd.DataFrame) -> pd.DataFrame:
    """Per measured cell: repetitions, median energy and duration, coefficient of variation of energy."""
    ok = records[(records["status"] == "ok") & records["energy_j"].notna()] if len(records) else records
    if not len(ok):
        return pd.DataFrame(columns=[*CELL, "n", "energy_j", "duration_s", "cv"])
    g = ok.groupby(CELL)
    stats = g.agg(n=("energy_j", "size"), energy_j=("energy_j", "median"), duration_s=("duration_s", "median"),
                  mean=("energy_j", "mean"), std=("energy_j", "std"))
    stats["cv"] = (stats["std"] / stats["mean"]).fillna(0.0)
    return stats.drop(columns=["mean", "std"]).reset_index()


def summarize_run(run_dir: Path) -> dict:
    """One line of `data list`: backend, GPU, models, cells, records, median CV."""
    meta = json.loads((run_dir / "run.json").read_text())
    records = load_records(run_dir)
    stats = cell_stats(records)
    statuses = records["status"].value_counts().to_dict() if len(records) else {}
    models = sorted(records["model"].unique().tolist()) if len(records) else []
    backends = sorted(records["backend"].unique().tolist()) if len(records) else []
    return {
        "run_id": meta.get("run_id", run_dir.name),
        "backend": ",".join(backends),
        "gpu": meta.get("gpu"),
        "model": ",".join(models),
        "configs": sorted(records["config"].unique().tolist()) if len(records) else [],
        "n_cells": int(len(stats)),
        "n_records": int(statuses.get("ok", 0)),
        "n_infeasible": int(statuses.get("infeasible", 0)),
        "n_errors": int(statuses.get("error", 0)),
        "median_cv": float(np.median(stats["cv"])) if len(stats) else None,
        "status": meta.get("status"),
        "started": meta.get("started"),
    }


def all_records(root: Path | None = None) -> pd.DataFrame:
    """Every run's records in one frame, with the run's start time (`started`, from run.json) on each row."""
    frames = [load_records(d).assign(started=json.loads((d / "run.json").read_text()).get("started", ""))
              for d in run_dirs(root)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def cell_table(records: pd.DataFrame) -> pd.DataFrame:
    """Every distinct measured cell: backend, repetitions pooled over the runs that measured it, their CV."""
    if not len(records):
        return pd.DataFrame(columns=["backend", *CELL, "runs", "n", "energy_j", "duration_s", "cv"])
    ok = records[(records["status"] == "ok") & records["energy_j"].notna()]
    stats = cell_stats(ok)
    extra = ok.groupby(CELL).agg(backend=("backend", "first"), runs=("run_id", "nunique")).reset_index()
    return extra.merge(stats, on=CELL)[["backend", *CELL, "runs", "n", "energy_j", "duration_s", "cv"]]


def list_runs(root: Path | None = None) -> list[dict]:
    """Summaries of every run under `root`."""
    return [summarize_run(d) for d in run_dirs(root)]

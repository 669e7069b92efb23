"""Calibration runs and replays on disk: list them, load them through their contracts, summarise their spread.

Everything read here is validated against `energy_predict.contracts.records` (a record row, run.json, a replay
record); a file that does not hold what calibrate writes is an InputError naming the file and the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.contracts.records import ReplayRecord, RunMeta, parse_record, parse_replay, parse_run_meta
from energy_predict.errors import InputError
from energy_predict.extras import require
from energy_predict.jsonio import read_json

CELL = ["model", "config", "batch_size", "input_tokens", "output_tokens"]


def calibration_dir() -> Path:
    """The shipped calibration runs folder."""
    from energy_predict.provenance import artifacts_dir

    return artifacts_dir() / "calibration"


_RECORD_COLUMNS = ("run_id", "backend", "status", "energy_j", "duration_s", *CELL)
_FIX_RUN = "repair or remove that run folder (see calibrate/records.py)"


def run_dirs(root: Path | None = None) -> list[Path]:
    """Run folders (those with a run.json) under `root`, sorted by name; a `root` given must be a folder."""
    if root is not None and not root.is_dir():
        raise InputError("--dir", f"no folder at {root}", "give the folder that holds the calibration runs")
    root = root or calibration_dir()
    return sorted(p for p in root.iterdir() if (p / "run.json").is_file()) if root.is_dir() else []


def load_run_meta(run_dir: Path) -> RunMeta:
    """A run's run.json, validated."""
    meta = read_json(run_dir / "run.json", "--dir", "a calibration run.json")
    if not isinstance(meta, dict):
        raise InputError("--dir", f"{run_dir / 'run.json'} is not a JSON object", _FIX_RUN)
    return parse_run_meta(meta, str(run_dir / "run.json"), "--dir")


def _plain(value: object) -> object:
    """A table cell as the journal held it: None for a missing value (NaN, None), lists for arrays."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.tolist() if isinstance(value, np.ndarray) else value


def validate_records(records: pd.DataFrame, source: Path) -> None:
    """Check every row of a run's table against the record contract (InputError naming the row and field)."""
    names = [str(c) for c in records.columns]
    for i, values in enumerate(zip(*(records[c].tolist() for c in records.columns))):
        parse_record({k: p for k, v in zip(names, values) if (p := _plain(v)) is not None}, f"{source} row {i + 1}",
                     "--dir")


def load_records(run_dir: Path) -> pd.DataFrame:
    """A run's records (parquet, or the journal of a run still going); InputError for one that cannot be read."""
    path = run_dir / "records.parquet"
    if not path.is_file():
        path = run_dir / "records.jsonl"
    if not path.is_file():
        return pd.DataFrame()
    if path.suffix == ".parquet":
        require("pyarrow", "reading calibration records (records.parquet)")
    try:
        records = pd.read_parquet(path) if path.suffix == ".parquet" else pd.DataFrame(
            [json.loads(line) for line in path.read_text().splitlines() if line.strip()])
    except (ValueError, OSError, TypeError, RecursionError) as exc:
        raise InputError("--dir", f"{path} cannot be read as records ({type(exc).__name__})", _FIX_RUN) from None
    missing = [c for c in _RECORD_COLUMNS if c not in records.columns]
    if len(records) and missing:
        raise InputError("--dir", f"{path} has no column {missing[0]!r}", _FIX_RUN)
    validate_records(records, path)
    return records


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
    meta = load_run_meta(run_dir)
    records = load_records(run_dir)
    stats = cell_stats(records)
    statuses = records["status"].value_counts().to_dict() if len(records) else {}
    models = sorted(records["model"].unique().tolist()) if len(records) else []
    backends = sorted(records["backend"].unique().tolist()) if len(records) else []
    return {
        "run_id": meta.run_id,
        "backend": ",".join(backends),
        "gpu": meta.gpu,
        "model": ",".join(models),
        "configs": sorted(records["config"].unique().tolist()) if len(records) else [],
        "n_cells": int(len(stats)),
        "n_records": int(statuses.get("ok", 0)),
        "n_infeasible": int(statuses.get("infeasible", 0)),
        "n_errors": int(statuses.get("error", 0)),
        "median_cv": float(np.median(stats["cv"])) if len(stats) else None,
        "status": meta.status,
        "started": meta.started,
    }


def all_records(root: Path | None = None, on_progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Every run's records in one frame, with the run's start time (`started`, from run.json) on each row.

    `on_progress(done, runs)`: called after each run is read (a progress bar's).
    """
    dirs = list(run_dirs(root))
    frames = []
    for k, d in enumerate(dirs):
        frames.append(load_records(d).assign(started=load_run_meta(d).started))
        if on_progress is not None:
            on_progress(k + 1, len(dirs))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def cell_table(records: pd.DataFrame) -> pd.DataFrame:
    """Every distinct measured cell: backend, repetitions pooled over the runs that measured it, their CV."""
    if not len(records):
        return pd.DataFrame(columns=["backend", *CELL, "runs", "n", "energy_j", "duration_s", "cv"])
    ok = records[(records["status"] == "ok") & records["energy_j"].notna()]
    stats = cell_stats(ok)
    extra = ok.groupby(CELL).agg(backend=("backend", "first"), runs=("run_id", "nunique")).reset_index()
    return extra.merge(stats, on=CELL)[["backend", *CELL, "runs", "n", "energy_j", "duration_s", "cv"]]


def list_runs(root: Path | None = None, on_progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Summaries of every run under `root`; `on_progress(done, runs)` after each (a progress bar's)."""
    dirs = list(run_dirs(root))
    out = []
    for k, d in enumerate(dirs):
        out.append(summarize_run(d))
        if on_progress is not None:
            on_progress(k + 1, len(dirs))
    return out


def replay_dir() -> Path:
    """The shipped replay records folder."""
    from energy_predict.provenance import artifacts_dir

    return artifacts_dir() / "replays"


def load_replay_records(folder: Path | None = None) -> list[ReplayRecord]:
    """Every replay record (`*.json` written by `energy-predict replay`) under `folder`, validated, by path."""
    folder = folder or replay_dir()
    out = []
    for path in sorted(folder.rglob("*.json")):
        if path.name == "run.json":
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(str(path), f"cannot be read as a replay record ({type(exc).__name__})",
                             "restore it from git, or replay again") from None
        out.append(parse_replay(data, str(path)))
    return out

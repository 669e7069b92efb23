"""What `energy-predict model fit` reads before it fits: the committed runs, the padding fit, idle readings.

Every file read and every `git` call of a fit is here, called from the CLI's `model fit` (the edge); `model/fit.py`
fits on the `FitInputs` it is handed and reads nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.contracts.card import HfPadding
from energy_predict.errors import EnergyPredictError
from energy_predict.model.padding import TERMS as PADDING_TERMS
from energy_predict.provenance import artifacts_dir

PADDING_FIT = "2026-11-27-x1b-hf-padding.fit.json"


@dataclass(frozen=True)
class RunIdle:
    """One run's idle readings of one GPU (W), by what the GPU held: `before` (empty), `loaded:<framework>`."""

    gpu: str
    readings_w: dict[str, list[float]]


@dataclass(frozen=True)
class FitInputs:
    """Everything a fit stands on.

    The training cells, the option runs' records, the HF padding fit, each training run's idle readings, and the
    fit's provenance (commit, time).
    """

    table: pd.DataFrame
    options: pd.DataFrame | None  # records the serving options are fitted on (None: no options)
    padding: HfPadding
    idle: tuple[RunIdle, ...]
    commit: str | None
    created: str


def padding_dir() -> Path:
    """The committed HF padding inputs."""
    return artifacts_dir() / "padding"


def read_padding(folder: Path | None = None) -> HfPadding:
    """Coefficients of the HF left-padding overhead, from the committed padding fit (artifacts/padding/).

    The raw A/B rows behind it were never committed and are lost; the fit file says so and carries the
    coefficients the shipped card recorded, so a refit reproduces that card from committed files.
    """
    path = (folder or padding_dir()) / PADDING_FIT
    try:
        fit = json.loads(path.read_text())
        coef = [float(c) for c in fit["coef"]]
        if fit["terms"] != PADDING_TERMS or len(coef) != len(PADDING_TERMS) \
                or not all(np.isfinite(c) and c >= 0 for c in coef):
            raise ValueError(f"terms must be {PADDING_TERMS} with finite non-negative coefficients")
        measured = str(fit["model_measured"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise EnergyPredictError(f"model fit: the HF padding input {path} is missing or unreadable "
                                 f"({type(exc).__name__}); restore it with 'git checkout -- "
                                 f"artifacts/padding/{PADDING_FIT}' before fitting") from None
    return HfPadding(coef=coef, terms=PADDING_TERMS, model_measured=measured, sources=[PADDING_FIT],
                     method="model/padding.py: NNLS on padded minus unpadded energy; coefficients from the committed "
                            "fit (its raw A/B rows were never committed and are lost)")


def fit_inputs(run_ids: Iterable[str]) -> list[Path]:
    """The files a card fitted on these runs cites: each training run's run.json and records.parquet, the padding fit.

    Raises EnergyPredictError naming the first that is missing (a run known only by its journal, records.jsonl,
    is not a committed input).
    """
    from energy_predict.datasets import calibration_dir

    paths = [calibration_dir() / run / f for run in sorted(run_ids)
             for f in ("run.json", "records.parquet")] + [padding_dir() / PADDING_FIT]
    for path in paths:
        if not path.is_file():
            raise EnergyPredictError(f"model fit: {path} is missing, and the card would cite it; restore or "
                                     "commit it (a run still going has only records.jsonl: let it finish) "
                                     "before fitting")
    return paths


def uncommitted(paths: list[Path]) -> list[Path]:
    """Those of `paths` that git does not track, outside the checkout included (empty outside a git checkout)."""
    import subprocess

    root = artifacts_dir().parent.resolve()
    inside = [p for p in paths if Path(p).resolve().is_relative_to(root)]
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *(str(Path(p).resolve().relative_to(root))
                                                              for p in inside)],
                             cwd=root, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    tracked = {root / f for f in out.stdout.decode().split("\0") if f}
    return [p for p in paths if Path(p).resolve() not in tracked]


def read_run_idle(run_ids: Iterable[str]) -> tuple[RunIdle, ...]:
    """Each run's idle readings, from its run.json.

    Runs over several GPUs record each GPU's reading (`idle_power_per_gpu_w`); their sums are not one GPU's.
    """
    from energy_predict.datasets import calibration_dir
    from energy_predict.serving_spec import serving_of_record

    out = []
    for rid in run_ids:
        meta = json.loads((calibration_dir() / rid / "run.json").read_text())
        per_gpu = meta.get("idle_power_per_gpu_w") or {k: [v] for k, v in meta.get("idle_power_w", {}).items()}
        readings: dict[str, list[float]] = {}
        for key, watts in per_gpu.items():
            if key.startswith("loaded:"):  # loaded:<model>:<config> counts for the framework the run recorded
                key = f"loaded:{serving_of_record(meta['configs'][key.rsplit(':', 1)[-1]]).framework}"
            readings.setdefault(key, []).extend(w for w in (watts or []) if w is not None)
        out.append(RunIdle(meta["gpu"], readings))
    return tuple(out)


def option_records(runs: Sequence[Path] | None = None) -> pd.DataFrame:
    """The records of every shipped run (or of `runs`), each with its run id: what the options are fitted on."""
    from energy_predict.datasets import load_records, run_dirs

    frames = [load_records(run).assign(run_id=run.name) for run in (run_dirs() if runs is None else runs)]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_fit_inputs(commit: str | None, created: str, table: pd.DataFrame | None = None) -> FitInputs:
    """The inputs of a fit on the shipped runs (or on `table`, then with no options), checked to be committed files.

    `commit` and `created`: the fit's provenance, given by the caller (the CLI asks git and the clock).
    """
    padding = read_padding()
    options = None
    if table is None:
        from energy_predict.datasets import calibration_dir, run_dirs
        from energy_predict.model.dataset import training_table

        runs = run_dirs()
        if not runs:
            raise EnergyPredictError(f"model fit: no calibration runs under {calibration_dir()}; restore them from "
                                     "git (or measure with 'energy-predict calibrate') before fitting")
        fit_inputs([run.name for run in runs])
        table = training_table()
        options = option_records(runs)
    fit_inputs(table["run_id"].unique())
    return FitInputs(table, options, padding, read_run_idle(table["run_id"].unique()), commit, created)

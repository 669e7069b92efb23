"""Fit, score and store the default model: the estimator with the lowest held-out error."""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_predict.calibrate.environment import git_commit, now_iso
from energy_predict.model.dataset import training_table
from energy_predict.model.learners import ESTIMATORS, make_estimator
from energy_predict.model.padding import TERMS as PADDING_TERMS
from energy_predict.model.padding import fit_padding, read_ab
from energy_predict.model.store import MeasuredModel, library_versions, table_hash
from energy_predict.model.structured import TERMS, PhaseModel, config_keys
from energy_predict.model.validation import SCHEMES, conformal_bounds, out_of_fold, score

SELECTION_SCHEMES = ("leave-one-input-bin-out", "leave-one-batch-size-out")


def accuracy_table(table: pd.DataFrame, estimators=ESTIMATORS, on_row=None) -> pd.DataFrame:
    """Held-out scores: backend x estimator x scheme -> median, p90 APE and interval coverage."""
    rows = []
    for backend, data in table.groupby("backend"):
        data = data.reset_index(drop=True)
        for name in estimators:
            for scheme in SCHEMES:
                s = score(make_estimator(name), data, scheme)
                rows.append({"backend": backend, "estimator": name, "scheme": scheme, "median_ape": s.median_ape,
                             "p90_ape": s.p90_ape, "coverage_90": s.coverage, "n": s.n})
                if on_row:
                    on_row(rows[-1])
    return pd.DataFrame(rows)


def choose_estimator(scores: pd.DataFrame) -> str:
    """Lowest mean held-out median APE over the selection schemes and both backends (never training error)."""
    sel = scores[scores["scheme"].isin(SELECTION_SCHEMES)]
    return sel.groupby("estimator")["median_ape"].mean().idxmin()


def measured_idle_power(run_ids) -> dict[str, float]:
    """Median idle power of the training runs' GPUs: empty, and with an engine loaded (per backend)."""
    import json

    from energy_predict.datasets import calibration_dir

    empty, loaded = [], {"hf": [], "vllm": []}
    for rid in run_ids:
        meta = json.loads((calibration_dir() / rid / "run.json").read_text())
        for key, watts in meta.get("idle_power_w", {}).items():
            if watts is None:
                continue
            if key == "before":
                empty.append(watts)
            elif key.startswith("loaded:"):
                backend = "hf" if key.split(":")[-1].startswith("hf") else "vllm"
                loaded[backend].append(watts)
    out = {"empty": float(np.median(empty))}
    out.update({f"loaded_{b}": float(np.median(v)) for b, v in loaded.items() if v})
    return out


def hf_padding(folder=None) -> dict | None:
    """Coefficients of the HF left-padding overhead, fitted from every A/B file under artifacts/padding/."""
    from energy_predict.model.store import artifacts_dir

    files = sorted((folder or artifacts_dir() / "padding").glob("*.jsonl"))
    rows = [r for f in files for r in read_ab(f)[1]]
    if not rows:
        return None
    return {"coef": fit_padding(rows).tolist(), "terms": PADDING_TERMS, "model_measured": "Llama-3.1-8B",
            "sources": [f.name for f in files], "method": "model/padding.py: NNLS on padded minus unpadded energy"}


def fit_default(table: pd.DataFrame | None = None, scores: pd.DataFrame | None = None, name: str = "default"):
    """Fit the phase model on all cells, with intervals from held-out residuals, and its card."""
    table = training_table() if table is None else table
    scores = accuracy_table(table, ("phase",)) if scores is None else scores
    chosen = choose_estimator(scores)
    if chosen != "phase":
        raise RuntimeError(f"held-out selection chose {chosen}; only the phase model ships with phase splits")
    residuals = []
    for scheme in SELECTION_SCHEMES:
        pred = out_of_fold(PhaseModel(), table, SCHEMES[scheme])
        ok = np.isfinite(pred) & (pred > 0)
        residuals.append(np.log(table["energy_j"].to_numpy()[ok] / pred[ok]))
    bounds = conformal_bounds(np.concatenate(residuals))
    energy = PhaseModel().fit(table, table["energy_j"])
    duration = PhaseModel().fit(table, table["duration_s"])
    cells_per_config = config_keys(table).value_counts()
    valid = {
        "gpus": sorted(table["gpu"].unique()),
        "serving_configs": sorted(k for k in cells_per_config.index if k in energy.coef_),
        "too_few_cells": {k: int(n) for k, n in cells_per_config.items() if k not in energy.coef_},
        "min_cells_per_config": energy.min_cells,
        "models_measured": sorted(table["model"].unique()),
        "batch_size": [int(table["batch_size"].min()), int(table["batch_size"].max())],
        "input_tokens": [int(table["input_tokens"].min()), int(table["input_tokens"].max())],
        "output_tokens": [int(table["output_tokens"].min()), int(table["output_tokens"].max())],
    }
    card = {
        "idle_power_w": measured_idle_power(table["run_id"].unique()),
        "name": name, "estimator": "phase", "kind": "measured", "created": now_iso(), "commit": git_commit(),
        "command": "energy-predict model fit",
        "training": {"runs": sorted(table["run_id"].unique()), "cells": int(len(table)),
                     "table_sha256_16": table_hash(table), "configs": sorted(table["config"].unique())},
        "features": TERMS, "target": "energy_j of one batch (median of repetitions)",
        "interval": {"level": 0.9, "method": "split conformal on held-out log residuals "
                     f"({', '.join(SELECTION_SCHEMES)})", "log_bounds": list(bounds)},
        "versions": library_versions(), "valid": valid, "hf_padding": hf_padding(),
        "held_out": scores[scores["estimator"] == "phase"].to_dict("records"),
    }
    return MeasuredModel(energy, duration, bounds, card)

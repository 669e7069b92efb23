"""Fit the default model on what it is handed: the estimator with the lowest held-out error, its scores, its card.

Pure: the training cells, option records, padding fit, idle readings and provenance come in as `FitInputs`
(model/inputs.py reads them, from the CLI's `model fit`); held-out scoring is model/scoring.py's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from energy_predict.contracts.card import IdleReadings, ModelCard
from energy_predict.contracts.keys import FitKey
from energy_predict.errors import EnergyPredictError
from energy_predict.model import power_curve, term_physics
from energy_predict.model.features import config_keys, fit_keys
from energy_predict.model.inputs import FitInputs, RunIdle
from energy_predict.model.measured import MeasuredModel
from energy_predict.model.option_fit import fit_options
from energy_predict.model.phases import MOE, PhaseCoefficients
from energy_predict.model.scoring import (
    INTERVAL_SCHEMES,
    accuracy_table,
    choose_estimator,
    extrapolation,
    gpu_transfer,
    model_transfer,
    tp_laws,
)
from energy_predict.model.structured import TERMS, PhaseModel
from energy_predict.model.validation import SCHEMES, conformal_bounds, out_of_fold


def table_hash(table: pd.DataFrame) -> str:
    """A short content hash of a training table (cells and targets)."""
    cols = ["model", "config", "batch_size", "input_tokens", "output_tokens", "energy_j", "duration_s"]
    return hashlib.sha256(table[cols].to_csv(index=False).encode()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a stored model depends on."""
    import scipy
    import sklearn

    return {"numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "scipy": scipy.__version__}


MIN_IDLE_READINGS_FOR_SPREAD = 20  # fewer: a sample's 5-95% range holds a new reading well under 90% of the time


def measured_idle_power(runs: Iterable[RunIdle]) -> dict[str, IdleReadings]:
    """Median idle power of one GPU, per GPU kind: empty, and holding a loaded engine (per framework).

    A loaded engine's 5th and 95th percentile come with it where it has enough readings.
    """
    readings: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        gpu = readings.setdefault(run.gpu, {"empty": [], "loaded_hf": [], "loaded_vllm": []})
        for key, watts in run.readings_w.items():
            if key == "before":
                gpu["empty"].extend(watts)
            elif key.startswith("loaded:"):
                framework = key.split(":", 1)[1]  # loaded:<framework> (inputs.read_run_idle)
                gpu.setdefault(f"loaded_{framework}", []).extend(watts)
    def stats(key: str, watts: list[float]) -> dict[str, float]:
        out = {key: float(np.median(watts))}
        if key.startswith("loaded_") and len(watts) >= MIN_IDLE_READINGS_FOR_SPREAD:
            out[f"{key}_p05"], out[f"{key}_p95"] = (float(q) for q in np.quantile(watts, [0.05, 0.95]))
        return out

    return {g: IdleReadings.model_validate({k: x for key, v in r.items() if v for k, x in stats(key, v).items()})
            for g, r in sorted(readings.items())}


def _keyed(key: FitKey) -> dict:
    return {"gpu": key.gpu, "serving": key.serving_json()}


def _validity(table: pd.DataFrame, energy) -> dict:
    """What the fit covers: GPUs, fitted configurations (and those with too few cells), models, ranges."""
    keys = fit_keys(table)
    text = keys.map(lambda k: str(k.flat))  # cards order fit keys by this text
    cells_per_config = {k: int(n) for k, n in zip(*np.unique(text, return_counts=True))}
    by_text = dict(zip(text, keys))
    per_model = table.assign(key=text).groupby(["key", "model"]).size()

    def fitted(k: str) -> bool:
        return by_text[k].flat in energy.coef_

    return {
        "gpus": sorted(table["gpu"].unique()),
        "serving_configs": [_keyed(by_text[k]) for k in sorted(cells_per_config) if fitted(k)],
        "too_few_cells": [{**_keyed(by_text[k]), "cells": n} for k, n in sorted(cells_per_config.items())
                          if not fitted(k)],
        "min_cells_per_config": energy.min_cells,
        "models_measured": sorted(table["model"].unique()),
        "measured_models": [{**_keyed(by_text[k]), "model": m} for (k, m), n in per_model.items()
                            if n >= energy.min_cells and fitted(k)],
        "moe_measured": bool((table["num_experts"] > 0).any()),
        "moe_models": sorted(table.loc[table["num_experts"] > 0, "model"].unique()),
        "ranges": [{**_keyed(by_text[k]), **{c: [int(g[c].min()), int(g[c].max())]
                                             for c in ("batch_size", "input_tokens", "output_tokens")}}
                   for k, g in table.assign(key=text).groupby("key") if fitted(k)],
        "batch_size": [int(table["batch_size"].min()), int(table["batch_size"].max())],
        "input_tokens": [int(table["input_tokens"].min()), int(table["input_tokens"].max())],
        "output_tokens": [int(table["output_tokens"].min()), int(table["output_tokens"].max())],
    }


def checked_terms(duration: PhaseCoefficients, models: dict[tuple, int] | None = None) -> list[dict]:
    """The card's `terms`: every duration set read as rates and constants with units, pinned terms with why.

    `models`: per fit key (flat), how many models its configuration's cells span (`models_per_key`); 1 where
    missing.

    Raises:
        EnergyPredictError: a term faster than the datasheet peak (fraction > 1) or fitted at zero where its work
            is never zero, naming the fit key and term: such a fit is not the physics its terms are named after,
            and every transfer scaling it scales the wrong thing.
    """
    found = term_physics.readings(duration.coef_)
    impossible, degenerate = term_physics.plausibility_problems(found)
    for problems, what in ((impossible, "which is impossible"), (degenerate, "which is degenerate")):
        if problems:
            raise EnergyPredictError(f"model fit: {problems[0]}, {what}"
                                     + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
                                     + "; the fit's roofline floors (model/term_physics.py) should prevent it")
    out = []
    for r in found:
        out.append({**_keyed(r.key), "model": r.model,
                    "rates": {x.term: {"unit": x.unit, "rate": x.rate, "fraction_of_peak": x.fraction_of_peak}
                              for x in r.rates},
                    "constants_s": r.constants_s, "degenerate": r.degenerate(),
                    "pinned": term_physics.pin_reasons(r, (models or {}).get(
                        (r.key.flat, MOE) if r.model == MOE else r.key.flat, 1))})
    return sorted(out, key=lambda e: (str(FitKey.from_json(e["gpu"], e["serving"]).flat), e["model"] or ""))


def models_per_key(table: pd.DataFrame) -> dict[tuple, int]:
    """Per fit key (flat), how many dense models its cells span; per (flat key, MOE), how many mixtures of experts."""
    keys, moe = config_keys(table), (table["num_experts"] > 0).to_numpy()
    dense = table[~moe].groupby(keys[~moe].to_numpy())["model"].nunique()
    mixtures = table[moe].groupby(keys[moe].to_numpy())["model"].nunique()
    return {**{k: int(n) for k, n in dense.items()}, **{(k, MOE): int(n) for k, n in mixtures.items()}}


def cell_power(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(memory share, compute share, mean power per GPU in W) of each calibration cell.

    Shares: the cell's bytes read and FLOPs (model/phases.py's terms) over the engine's datasheet peaks and its
    measured time; power: its measured energy / time / GPUs.
    """
    from energy_predict.gpus import resolve_gpu
    from energy_predict.model.phases import phase_terms
    from energy_predict.precision import precision_of

    terms = phase_terms(table)
    read = (terms["step_weight_bytes"] + terms["decode_kv_bytes"]).to_numpy()
    flops = (terms["prefill_linear_flops"] + terms["prefill_attention_flops"]
             + terms["decode_linear_flops"]).to_numpy()
    gpus = [resolve_gpu(g) for g in table["gpu"]]
    tp = table["tensor_parallel"].astype(int).to_numpy()
    bandwidth = tp * np.array([g.memory_bandwidth_bps for g in gpus])
    peak = tp * np.array([precision_of(q).peak_flops(g) for q, g in zip(table["quantization"], gpus)])
    t = table["duration_s"].to_numpy(float)
    m, c = power_curve.step_shares(read, flops, t, bandwidth, peak)
    return m, c, table["energy_j"].to_numpy(float) / t / tp


def power_curves(table: pd.DataFrame, idle: dict[str, IdleReadings]) -> list[dict]:
    """The card's `power`: per measured GPU and framework, the fitted power curve (model/power_curve.py).

    Each cell's mean power per GPU as a share of the loaded idle..limit range, regressed on its memory and compute
    shares (`cell_power`); with the energy per byte and per bf16 FLOP the shares imply, and the curve's error.
    """
    from energy_predict.gpus import resolve_gpu

    m, c, watts = cell_power(table)
    out = []
    for (gpu_name, framework), idx in table.groupby(["gpu", "framework"]).indices.items():
        loaded = idle[gpu_name].loaded(framework) if gpu_name in idle else None
        if loaded is None or len(idx) < power_curve.MIN_CELLS:
            continue
        gpu = resolve_gpu(gpu_name)
        busy, memory, compute = power_curve.fit_shares((watts[idx] - loaded) / (gpu.tdp_w - loaded), m[idx], c[idx])
        curve = power_curve.PowerCurve(gpu_name, framework, float(loaded), gpu.tdp_w, busy, memory, compute)
        error = np.abs(curve.power_w(m[idx], c[idx]) / watts[idx] - 1.0)
        out.append({"gpu": gpu_name, "framework": framework, "idle_w": curve.idle_w, "limit_w": curve.limit_w,
                    "busy": busy, "memory": memory, "compute": compute,
                    "joules_per_byte": curve.joules_per_byte(gpu.memory_bandwidth_bps),
                    "joules_per_bf16_flop": curve.joules_per_flop(gpu.bf16_flops), "cells": int(len(idx)),
                    "median_abs_power_error": float(np.median(error)),
                    "p90_abs_power_error": float(np.quantile(error, 0.9))})
    return out


def fit_model(inputs: FitInputs, name: str = "default", scores: pd.DataFrame | None = None) -> MeasuredModel:
    """Fit the phase model on all cells, with intervals from held-out residuals, and its card.

    The serving options (decoding, speculative decoding) are fitted on `inputs.options` where given. `scores`: the
    in-domain accuracy table, where already computed (else scored here).
    """
    table = inputs.table
    scores = accuracy_table(table, ("phase",)) if scores is None else scores
    chosen = choose_estimator(scores)
    if chosen != "phase":
        raise RuntimeError(f"held-out selection chose {chosen}; only the phase model ships with phase splits")
    held_out = {scheme: out_of_fold(PhaseModel(), table, SCHEMES[scheme]) for scheme in INTERVAL_SCHEMES}
    residuals = []
    for pred in held_out.values():
        ok = np.isfinite(pred) & (pred > 0)
        residuals.append(np.log(table["energy_j"].to_numpy()[ok] / pred[ok]))
    bounds = conformal_bounds(np.concatenate(residuals))
    energy = PhaseModel(target="energy_j").fit(table, table["energy_j"]).fitted()
    duration = PhaseModel(target="duration_s").fit(table, table["duration_s"]).fitted()
    terms = checked_terms(duration, models_per_key(table))
    idle = measured_idle_power(inputs.idle)
    card = {
        "idle_power_w": idle,
        "name": name, "estimator": "phase", "kind": "measured", "created": inputs.created, "commit": inputs.commit,
        "command": "energy-predict model fit",
        "training": {"runs": sorted(table["run_id"].unique()), "cells": int(len(table)),
                     "table_sha256_16": table_hash(table), "configs": sorted(table["config"].unique())},
        "features": TERMS, "target": "energy_j of one batch (median of repetitions)",
        "interval": {"level": 0.9, "method": "split conformal on held-out log residuals "
                     f"({', '.join(INTERVAL_SCHEMES)})", "log_bounds": list(bounds)},
        "versions": library_versions(), "valid": _validity(table, energy), "hf_padding": inputs.padding,
        "transfer": {"model": model_transfer(table), "gpu": gpu_transfer(table), "tp": tp_laws(table, idle)},
        "extrapolation": extrapolation(table, held_out),
        # a scheme that held out nothing predictable (one model, one GPU) has no score: left out, not NaN
        "held_out": scores[(scores["estimator"] == "phase") & (scores["n"] > 0)].to_dict("records"),
        "terms": terms,
        "power": power_curves(table, idle),
    }
    model = MeasuredModel(energy, duration, bounds, ModelCard.model_validate(card))
    if inputs.options is None or not len(inputs.options):
        return model
    options = fit_options(inputs.options, model)
    card["options"] = options
    card["training"]["option_runs"] = sorted({r for group in options.values() for o in group for r in o["runs"]})
    return MeasuredModel(energy, duration, bounds, ModelCard.model_validate(card))

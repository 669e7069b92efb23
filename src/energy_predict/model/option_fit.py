"""Fitting the serving options (decoding strategies, speculative decoding) on their measured cells (issue 17).

model/options.py says what each option's rule is and answers with it; this module fits the rules on top of the
fitted greedy model, for the card's `options` (`energy-predict model fit`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from energy_predict.architectures import resolve_architecture
from energy_predict.errors import EnergyPredictError
from energy_predict.gpus import resolve_gpu
from energy_predict.model.options import context_cost
from energy_predict.model.speculative import StepCost, decode_cost, step_cost_of_cells
from energy_predict.model.validation import conformal_bounds
from energy_predict.serving import Deployment, Serving
from energy_predict.serving_spec import RECORD_FIELDS, serving_of_record

MIN_CELLS = 6  # an option is modelled from at least this many measured cells


def runs_an_option(records: pd.DataFrame) -> pd.Series:
    """Whether each record ran a serving option (a decoding strategy or speculative decoding) on a greedy base.

    Read by the one translator (`serving_of_record`), once per distinct configuration the records state.
    """
    if not len(records):
        return pd.Series(False, index=records.index)
    groups = records.groupby([c for c in records.columns if c in RECORD_FIELDS], dropna=False, sort=False)
    ids = groups.ngroup()
    option = {}
    for i in groups.head(1).index:
        serving = serving_of_record(records.loc[i])
        option[ids[i]] = serving != serving.base
    return ids.map(option).astype(bool)


def option_cells(records: pd.DataFrame) -> pd.DataFrame:
    """One row per measured cell of a non-greedy or speculative config (medians of its repetitions), per run."""
    r = records[records["status"] == "ok"]
    r = r[runs_an_option(r)]
    if not len(r):
        return pd.DataFrame()
    cols = {"energy_j": ("energy_j", "median"), "duration_s": ("duration_s", "median")}
    for c in ("counter_drafts", "counter_accepted_tokens"):
        if c in r:
            cols[c.removeprefix("counter_")] = (c, "median")
    keys = ["run_id", "config", "backend", "model", "gpu", "decoding", "beam_width", "batch_size", "input_tokens",
            "output_tokens"]
    extra = [c for c in ("cuda_graphs", "compile", "quantization", "tensor_parallel", "speculative_model",
                         "num_speculative_tokens") if c in r]
    r = r.assign(gpu=r["gpu"].map(lambda g: resolve_gpu(g).name), decoding=r["decoding"].fillna("greedy"),
                 beam_width=r["beam_width"].fillna(1) if "beam_width" in r else 1)
    return r.groupby(keys + extra, dropna=False).agg(**cols).reset_index()


def _deployment(row, serving: Serving) -> Deployment:
    return Deployment(resolve_architecture(row["model"]), resolve_gpu(row["gpu"]), serving)


def _greedy_serving(row) -> Serving:
    """The greedy configuration without speculation a record's option is fitted on (`serving_of_record`)."""
    return serving_of_record(row).base


def _held_out(measured: np.ndarray, predicted: np.ndarray) -> dict:
    err = predicted / measured - 1
    lo, hi = conformal_bounds(np.log(measured / predicted))
    return {"n": int(len(err)), "median_ape": float(np.median(np.abs(err))),
            "p90_ape": float(np.quantile(np.abs(err), 0.9)), "max_ape": float(np.max(np.abs(err))),
            "log_bounds": [lo, hi]}


def _factor_fit(total: np.ndarray, prefill: np.ndarray, decode: np.ndarray) -> tuple[float, np.ndarray]:
    """The median factor on the rule's decode, and each cell predicted with the factor of the others."""
    f = (total - prefill) / decode
    held = np.array([prefill[i] + np.median(np.delete(f, i)) * decode[i] for i in range(len(f))])
    return float(np.median(f)), held


def fit_decoding(cells: pd.DataFrame, base) -> list[dict]:
    """The sampling and beam factors of each framework, from its measured cells and the fitted greedy model."""
    out = []
    if not len(cells):
        return out
    cells = cells[cells["decoding"].isin(("sampling", "beam"))
                  & (cells.get("speculative_model", pd.Series(None, index=cells.index)).isna())]
    for (framework, decoding), group in cells.groupby(["backend", "decoding"]):
        rows = []
        for _, row in group.iterrows():
            width = int(row["beam_width"]) if decoding == "beam" else 1
            dep = _deployment(row, _greedy_serving(row))
            try:
                base.basis(dep)
                pre_j, dec_j, pre_s, dec_s = base.phase_split(dep, np.array([row["batch_size"] * width]),
                                                              row["input_tokens"], row["output_tokens"])
            except EnergyPredictError:  # a cell the greedy model cannot answer is no evidence for the factor
                continue
            rows.append((row, width, pre_j[0], dec_j[0], pre_s[0], dec_s[0]))
        if len(rows) < MIN_CELLS:
            continue
        total = np.array([r[0]["energy_j"] for r in rows])
        seconds = np.array([r[0]["duration_s"] for r in rows])
        factor, held = _factor_fit(total, np.array([r[2] for r in rows]), np.array([r[3] for r in rows]))
        time_factor, time_held = _factor_fit(seconds, np.array([r[4] for r in rows]), np.array([r[5] for r in rows]))
        g = pd.DataFrame([r[0] for r in rows])
        out.append({
            "framework": framework, "decoding": decoding,
            "rule": "greedy batch of B x width sequences, decode x factor" if decoding == "beam"
            else "greedy batch, decode x factor",
            "energy_factor": factor, "time_factor": time_factor,
            "beam_widths": sorted({r[1] for r in rows}) if decoding == "beam" else [],
            "measured": [list(p) for p in sorted({(m, gpu) for m, gpu in zip(g["model"], g["gpu"])})],
            "servings": [dict(t) for t in sorted({tuple(_greedy_serving(r).key_dict().items())
                                                   for _, r in g.iterrows()}, key=str)],
            "batch_size": [int(g["batch_size"].min()), int(g["batch_size"].max())],
            "cells": int(len(rows)), "runs": sorted(g["run_id"].unique()),
            "held_out": {"scheme": "leave-one-cell-out", **_held_out(total, held),
                         "time_median_ape": float(np.median(np.abs(time_held / seconds - 1)))},
        })
    return out


SERVING_COLUMNS = ("backend", "cuda_graphs", "compile", "quantization", "tensor_parallel")


def speculative_frame(cells: pd.DataFrame, base) -> pd.DataFrame:
    """Speculative cells with what the step-cost fit needs, energy and time.

    Steps and accepted tokens from the engine's counters, the target's and the draft's greedy prefill, the KV-cache
    read per context token of a step (`options.context_cost`); a `key` column holds (GPU, target, draft, greedy
    serving).
    """
    if not len(cells) or "speculative_model" not in cells or "drafts" not in cells:
        return pd.DataFrame()
    spec = cells[cells["speculative_model"].notna() & cells["drafts"].notna() & (cells["drafts"] > 0)
                 & (cells["decoding"].fillna("greedy") == "greedy")].copy()
    rows = []
    for _, group in spec.groupby(["gpu", "model", "speculative_model",
                                  *[c for c in SERVING_COLUMNS if c in spec]], dropna=False):
        row = group.iloc[0]
        serving = _greedy_serving(row)
        target = _deployment(row, serving)
        draft = replace(target, arch=resolve_architecture(row["speculative_model"]))
        b, i, o = (group[c].to_numpy(float) for c in ("batch_size", "input_tokens", "output_tokens"))
        k = group["num_speculative_tokens"].to_numpy(float)
        pre_j, _, pre_s, _ = base.phase_split(target, b, i, o)
        draft_j, _, draft_s, _ = base.phase_split(draft, b, i, o)
        target_costs, draft_costs = base.step_costs(target), base.step_costs(draft)
        te, tt, de, dt = target_costs.energy, target_costs.time, draft_costs.energy, draft_costs.time
        rows.append(group.assign(
            key=[(row["gpu"], row["model"], row["speculative_model"], serving.key)] * len(group), k=k,
            steps=group["drafts"] / b, accepted=group["accepted_tokens"] / group["drafts"],
            prefill_j=pre_j + draft_j, prefill_s=pre_s + draft_s,
            ctx_j=[context_cost(te, de, x) for x in k], ctx_s=[context_cost(tt, dt, x) for x in k]))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


COLUMNS = {"energy": ("energy_j", "prefill_j", "ctx_j"), "time": ("duration_s", "prefill_s", "ctx_s")}


def _step_fit(f: pd.DataFrame, mask: np.ndarray, what: str) -> StepCost:
    total, prefill, ctx = COLUMNS[what]
    g = f[mask]
    if not len(g):
        raise ValueError("no cells to fit a step cost on")
    y = step_cost_of_cells(g[total], g[prefill], g[ctx].to_numpy(), g["batch_size"], g["input_tokens"],
                           g["steps"], g["accepted"])
    return StepCost.fit(g["batch_size"], g["k"], g["accepted"], y)


def _predict(f: pd.DataFrame, mask: np.ndarray, cost: StepCost, what: str) -> np.ndarray:
    _, prefill, ctx = COLUMNS[what]
    g = f[mask]
    return (g[prefill].to_numpy() + decode_cost(cost, g[ctx].to_numpy(), g["batch_size"].to_numpy(),
                                                g["input_tokens"].to_numpy(), g["output_tokens"].to_numpy(),
                                                g["k"].to_numpy(), g["accepted"].to_numpy()))


def _held_out_by(f: pd.DataFrame, groups: np.ndarray, train: np.ndarray | None = None) -> np.ndarray:
    """Each group's cells predicted from a fit on the others (of `train`); NaN where those do not span the terms."""
    train = np.ones(len(f), bool) if train is None else train
    pred = np.full(len(f), np.nan)
    for v in pd.unique(groups):
        held = groups == v
        try:
            pred[held] = _predict(f, held, _step_fit(f, train & ~held, "energy"), "energy")
        except ValueError:
            pass
    return pred


def speculative_held_out(f: pd.DataFrame) -> dict[str, np.ndarray]:
    """Held-out energy predictions of every cell, four ways.

    The middle acceptances from the ends alone (acceptance 0 and 1), leave-one-draft-length-out,
    leave-one-batch-size-out, leave-one-shape-out ((input, output) lengths).
    """
    ends = ((f["accepted"] < 0.01) | (f["accepted"] > f["k"] - 0.01)).to_numpy()
    middle = np.where(ends, "end", "middle")
    out = {"middle_from_ends": np.where(~ends, _held_out_by(f, middle, train=ends), np.nan)}
    out["leave_one_k_out"] = _held_out_by(f, f["k"].to_numpy())
    out["leave_one_batch_out"] = _held_out_by(f, f["batch_size"].to_numpy())
    shapes = (f["input_tokens"].astype(str) + "->" + f["output_tokens"].astype(str)).to_numpy()
    out["leave_one_shape_out"] = _held_out_by(f, shapes)
    out["ends"] = ends
    return out


def fit_speculative(cells: pd.DataFrame, base) -> list[dict]:
    """Each measured (GPU, target, draft, greedy serving): step costs for energy and time, ranges, held-out errors.

    A group whose cells do not span the step cost's terms (one draft length, one acceptance, one batch size) is
    left out: nothing is modelled from it.
    """
    f = speculative_frame(cells, base)
    out = []
    if not len(f):
        return out
    for key, g in f.groupby("key", sort=False):
        g = g.reset_index(drop=True)
        every = np.ones(len(g), bool)
        try:
            energy, time = _step_fit(g, every, "energy"), _step_fit(g, every, "time")
        except ValueError:
            continue
        fitted = _predict(g, every, energy, "energy")
        held = speculative_held_out(g)
        y = g["energy_j"].to_numpy()
        scores = {name: _held_out(y[np.isfinite(p)], p[np.isfinite(p)])
                  for name, p in held.items() if name != "ends" and np.isfinite(p).sum() >= 4}
        pooled = np.concatenate([np.log(y[np.isfinite(p)] / p[np.isfinite(p)])
                                 for name, p in held.items() if name != "ends"])
        ends = held["ends"]
        gpu, model, draft, _ = key
        out.append({
            "gpu": gpu, "model": model, "draft": draft, "serving": _greedy_serving(g.iloc[0]).key_dict(),
            "energy_coef": list(energy.coef), "time_coef": list(time.coef),
            "draft_tokens": [int(g["k"].min()), int(g["k"].max())],
            "acceptance": [float((g["accepted"] / g["k"]).min()), float((g["accepted"] / g["k"]).max())],
            "batch_size": [int(g["batch_size"].min()), int(g["batch_size"].max())],
            "input_tokens": [int(g["input_tokens"].min()), int(g["input_tokens"].max())],
            "output_tokens": [int(g["output_tokens"].min()), int(g["output_tokens"].max())],
            "cells": int(len(g)), "runs": sorted(g["run_id"].unique()),
            "fit": {"all": _held_out(y, fitted), "ends": _held_out(y[ends], fitted[ends])},
            "held_out": {**scores, "log_bounds": list(conformal_bounds(pooled))},
        })
    return out


def fit_options(records: pd.DataFrame, base) -> dict:
    """The card's `options`: decoding factors and speculative step costs, fitted on top of the greedy model."""
    cells = option_cells(records)
    return {"decoding": fit_decoding(cells, base), "speculative": fit_speculative(cells, base)}

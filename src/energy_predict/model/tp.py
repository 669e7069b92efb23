"""Tensor parallelism across degrees: one law per configuration family, fitted on every measured degree.

A family is a GPU kind and a serving configuration whatever its tensor-parallel degree t. Per cell of a group of
t GPUs (the phase terms of model/phases.py, whole batch):

- time: the FLOP and byte terms are split over the group (/ t); the per-batch, per-step and per-layer constants
  are not (every GPU runs them); each all-reduce (two per layer) costs a latency x (t - 1)/t and its bytes
  x (t - 1)/t^2 (each GPU moves (t - 1)/t of the buffer, over its own links);
- energy: the work itself (FLOPs, bytes, constants) is done once whatever t; the all-reduces add energy per
  operation x (t - 1) and per byte x 2(t - 1)/t (a ring moves 2(t - 1)/t of the buffer in all); and every GPU
  of the group draws its measured loaded idle power for the whole time: + t x idle x time.

Fitted by NNLS on relative error, the idle term taken from the measured loaded idle (not fitted). The law gives
each degree's coefficients in the phase model's terms, so the step model and the online simulator use them as
they are. Validated leave-one-degree-out (benchmarks/tp_transfer.py; the card's `transfer.tp`).
Numpy only at prediction (`degree_coefficients`); scipy only to fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from energy_predict.contracts.scores import DegreeScore, HeldOutScore
from energy_predict.model.phases import ALLREDUCE_TERMS, TERMS, phase_terms

if TYPE_CHECKING:
    import pandas as pd

REPLICATED = ("batch", "prefill_layers", "steps", "step_layers")  # every GPU of the group runs them
BASE = [t for t in TERMS if t not in ALLREDUCE_TERMS]
LAW_TERMS = [*BASE, "allreduce_ops", "allreduce_bytes"]  # prefill and decode all-reduces share a cost
MAX_DEGREE = 8  # one node; beyond it the all-reduce leaves NVLink


_REPLICATED = np.array([term in REPLICATED for term in BASE])


def _split(t) -> np.ndarray:
    """Per BASE term (per row where `t` is an array of degrees): the share of its time one GPU of the group spends."""
    t = np.asarray(t, float)[..., None]
    return np.where(_REPLICATED, 1.0, 1.0 / t)


def _designs(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(time design, energy design before the idle term): rows = cells, columns = LAW_TERMS."""
    terms = phase_terms(X)
    t = X["tensor_parallel"].to_numpy(float)
    base = terms[BASE].to_numpy()
    ops = (terms["prefill_allreduce_ops"] + terms["decode_allreduce_ops"]).to_numpy()
    moved = (terms["prefill_allreduce_bytes"] + terms["decode_allreduce_bytes"]).to_numpy()
    time = np.column_stack([base * _split(t), ops * (t - 1) / t, moved * (t - 1) / t ** 2])
    energy = np.column_stack([base, ops * (t - 1), moved * 2 * (t - 1) / t])
    return time, energy


def _nnls(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls

    scale = np.abs(A).max(0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(A / scale / y[:, None], np.ones(len(y)))
    return coef / scale


class Law(Protocol):
    """A law's coefficients over LAW_TERMS and the loaded idle it was fitted with (a fit, or the card's `TpLaw`)."""

    idle_w: float
    theta_time: list[float]
    theta_energy: list[float]


@dataclass(frozen=True)
class LawFit:
    """A fitted law: seconds and joules (above the group's idle draw) per unit of each of LAW_TERMS."""

    terms: list[str]
    idle_w: float
    theta_time: list[float]
    theta_energy: list[float]


@dataclass(frozen=True)
class DegreeHoldOut:
    """Each measured degree predicted from the law fitted on the others: per degree, and pooled (None: too few)."""

    degrees: list[int]
    per_degree: dict[str, DegreeScore]
    pooled: HeldOutScore | None

    def to_json(self) -> dict:
        """As the card stores it beside a law: degrees, per degree, then the pooled score's fields."""
        out = {"degrees": self.degrees, "per_degree": {d: s.to_json() for d, s in self.per_degree.items()}}
        if self.pooled is None:
            return out
        pooled = self.pooled.to_json()
        return {"scheme": pooled.pop("scheme"), **out, **pooled}


def fit_law(X: pd.DataFrame, energy_j, duration_s, idle_w: float) -> LawFit:
    """The law's coefficients over LAW_TERMS (time, then energy less the group's idle draw), from any degrees."""
    y_e, y_t = np.asarray(energy_j, float), np.asarray(duration_s, float)
    time, energy = _designs(X)
    theta_t = _nnls(time, y_t)
    t = X["tensor_parallel"].to_numpy(float)
    dynamic = np.maximum(y_e - t * idle_w * y_t, 0.05 * y_e)  # what the GPUs drew above idle
    theta_e = _nnls(energy, dynamic)
    return LawFit(LAW_TERMS, float(idle_w), [float(c) for c in theta_t], [float(c) for c in theta_e])


def degree_coefficients(law: Law, t: int) -> tuple[np.ndarray, np.ndarray]:
    """(energy, time) coefficients of degree t over the phase model's TERMS."""
    theta_t, theta_e = np.asarray(law.theta_time, float), np.asarray(law.theta_energy, float)
    n = len(BASE)
    where = {term: k for k, term in enumerate(TERMS)}
    time, energy = np.zeros(len(TERMS)), np.zeros(len(TERMS))
    base = [where[term] for term in BASE]
    time[base] = theta_t[:n] * _split(t)
    energy[base] = theta_e[:n]
    for phase in ("prefill", "decode"):
        time[where[f"{phase}_allreduce_ops"]] = theta_t[n] * (t - 1) / t
        time[where[f"{phase}_allreduce_bytes"]] = theta_t[n + 1] * (t - 1) / t ** 2
        energy[where[f"{phase}_allreduce_ops"]] = theta_e[n] * (t - 1)
        energy[where[f"{phase}_allreduce_bytes"]] = theta_e[n + 1] * 2 * (t - 1) / t
    return energy + t * law.idle_w * time, time


def predict_law(law: Law, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(energy_j, duration_s) of cells (each at its own degree) under a law."""
    terms = phase_terms(X).to_numpy()
    e, d = np.zeros(len(X)), np.zeros(len(X))
    for t in np.unique(X["tensor_parallel"].to_numpy()):
        rows = X["tensor_parallel"].to_numpy() == t
        ce, ct = degree_coefficients(law, int(t))
        e[rows], d[rows] = terms[rows] @ ce, terms[rows] @ ct
    return e, d


def leave_one_degree_out(X: pd.DataFrame, energy_j, duration_s, idle_w: float, skip: tuple[int, ...] = ()
                         ) -> DegreeHoldOut:
    """Each measured degree predicted from the law fitted on the others: errors per degree, and pooled.

    Degrees in `skip` are reported, not pooled: the law is never asked for them.
    """
    from energy_predict.model.validation import conformal_bounds, interval_coverage

    y_e, y_t = np.asarray(energy_j, float), np.asarray(duration_s, float)
    degrees = sorted(int(d) for d in X["tensor_parallel"].unique())
    pred_e, pred_t = np.full(len(X), np.nan), np.full(len(X), np.nan)
    per_degree = {}
    for d in degrees:
        test = X["tensor_parallel"].to_numpy() == d
        if len(set(degrees) - {d}) < 2:  # a law needs two degrees to see what the degree changes
            continue
        law = fit_law(X[~test], y_e[~test], y_t[~test], idle_w)
        pred_e[test], pred_t[test] = predict_law(law, X[test])
        ape = np.abs(pred_e[test] / y_e[test] - 1)
        tape = np.abs(pred_t[test] / y_t[test] - 1)
        per_degree[str(d)] = DegreeScore.model_validate(
            {"from": [g for g in degrees if g != d], "median_ape": float(np.median(ape)),
             "p90_ape": float(np.quantile(ape, 0.9)), "time_median_ape": float(np.median(tape)),
             "time_p90_ape": float(np.quantile(tape, 0.9)), "n": int(test.sum())})
    ok = np.isfinite(pred_e) & (pred_e > 0) & (pred_t > 0) & ~np.isin(X["tensor_parallel"].to_numpy(), skip)
    if ok.sum() < 6:
        return DegreeHoldOut(degrees, per_degree, None)
    ape, tape = np.abs(pred_e[ok] / y_e[ok] - 1), np.abs(pred_t[ok] / y_t[ok] - 1)
    pooled = HeldOutScore(scheme="leave-one-tp-degree-out", median_ape=float(np.median(ape)),
                          p90_ape=float(np.quantile(ape, 0.9)), time_median_ape=float(np.median(tape)),
                          time_p90_ape=float(np.quantile(tape, 0.9)),
                          log_bounds=conformal_bounds(np.log(y_e[ok] / pred_e[ok])),
                          coverage_90=interval_coverage(y_e[ok], pred_e[ok], X["tensor_parallel"].to_numpy()[ok]),
                          n=int(ok.sum()))
    return DegreeHoldOut(degrees, per_degree, pooled)

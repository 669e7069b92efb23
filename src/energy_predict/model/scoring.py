"""Held-out scores of a fit: in-domain cross-validation, and each transfer's error (across models, GPUs, degrees).

Each score is computed on cells the estimator never saw (model/validation.py) and returned as the card stores it
(`energy_predict.contracts`): the intervals a transferred or extrapolated answer carries come from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from energy_predict.contracts.card import GpuTransfer, IdleReadings, ModelTransfer, TpLaw
from energy_predict.contracts.keys import FitKey
from energy_predict.contracts.scores import ExtrapolationScore, HeldOutScore, LomoScore
from energy_predict.model.features import fit_keys
from energy_predict.model.learners import ESTIMATORS, make_estimator
from energy_predict.model.measured_error import thin_pool_bounds
from energy_predict.model.structured import PhaseModel
from energy_predict.model.validation import SCHEMES, conformal_bounds, interval_coverage, out_of_fold, score

SELECTION_SCHEMES = ("leave-one-input-bin-out", "leave-one-batch-size-out")
# the interval pools every within-domain hold-out, the worst (output bins) included, not only the selection's
INTERVAL_SCHEMES = ("leave-one-input-bin-out", "leave-one-output-bin-out", "leave-one-batch-size-out")
RANGE_COLUMNS = ("batch_size", "input_tokens", "output_tokens")


def accuracy_table(table: pd.DataFrame, estimators=ESTIMATORS, on_row=None) -> pd.DataFrame:
    """Held-out scores: backend x estimator x scheme -> median, p90 APE and interval coverage."""
    rows = []
    for backend, data in table.groupby("backend"):
        data = data.reset_index(drop=True)
        for name in estimators:
            for scheme in SCHEMES:
                s = score(make_estimator(name), data, scheme)
                nan = float("nan")  # no held-out cell predicted under this scheme
                rows.append({"backend": backend, "estimator": name, "scheme": scheme,
                             "median_ape": s.median_ape if s else nan, "p90_ape": s.p90_ape if s else nan,
                             "coverage_90": s.coverage_90 if s else None, "n": s.n if s else 0})
                if on_row:
                    on_row(rows[-1])
    return pd.DataFrame(rows)


def choose_estimator(scores: pd.DataFrame) -> str:
    """Lowest mean held-out median APE over the selection schemes and both backends (never training error)."""
    sel = scores[scores["scheme"].isin(SELECTION_SCHEMES)]
    return sel.groupby("estimator")["median_ape"].mean().idxmin()


def _keyed(key: FitKey) -> dict:
    """A fit key as the card stores it beside a score."""
    return {"gpu": key.gpu, "serving": key.serving_json()}


def _sort_key(key: FitKey) -> str:
    """How cards order fit keys: by the text of (GPU, *serving key), as they always were."""
    return str(key.flat)


def lomo_scores(y: np.ndarray, pred: np.ndarray, models: np.ndarray) -> LomoScore | None:
    """Leave-one-model-out scores of held-out predictions (None where fewer than 6 cells were predicted)."""
    ok = np.isfinite(pred) & (pred > 0)
    if ok.sum() < 6:
        return None
    ape = np.abs(pred[ok] / y[ok] - 1)
    return LomoScore(log_bounds=conformal_bounds(np.log(y[ok] / pred[ok])), median_ape=float(np.median(ape)),
                     p90_ape=float(np.quantile(ape, 0.9)),
                     coverage_90=interval_coverage(y[ok], pred[ok], models[ok]), n=int(ok.sum()),
                     models=sorted(set(models[ok])),
                     per_model_median_ape={m: float(np.median(ape[models[ok] == m])) for m in sorted(set(models[ok]))})


def model_transfer(table: pd.DataFrame) -> dict[str, ModelTransfer]:
    """Per framework and family (dense, or mixtures of experts as `<framework>-moe`): predicting an unmeasured model.

    Leave-one-model-out: each measured model is predicted from the others (its family's coefficients of each fit
    key). Scored over every fit key where another model of the family was measured (`log_bounds` etc.), over the
    fit keys where at least two others were (`wide`), and per fit key (`by_key`): an unmeasured model gets its fit
    key's score, and is refused where there is none or it is too large (model/resolve.py). A fit key's pool too thin
    to cover itself (fewer than 3 models, or cross-model coverage under 50%) also stores the wider interval it
    carries and its rule (`interval_log_bounds`, `interval_rule`: model/measured_error.py `thin_pool_bounds`).
    """
    out = {}
    for backend, data in table.groupby("backend"):
        data = data.reset_index(drop=True)
        if data["model"].nunique() < 2:
            continue
        pred = out_of_fold(PhaseModel(), data, SCHEMES["leave-one-model-out"])
        moe = (data["num_experts"] > 0).to_numpy()
        fitted = fit_keys(data)
        keys = fitted.map(_sort_key).to_numpy()
        y, models = data["energy_j"].to_numpy(), data["model"].to_numpy()
        for family, in_family in (("dense", ~moe), ("moe", moe)):
            others = pd.Series(data["model"].where(in_family)).groupby(keys).transform("nunique").to_numpy() - 1
            base = lomo_scores(y[in_family], pred[in_family], models[in_family])
            if base is None:
                continue
            wide = in_family & (others >= 2)
            name = backend if family == "dense" else f"{backend}-moe"
            by_key = []
            for key in sorted(set(keys[in_family])):
                at = in_family & (keys == key)
                scored = lomo_scores(y[at], pred[at], models[at])
                if scored is not None and len(scored.models) >= 2:  # two models: each predicted from another
                    by_key.append({**_keyed(fitted[at].iloc[0]), **scored.to_json(),
                                   **_pool_interval(scored, y[at], pred[at], base.log_bounds)})
            out[name] = ModelTransfer.model_validate(
                {"scheme": "leave-one-model-out", "family": family, **base.to_json(),
                 "wide": lomo_scores(y[wide], pred[wide], models[wide]), "by_key": by_key})
    return out


def _pool_interval(scored: LomoScore, y: np.ndarray, pred: np.ndarray, family) -> dict:
    """A fit key's pool: its largest held-out log error; if too thin to cover itself, its wider interval and rule.

    The rule is model/measured_error.py `thin_pool_bounds`; `family` is the family pool's conformal bounds.
    """
    ok = np.isfinite(pred) & (pred > 0)
    worst = float(np.max(np.abs(np.log(y[ok] / pred[ok]))))
    bounds, rule = thin_pool_bounds(scored.log_bounds, worst, family, len(scored.models), scored.coverage_90)
    return {"max_abs_log_error": worst, **({"interval_log_bounds": list(bounds), "interval_rule": rule} if rule
                                           else {})}


def extrapolation(table: pd.DataFrame, held_out: dict[str, np.ndarray]) -> ExtrapolationScore:
    """The held-out error of predicting beyond the measured lengths or batches.

    Leave-one-input-bin-out, leave-one-output-bin-out and leave-one-batch-size-out, scoring only the folds that
    hold out the smallest or largest value of their configuration: those cells were predicted from the inside,
    as a request beyond the measured range is. A request outside the ranges gets this interval.
    `held_out`: each scheme's out-of-fold predictions of the table (computed once, for the in-domain interval too).
    """
    log_res, ape = [], []
    for scheme in INTERVAL_SCHEMES:
        column, pred = SCHEMES[scheme], held_out[scheme]
        lo = table.groupby("config")[column].transform("min")
        hi = table.groupby("config")[column].transform("max")
        edge = ((table[column] == lo) | (table[column] == hi)).to_numpy() & np.isfinite(pred) & (pred > 0)
        y = table["energy_j"].to_numpy()[edge]
        log_res.append(np.log(y / pred[edge]))
        ape.append(np.abs(pred[edge] / y - 1))
    r, a = np.concatenate(log_res), np.concatenate(ape)
    return ExtrapolationScore(schemes="edge folds of leave-one-{input-bin,output-bin,batch-size}-out",
                              log_bounds=conformal_bounds(r), median_ape=float(np.median(a)),
                              p90_ape=float(np.quantile(a, 0.9)), n=int(len(a)))


def _transfer_scores(y: np.ndarray, pred: np.ndarray, yt: np.ndarray, pt: np.ndarray) -> HeldOutScore:
    """Energy and time errors of transferred predictions: median and p90 APE, median signed error, n."""
    ape, err, tape = np.abs(pred / y - 1), pred / y - 1, np.abs(pt / yt - 1)
    return HeldOutScore(median_ape=float(np.median(ape)), p90_ape=float(np.quantile(ape, 0.9)),
                        median_error=float(np.median(err)), time_median_ape=float(np.median(tape)),
                        time_p90_ape=float(np.quantile(tape, 0.9)), time_median_error=float(np.median(pt / yt - 1)),
                        n=int(len(ape)))


@dataclass(frozen=True)
class GpuPair:
    """One (configuration, model) measured on two GPUs: the source's cells fit, the destination's are predicted.

    `inside`: each destination cell within the source's measured batch, input and output ranges.
    """

    key: FitKey  # the destination's
    model: str
    source_gpu: str
    gpu: str
    source: pd.DataFrame
    cells: pd.DataFrame
    inside: np.ndarray


def gpu_pairs(table: pd.DataFrame) -> Iterator[GpuPair]:
    """One pair per ordered pair of GPUs that measured a (configuration, model), the source with enough cells."""
    keys = fit_keys(table)
    table = table.assign(_key=keys.map(lambda k: str(k.serving)))
    for (_key, model), group in table.groupby(["_key", "model"]):
        kinds = sorted(group["gpu"].unique())
        for src in kinds:
            for dst in kinds:
                train, test = group[group["gpu"] == src], group[group["gpu"] == dst]
                if src == dst or len(train) < PhaseModel().min_cells or not len(test):
                    continue
                inside = np.ones(len(test), bool)
                for c in RANGE_COLUMNS:
                    inside &= test[c].between(train[c].min(), train[c].max()).to_numpy()
                yield GpuPair(keys[test.index[0]], model, src, dst, train, test, inside)


def gpu_transfer(table: pd.DataFrame) -> GpuTransfer | None:
    """Leave-one-GPU-out: each GPU's cells predicted from another GPU's coefficients (model/transfer.py).

    Only (configuration, model) pairs measured on two GPUs are scored, and only the destination cells inside the
    source GPU's measured batch, input and output ranges of that pair: beyond them the error is shape
    extrapolation, scored apart (`extrapolation`), and a transferred answer beyond the ranges adds that interval
    (model/resolve.py). The cells outside are reported (`outside_ranges`), unused. Both directions are pooled for
    the interval (`log_bounds`) and reported apart (`directions`, keyed `src -> dst`) and per configuration and model
    (`by_key`). `coverage_90`: the share of each direction's cells inside the interval built from the other
    direction's residuals alone (the pooled interval covers its own cells by construction). The result is the
    interval a transferred GPU's answer carries, and the GPUs it was shown between (the only ones it may reach).
    """
    from energy_predict.gpus import resolve_gpu
    from energy_predict.model.transfer import transfer_coefficients

    inside, outside, by_key, gpus = [], [], [], set()
    for pair in gpu_pairs(table):
        src, dst, train, test, within = pair.source_gpu, pair.gpu, pair.source, pair.cells, pair.inside
        gpus |= {src, dst}
        pred = {}
        for target in ("energy_j", "duration_s"):
            fitted = PhaseModel(target=target).fit(train, train[target]).fitted()
            pred[target] = transfer_coefficients(fitted, resolve_gpu(src), resolve_gpu(dst)).predict(test)
        direction = f"{src} -> {dst}"
        for mask, rows in ((within, inside), (~within, outside)):
            if mask.any():
                rows.append((direction, test["energy_j"].to_numpy()[mask], pred["energy_j"][mask],
                             test["duration_s"].to_numpy()[mask], pred["duration_s"][mask]))
        if within.any():
            by_key.append({"direction": direction, "source_gpu": src, **_keyed(pair.key.on(dst)),
                           "model": pair.model, **_transfer_scores(*inside[-1][1:]).to_json(),
                           "source_ranges": {c: [int(train[c].min()), int(train[c].max())]
                                             for c in RANGE_COLUMNS}, "outside_ranges": int((~within).sum())})
    if not inside:
        return None

    def pooled(rows):
        return [np.concatenate(v) for v in list(zip(*rows))[1:]]

    y, pred, yt, pt = pooled(inside)
    dirs = np.concatenate([[row[0]] * len(row[1]) for row in inside])
    log_r = np.log(y / pred)
    directions = {}
    for d in sorted(set(dirs)):
        at = dirs == d
        directions[d] = {**_transfer_scores(y[at], pred[at], yt[at], pt[at]).to_json(),
                         "log_bounds": list(conformal_bounds(log_r[at]))}
    out = {"scheme": "leave-one-gpu-out", "gpus": sorted(gpus), "log_bounds": list(conformal_bounds(log_r)),
           **_transfer_scores(y, pred, yt, pt).to_json(), "coverage_90": interval_coverage(y, pred, dirs),
           "directions": directions, "by_key": by_key,
           "cells": "destination cells inside the source GPU's measured batch, input and output ranges of the "
                    "(configuration, model)",
           "method": "model/transfer.py: coefficients of the measured GPU, byte terms x bandwidth ratio"}
    if outside:
        out["outside_ranges"] = _transfer_scores(*pooled(outside))
    return GpuTransfer.model_validate(out)


def tp_laws(table: pd.DataFrame, idle: dict[str, IdleReadings]) -> list[TpLaw]:
    """The tensor-parallel law of each family with two or more measured degrees, and its held-out error.

    A family is a GPU kind and a serving configuration whatever its degree; the law is fitted on every dense cell.

    The law answers only for degrees above 1 that were not measured, so its error is scored on the degrees above
    1 held out (each from the others, TP1 always among them); the TP1 fold is reported beside it, unused.
    """
    from energy_predict.model.tp import fit_law, leave_one_degree_out

    dense = table[table["num_experts"] == 0].reset_index(drop=True)
    families = fit_keys(dense).map(lambda k: k.tp_family())
    out = []
    for family in dict.fromkeys(families):
        cells = dense[(families == family).to_numpy()].reset_index(drop=True)
        degrees = sorted(int(d) for d in cells["tensor_parallel"].unique())
        if len(degrees) < 2 or 1 not in degrees:
            continue
        readings = idle.get(family.gpu)
        idle_w = (readings.loaded(cells["backend"].iloc[0]) if readings else None) or 0.0
        law = fit_law(cells, cells["energy_j"], cells["duration_s"], idle_w)
        loto = leave_one_degree_out(cells, cells["energy_j"], cells["duration_s"], idle_w, skip=(1,)).to_json()
        out.append(TpLaw.model_validate({
            **_keyed(family), "degrees": degrees, "models": sorted(cells["model"].unique()),
            "terms": law.terms, "idle_w": law.idle_w, "theta_time": law.theta_time, "theta_energy": law.theta_energy,
            "method": "model/tp.py: shared work once, per-GPU share of FLOPs and bytes in time, all-reduce ops "
                      "and bytes, every GPU's loaded idle over the time",
            **{k: v for k, v in loto.items() if k != "degrees"}}))
    return out

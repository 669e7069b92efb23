"""Honest error: grouped cross-validation that holds out whole bins, batch sizes or models.

Every score is computed on cells the estimator never saw. Intervals are split-conformal on those
held-out errors, and their coverage is itself measured out of fold (a fold's interval comes from the
other folds' residuals).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from energy_predict.contracts.scores import HeldOutScore

SCHEMES = {
    "leave-one-input-bin-out": "input_tokens",
    "leave-one-output-bin-out": "output_tokens",
    "leave-one-batch-size-out": "batch_size",
    "leave-one-model-out": "model",
}
ALPHA = 0.10  # 90% intervals


def out_of_fold(estimator, table: pd.DataFrame, group_column: str, target: str = "energy_j") -> np.ndarray:
    """Predictions for every cell from a fit on the cells of the other groups (NaN where none can be made).

    A fold's cells are predicted one serving configuration at a time, so that a configuration left without
    training cells (the phase model then has no coefficients for it) costs only its own cells, not the fold.
    """
    pred = np.full(len(table), np.nan)
    groups = table[group_column].to_numpy()
    configs = table["config"].to_numpy() if "config" in table else np.zeros(len(table))
    for g in np.unique(groups):
        test = groups == g
        train = table[~test]
        if len(train) < 8:
            continue
        try:
            model = clone(estimator).fit(train, train[target].to_numpy())
        except ValueError:
            continue
        for c in np.unique(configs[test]):
            rows = test & (configs == c)
            try:
                pred[rows] = model.predict(table[rows])
            except KeyError:  # no fitted coefficients for this configuration
                continue
    return pred


def conformal_bounds(log_residuals: np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """Lower and upper multiplicative bounds from log(measured / predicted) residuals (split conformal)."""
    r = np.sort(log_residuals[np.isfinite(log_residuals)])
    if len(r) < 4:
        return 0.0, 0.0
    n = len(r)
    lo = r[max(int(np.floor((alpha / 2) * (n + 1))) - 1, 0)]
    hi = r[min(int(np.ceil((1 - alpha / 2) * (n + 1))) - 1, n - 1)]
    return float(lo), float(hi)


def interval_coverage(y: np.ndarray, pred: np.ndarray, groups: np.ndarray, alpha: float = ALPHA,
                      cover_p90: bool = False) -> float | None:
    """Share of cells inside an interval built only from the other groups' held-out residuals.

    `cover_p90`: that interval widened to the band of the other groups' p90 error, as an answer's is
    (`measured_error.cover_measured_error`, applied in model/resolve.py).
    """
    from energy_predict.model.measured_error import cover_measured_error

    log_r = np.log(y / pred)
    inside = []
    for g in np.unique(groups):
        fold = (groups == g) & np.isfinite(log_r)
        rest = (groups != g) & np.isfinite(log_r)
        if not fold.any() or rest.sum() < 4:
            continue
        lo, hi = conformal_bounds(log_r[rest], alpha)
        if cover_p90:
            (lo, hi), _ = cover_measured_error((lo, hi), float(np.quantile(np.abs(pred[rest] / y[rest] - 1), 0.9)))
        inside.extend(((log_r[fold] >= lo) & (log_r[fold] <= hi)).tolist())
    return float(np.mean(inside)) if inside else None


def score(estimator, table: pd.DataFrame, scheme: str, target: str = "energy_j") -> HeldOutScore | None:
    """Held-out median and p90 absolute percentage error, and 90% interval coverage, under a scheme.

    None where no held-out cell could be predicted (a score needs finite errors).
    """
    column = SCHEMES[scheme]
    pred = out_of_fold(estimator, table, column, target)
    y = table[target].to_numpy(float)
    ok = np.isfinite(pred) & (pred > 0)
    if not ok.any():
        return None
    ape = np.abs(pred[ok] / y[ok] - 1)
    coverage = interval_coverage(y[ok], pred[ok], table[column].to_numpy()[ok])
    return HeldOutScore(scheme=scheme, median_ape=float(np.median(ape)), p90_ape=float(np.quantile(ape, 0.9)),
                        coverage_90=coverage, n=int(ok.sum()))

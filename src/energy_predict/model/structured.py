"""The structured model: batch energy as prefill plus a sum of decode steps, from physical terms.

    E_prefill(B, I)   = a0 + a1 x layers + a2 x B x linear FLOPs(I) + a3 x B x attention FLOPs(I)
    E_step(B, c)      = b0 + b1 x layers + b2 x weight_bytes + b3 x B + b4 x B x linear FLOPs_step
                        + b5 x B x c x kv_bytes
    E_batch(B, I, O)  = E_prefill + sum over the O - 1 decode steps (contexts I+1 ... I+O-1), in closed form

The coefficients are non-negative (each term is a cost) and each rate term at least its roofline floor (no work done
faster than the datasheet peak, model/term_physics.py: without the floors a per-step constant took the weight reads
and 23 terms ran above the peak), fitted by least squares on relative error (so small
and large cells weigh alike) per serving configuration (backend, CUDA graphs, compile, quantization) and
model; a model with fewer than `min_cells_per_model` cells (10 coefficients need more than a handful) gets its
configuration's coefficients, fitted across models. That threshold (12) was chosen among 4-40 by the grouped
cross-validation in benchmarks/accuracy.py, so those scores are slightly optimistic for it.
Lengths between and beyond the measured ones are predicted from the phases, not from a curve through cells.

One model's cells cannot tell its per-step constants from its weight reads: a dense model reads the same weight
bytes every step whatever the batch, so `steps`, `step_layers` and `step_weight_bytes` are proportional over all of
its cells (and `step_sequences` and `decode_linear_flops`, `batch` and `prefill_layers` likewise); only their sums
are measured. Left alone, the non-negative fit put the weight bytes at their floor (the datasheet peak) and the
constants took the rest, so a faster memory sped nothing up (issue 25). A configuration fitted across models of
different sizes does separate them, and a launch or host constant is the engine's (framework, graphs, GPU), not the
model's. So a model's own set is fitted with each constant term at most its parent's (the configuration's set, or
its mixtures-of-experts set) and, among the equally good fits its cells allow, the one whose constants are closest
to the parent's (`PRIOR_WEIGHT`): the model's weight reads go to the weight-byte term, an achieved bandwidth below
the peak. The duration fit (the card's physics reading, model/term_physics.py) is bounded; the energy fit is not by
default (`BOUNDED`). Its own cells are predicted as before wherever the bound does not bind (the sums are
unchanged); what changes is what scales with bandwidth, precision and FLOP rate in a transfer. A configuration
measured on one model only has nothing to bound it with (no empty-step reading is recorded); the card flags such
terms as pinned at their floor, with that reason (model/term_physics.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_array, check_consistent_length, check_is_fitted, column_or_1d

from energy_predict.contracts.keys import FitKey
from energy_predict.model.features import config_keys, deployment_keys, factorize
from energy_predict.model.phases import ALLREDUCE_TERMS, MOE, PREFILL_TERMS, TERMS, PhaseCoefficients, phase_terms
from energy_predict.model.term_physics import CONSTANT_TERMS, term_floors

# what a fit's coefficients are floored for: the batch's energy (J), its time (s), or nothing (no floors: the fit
# before the roofline floors, kept for comparisons)
# (a power ceiling per term, the GPU's limit x its floored time, was tried: vLLM's in-domain median went from 3.0-3.2%
# to 3.3-4.5%, so the energy terms are floored only)
TARGETS = ("energy_j", "duration_s", "free")
# weight of the pull of a model's constants towards its parent's, against relative residuals of order 1: it only
# chooses among fits its cells cannot tell apart (a stronger pull would trade accuracy for it)
PRIOR_WEIGHT = 1e-3
CONSTANT = np.array([t in CONSTANT_TERMS for t in TERMS])
# which fits bound a model's constants by its parent's: the duration fit only (default), every fit, or none (the
# fit before the bound, for comparisons). Bounding the energy fit too moved the leave-one-GPU-out replays from a
# 2.8% to a 7.6% median (benchmarks/gpu_transfer.py), so the energy sets keep their own split.
BOUNDED = ("duration_s", "all", "none")

__all__ = ["PREFILL_TERMS", "TERMS", "PhaseModel", "phase_terms", "positive_targets"]


def positive_targets(X, y) -> np.ndarray:
    """`y` as float energies, one per row of `X`, finite and positive (the fits divide by them or take their log).

    Raises:
        ValueError: missing, NaN or infinite, not one per row, or not positive (scikit-learn's wording where it
            has one).
    """
    if y is None:
        raise ValueError("fitting requires y to be passed, but the target y is None")
    y = column_or_1d(check_array(y, ensure_2d=False, dtype=float, input_name="y"), warn=True)
    check_consistent_length(X, y)
    if np.any(y <= 0):
        raise ValueError("targets must be positive")
    return y


def bounded_fit(A: np.ndarray, floor: np.ndarray, parent: np.ndarray, constant: np.ndarray) -> np.ndarray:
    """Least squares of `A c = 1` with `c >= floor`, each constant term at most the parent's and pulled towards it.

    `A`: cells x terms, relative (each row divided by its target); `parent`: the parent set's coefficients in the
    same scaled units; `constant`: which columns are constant terms. A constant the parent fitted at 0 is held at 0.
    """
    from scipy.optimize import lsq_linear

    upper = np.where(constant, parent, np.inf)
    free = ~constant | (parent > floor)  # a constant whose bound is its floor (0) is held there
    coef = floor.copy()
    pulled = np.flatnonzero(constant[free])
    prior = np.zeros((len(pulled), int(free.sum())))
    prior[np.arange(len(pulled)), pulled] = PRIOR_WEIGHT / parent[free][pulled]
    lhs = np.vstack([A[:, free], prior])
    rhs = np.concatenate([np.ones(len(A)) - A[:, ~free] @ floor[~free], np.full(len(pulled), PRIOR_WEIGHT)])
    coef[free] = lsq_linear(lhs, rhs, bounds=(floor[free], upper[free]), method="bvls").x
    return coef


class PhaseModel(RegressorMixin, BaseEstimator):
    """Non-negative phase model per serving configuration (scikit-learn API); predicts through its coefficients."""

    kind = "measured"

    def __init__(self, min_cells: int = 6, min_cells_per_model: int = 12, target: str = "energy_j",
                 bound_constants: str = "duration_s"):
        self.min_cells = min_cells
        self.min_cells_per_model = min_cells_per_model
        self.target = target
        self.bound_constants = bound_constants

    def fit(self, X: pd.DataFrame, y):
        from scipy.optimize import nnls

        y = positive_targets(X, y)
        terms = phase_terms(X)
        self.scale_ = terms.abs().max().replace(0, 1.0)  # conditioning: terms span 20 orders of magnitude
        # a configuration fitted on its own cells is one tensor-parallel degree: its all-reduces are constants of
        # that degree, collinear with the per-layer terms; only the law across degrees (model/tp.py) fits them
        fitted = np.array([t not in ALLREDUCE_TERMS for t in TERMS])
        self.coef_ = {}
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}")
        if self.bound_constants not in BOUNDED:
            raise ValueError(f"bound_constants must be one of {BOUNDED}")

        scale = self.scale_.to_numpy()

        def fit_rows(key, mask: np.ndarray, parent: np.ndarray | None = None) -> None:
            config = key[0] if isinstance(key[0], tuple) else key
            A = (terms[mask] / self.scale_).to_numpy()[:, fitted] / y[mask, None]
            # c = floor + c', c' >= 0: every rate term at least its roofline floor (model/term_physics.py)
            floor = (np.zeros(len(TERMS)) if self.target == "free"
                     else term_floors(FitKey.from_flat(config), self.target)) * scale
            coef = floor.copy()
            if parent is None:
                coef[fitted] += nnls(A, np.ones(mask.sum()) - A @ floor[fitted])[0]
            else:
                coef[fitted] = bounded_fit(A, floor[fitted], parent[fitted] * scale[fitted], CONSTANT[fitted])
            self.coef_[key] = coef / scale

        moe = (X["num_experts"] > 0).to_numpy()
        codes, uniques = factorize(config_keys(X))
        for n, key in enumerate(uniques):  # its dense models' where it has enough, else all its cells'
            rows, dense = codes == n, (codes == n) & ~moe
            if rows.sum() >= self.min_cells:
                fit_rows(key, dense if dense.sum() >= self.min_cells else rows)
        for n in dict.fromkeys(codes[moe].tolist()):  # its mixtures of experts share their own
            if ((codes == n) & moe).sum() >= self.min_cells:
                fit_rows((uniques[n], MOE), (codes == n) & moe)
        codes, uniques = factorize(deployment_keys(X))
        for n, key in enumerate(uniques):
            if (codes == n).sum() >= self.min_cells_per_model:
                config, is_moe = key[0], bool(moe[codes == n][0])
                parent = self.coef_.get((config, MOE), self.coef_.get(config)) if is_moe else self.coef_.get(config)
                fit_rows(key, codes == n, parent if self.bound_constants in (self.target, "all") else None)
        if not self.coef_:
            raise ValueError(f"no serving configuration has {self.min_cells} cells")
        self.n_features_in_ = X.shape[1]
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True  # energies: the fit weighs each cell by 1 / y
        return tags

    def fitted(self) -> PhaseCoefficients:
        """The fitted coefficients as the light object prediction uses (NotFittedError before `fit`)."""
        check_is_fitted(self, "coef_")
        return PhaseCoefficients(self.coef_, self.scale_.to_numpy(), self.min_cells, self.min_cells_per_model)

    def coefficients(self, config: tuple, model: str, moe: bool = False) -> np.ndarray:
        return self.fitted().coefficients(config, model, moe)

    def predict_phases(self, X: pd.DataFrame) -> pd.DataFrame:
        """prefill_j and decode_j of each cell's whole batch."""
        return self.fitted().predict_phases(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.fitted().predict(X)

    def to_dict(self) -> dict:
        return self.fitted().to_dict()

    @staticmethod
    def from_dict(data: dict) -> PhaseCoefficients:
        return PhaseCoefficients.from_dict(data)

"""The structured model: batch energy as prefill plus a sum of decode steps, from physical terms.

    E_prefill(B, I)   = a0 + a1 x layers + a2 x B x linear FLOPs(I) + a3 x B x attention FLOPs(I)
    E_step(B, c)      = b0 + b1 x layers + b2 x weight_bytes + b3 x B + b4 x B x linear FLOPs_step
                        + b5 x B x c x kv_bytes
    E_batch(B, I, O)  = E_prefill + sum over the O - 1 decode steps (contexts I+1 ... I+O-1), in closed form

The coefficients are non-negative (each term is a cost), fitted by least squares on relative error (so small
and large cells weigh alike) per serving configuration (backend, CUDA graphs, compile, quantization) and
model; a model with fewer than `min_cells_per_model` cells (10 coefficients need more than a handful) gets its
configuration's coefficients, fitted across models. That threshold (12) was chosen among 4-40 by the grouped
cross-validation in benchmarks/accuracy.py, so those scores are slightly optimistic for it.
Lengths between and beyond the measured ones are predicted from the phases, not from a curve through cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import nnls
from sklearn.base import BaseEstimator, RegressorMixin

from energy_predict import flops
from energy_predict.model.features import SERVING_COLUMNS, deployments

PREFILL_TERMS = ["batch", "prefill_layers", "prefill_linear_flops", "prefill_attention_flops"]
DECODE_TERMS = ["steps", "step_layers", "step_weight_bytes", "step_sequences", "decode_linear_flops",
                "decode_kv_bytes"]
TERMS = PREFILL_TERMS + DECODE_TERMS


def phase_terms(X: pd.DataFrame) -> pd.DataFrame:
    """The physical terms of each cell (whole batch), in the order of TERMS."""
    out = pd.DataFrame(0.0, index=X.index, columns=TERMS)
    for arch, _gpu, idx in deployments(X):
        sub = X.iloc[idx]
        b = sub["batch_size"].to_numpy(float)
        i = sub["input_tokens"].to_numpy(float)
        o = sub["output_tokens"].to_numpy(float)
        bpp = np.where(sub["quantization"].to_numpy() == "fp8", 1.0, 2.0)
        steps, context_sum = flops.decode_contexts(i, o)
        rows = X.index[idx]
        linear_per_token = 2.0 * flops.matmul_params_per_token(arch) + flops.lm_head_flops(arch)
        prefill = flops.prefill_flops(arch, i)
        prefill_attention = flops.attention_flops(arch, i * (i + 1) / 2)
        out.loc[rows, "batch"] = 1.0
        out.loc[rows, "prefill_layers"] = arch.num_layers
        out.loc[rows, "prefill_linear_flops"] = b * (prefill - prefill_attention)
        out.loc[rows, "prefill_attention_flops"] = b * prefill_attention
        out.loc[rows, "steps"] = steps
        out.loc[rows, "step_layers"] = steps * arch.num_layers
        out.loc[rows, "step_weight_bytes"] = steps * flops.weight_bytes(arch, 1.0, b) * bpp
        out.loc[rows, "step_sequences"] = steps * b
        out.loc[rows, "decode_linear_flops"] = b * steps * linear_per_token
        out.loc[rows, "decode_kv_bytes"] = b * context_sum * arch.kv_bytes_per_token()
    return out


def config_keys(X: pd.DataFrame) -> pd.Series:
    """'backend|cuda_graphs|compile|quantization' per row (column-wise: prediction runs on many rows)."""
    keys = X[SERVING_COLUMNS[0]].astype(str)
    for col in SERVING_COLUMNS[1:]:
        keys = keys + "|" + X[col].astype(str)
    return keys


def deployment_keys(X: pd.DataFrame) -> pd.Series:
    """Config key plus model name per row."""
    return config_keys(X) + "|" + X["model"].astype(str)


class PhaseModel(RegressorMixin, BaseEstimator):
    """Non-negative phase model per serving configuration (scikit-learn API)."""

    kind = "measured"

    def __init__(self, min_cells: int = 6, min_cells_per_model: int = 12):
        self.min_cells = min_cells
        self.min_cells_per_model = min_cells_per_model

    def fit(self, X: pd.DataFrame, y):
        y = np.asarray(y, dtype=float)
        if np.any(y <= 0):
            raise ValueError("targets must be positive")
        terms = phase_terms(X)
        self.scale_ = terms.abs().max().replace(0, 1.0)  # conditioning: terms span 20 orders of magnitude
        self.coef_ = {}
        for keys, least in ((config_keys(X), self.min_cells), (deployment_keys(X), self.min_cells_per_model)):
            for key in keys.unique():
                mask = (keys == key).to_numpy()
                if mask.sum() < least:
                    continue
                A = (terms[mask] / self.scale_).to_numpy() / y[mask, None]
                coef, _ = nnls(A, np.ones(mask.sum()))
                self.coef_[key] = coef / self.scale_.to_numpy()
        if not self.coef_:
            raise ValueError(f"no serving configuration has {self.min_cells} cells")
        self.n_features_in_ = X.shape[1]
        return self

    def _coef_rows(self, X: pd.DataFrame) -> np.ndarray:
        configs, deps = config_keys(X), deployment_keys(X)
        missing = sorted(set(configs) - set(self.coef_))
        if missing:
            raise KeyError(f"no fitted coefficients for serving configuration(s) {missing}")
        codes, uniques = pd.factorize(configs + "\n" + deps)
        table = np.stack([self.coef_.get(u.split("\n")[1], self.coef_[u.split("\n")[0]]) for u in uniques])
        return table[codes]

    def predict_phases(self, X: pd.DataFrame) -> pd.DataFrame:
        """prefill_j and decode_j of each cell's whole batch."""
        terms = phase_terms(X).to_numpy()
        coef = self._coef_rows(X)
        p = len(PREFILL_TERMS)
        return pd.DataFrame({"prefill_j": (terms[:, :p] * coef[:, :p]).sum(1),
                             "decode_j": (terms[:, p:] * coef[:, p:]).sum(1)}, index=X.index)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        phases = self.predict_phases(X)
        return (phases["prefill_j"] + phases["decode_j"]).to_numpy()

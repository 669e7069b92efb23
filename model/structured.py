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
from energy_predict.model.features import config_keys, deployment_keys, deployments, factorize
from energy_predict.serving import KEY_FIELDS, key_from_dict

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
            codes, uniques = factorize(keys)
            for n, key in enumerate(uniques):
                mask = codes == n
                if mask.sum() < least:
                    continue
                A = (terms[mask] / self.scale_).to_numpy() / y[mask, None]
                coef, _ = nnls(A, np.ones(mask.sum()))
                self.coef_[key] = coef / self.scale_.to_numpy()
        if not self.coef_:
            raise ValueError(f"no serving configuration has {self.min_cells} cells")
        self.n_features_in_ = X.shape[1]
        return self

    def coefficients(self, config: tuple, model: str) -> np.ndarray:
        """The coefficients a (configuration, model) is predicted with: its own, else its configuration's."""
        if config not in self.coef_:
            raise KeyError(f"no fitted coefficients for serving configuration {config}")
        return self.coef_.get((config, model), self.coef_[config])

    def _coef_rows(self, X: pd.DataFrame) -> np.ndarray:
        deps = deployment_keys(X)
        codes, uniques = factorize(deps)
        table = np.stack([self.coefficients(config, model) for config, model in uniques])
        return table[codes]

    def to_dict(self) -> dict:
        """Parameters and coefficients as plain JSON (no pickle): configuration keys as objects of their fields."""
        rows = []
        for key, coef in self.coef_.items():
            config, model = key if isinstance(key[0], tuple) else (key, None)
            rows.append({"serving": dict(zip(KEY_FIELDS, config)), "model": model, "coef": [float(c) for c in coef]})
        return {"estimator": "phase", "terms": TERMS, "min_cells": self.min_cells,
                "min_cells_per_model": self.min_cells_per_model,
                "scale": [float(x) for x in self.scale_.to_numpy()], "coefficients": rows}

    @classmethod
    def from_dict(cls, data: dict) -> PhaseModel:
        """Rebuild a fitted model from `to_dict` output; ValueError where it does not describe one."""
        if data.get("estimator") != "phase" or data.get("terms") != TERMS:
            raise ValueError("not a phase model with the current terms")
        model = cls(int(data["min_cells"]), int(data["min_cells_per_model"]))
        model.scale_ = pd.Series(np.asarray(data["scale"], float), index=TERMS)
        model.coef_ = {}
        for row in data["coefficients"]:
            coef = np.asarray(row["coef"], float)
            if coef.shape != (len(TERMS),) or not np.all(np.isfinite(coef)) or np.any(coef < 0):
                raise ValueError("coefficients must be finite, non-negative, one per term")
            config = key_from_dict(row["serving"])
            model.coef_[config if row["model"] is None else (config, row["model"])] = coef
        model.n_features_in_ = len(TERMS)
        return model

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

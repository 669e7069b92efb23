"""The phase law's terms and a fitted set of its coefficients, for prediction: numpy and pandas only.

Fitting lives in `model/structured.py` (scikit-learn API, scipy's NNLS); what predicts from stored coefficients
needs neither, so the prediction path does not import them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_predict import flops
from energy_predict.architectures import Architecture
from energy_predict.model.features import cached_tokens, deployment_keys, deployments, factorize, precision_column
from energy_predict.serving import KEY_FIELDS, key_from_dict

PREFILL_TERMS = ["batch", "prefill_layers", "prefill_linear_flops", "prefill_attention_flops",
                 "prefill_allreduce_ops", "prefill_allreduce_bytes"]
DECODE_TERMS = ["steps", "step_layers", "step_weight_bytes", "step_sequences", "decode_linear_flops",
                "decode_kv_bytes", "decode_allreduce_ops", "decode_allreduce_bytes"]
TERMS = PREFILL_TERMS + DECODE_TERMS
# Tensor parallelism's all-reduces (two per layer: after attention and after the MLP, of the step's activations).
# The terms do not depend on the degree: a directly fitted configuration leaves them at zero (its constants absorb
# them), and the tensor-parallel law (model/tp.py) gives them degree-dependent coefficients.
ALLREDUCE_TERMS = ["prefill_allreduce_ops", "prefill_allreduce_bytes", "decode_allreduce_ops",
                   "decode_allreduce_bytes"]
ACTIVATION_BYTES = 2.0  # bf16 activations, also under fp8 weights


def allreduce_bytes_per_token(arch: Architecture) -> float:
    """Activation bytes one token's pass all-reduces: two all-reduces of the hidden state per layer."""
    return 2 * arch.num_layers * arch.hidden_size * ACTIVATION_BYTES


def phase_terms(X: pd.DataFrame) -> pd.DataFrame:
    """The physical terms of each cell (whole batch), in the order of TERMS."""
    out = pd.DataFrame(0.0, index=X.index, columns=TERMS)
    for arch, _gpu, idx in deployments(X):
        sub = X.iloc[idx]
        b = sub["batch_size"].to_numpy(float)
        i = sub["input_tokens"].to_numpy(float)
        o = sub["output_tokens"].to_numpy(float)
        c = cached_tokens(sub)  # prefix caching: the prompt's cached prefix is not computed, decode is unchanged
        bpp = precision_column(sub, "weight_bytes_per_param")
        kv_bytes = arch.kv_bytes_per_token(precision_column(sub, "kv_bytes_per_value"))
        steps, context_sum = flops.decode_contexts(i, o)
        rows = X.index[idx]
        linear_per_token = 2.0 * flops.matmul_params_per_token(arch) + flops.lm_head_flops(arch)
        prefill = flops.prefill_flops(arch, i, cached_tokens=c)
        prefill_attention = flops.attention_flops(arch, flops.prefill_pairs(i, c))
        out.loc[rows, "batch"] = 1.0
        out.loc[rows, "prefill_layers"] = arch.num_layers
        out.loc[rows, "prefill_linear_flops"] = b * (prefill - prefill_attention)
        out.loc[rows, "prefill_attention_flops"] = b * prefill_attention
        out.loc[rows, "steps"] = steps
        out.loc[rows, "step_layers"] = steps * arch.num_layers
        out.loc[rows, "step_weight_bytes"] = steps * flops.weight_bytes(arch, 1.0, b) * bpp
        out.loc[rows, "step_sequences"] = steps * b
        out.loc[rows, "decode_linear_flops"] = b * steps * linear_per_token
        out.loc[rows, "decode_kv_bytes"] = b * context_sum * kv_bytes
        reduced = allreduce_bytes_per_token(arch)
        out.loc[rows, "prefill_allreduce_ops"] = 2 * arch.num_layers
        out.loc[rows, "prefill_allreduce_bytes"] = b * (i - c) * reduced
        out.loc[rows, "decode_allreduce_ops"] = steps * 2 * arch.num_layers
        out.loc[rows, "decode_allreduce_bytes"] = steps * b * reduced
    return out


MOE = "<mixtures of experts>"  # the `model` of a fit key's coefficients shared by its mixtures of experts


class PhaseCoefficients:
    """Non-negative coefficients per configuration key and per (key, model); predicts batch phases.

    A fit key's own coefficients are its dense models'; its mixtures of experts share `(key, MOE)` where measured
    (fused expert kernels do not run like a dense matrix product of the same size); a model with enough cells has
    its own.
    """

    kind = "measured"

    def __init__(self, coef: dict, scale: np.ndarray, min_cells: int, min_cells_per_model: int):
        self.coef_ = coef
        self.scale_ = pd.Series(np.asarray(scale, float), index=TERMS)
        self.min_cells = min_cells
        self.min_cells_per_model = min_cells_per_model

    def coefficients(self, config: tuple, model: str, moe: bool = False) -> np.ndarray:
        """The coefficients a (fit key, model) is predicted with: its own, else its family's in the fit key."""
        if config not in self.coef_:
            raise KeyError(f"no fitted coefficients for serving configuration {config}")
        if (config, model) in self.coef_:
            return self.coef_[(config, model)]
        return self.coef_.get((config, MOE), self.coef_[config]) if moe else self.coef_[config]

    def _coef_rows(self, X: pd.DataFrame) -> np.ndarray:
        keys = pd.Series(list(zip(deployment_keys(X).tolist(), (X["num_experts"] > 0).tolist())), index=X.index,
                         dtype=object)
        codes, uniques = factorize(keys)
        table = np.stack([self.coefficients(config, model, moe) for (config, model), moe in uniques])
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

    def to_dict(self) -> dict:
        """Parameters and coefficients as plain JSON (no pickle): configuration keys as objects of their fields."""
        rows = []
        for key, coef in self.coef_.items():
            config, model = key if isinstance(key[0], tuple) else (key, None)
            rows.append({"gpu": config[0], "serving": dict(zip(KEY_FIELDS, config[1:])), "model": model,
                         "coef": [float(c) for c in coef]})
        return {"estimator": "phase", "terms": TERMS, "min_cells": self.min_cells,
                "min_cells_per_model": self.min_cells_per_model,
                "scale": [float(x) for x in np.asarray(self.scale_)], "coefficients": rows}

    @classmethod
    def from_dict(cls, data: dict) -> PhaseCoefficients:
        """Rebuild fitted coefficients from `to_dict` output; ValueError where it does not describe them."""
        if data.get("estimator") != "phase" or data.get("terms") != TERMS:
            raise ValueError("not a phase model with the current terms")
        coef = {}
        for row in data["coefficients"]:
            c = np.asarray(row["coef"], float)
            if c.shape != (len(TERMS),) or not np.all(np.isfinite(c)) or np.any(c < 0):
                raise ValueError("coefficients must be finite, non-negative, one per term")
            config = (str(row["gpu"]), *key_from_dict(row["serving"]))
            coef[config if row["model"] is None else (config, row["model"])] = c
        scale = np.asarray(data["scale"], float)
        if scale.shape != (len(TERMS),):
            raise ValueError("scale must have one value per term")
        return cls(coef, scale, int(data["min_cells"]), int(data["min_cells_per_model"]))

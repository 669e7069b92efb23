"""The phase law's terms and a fitted set of its coefficients, for prediction: numpy only.

Fitting lives in `model/structured.py` (scikit-learn API, scipy's NNLS); what predicts from stored coefficients
needs neither, so the prediction path does not import them. The frame forms (`phase_terms`, `predict_phases`) serve
fitting and scoring, which work on cell frames; one deployment's cells are predicted from arrays
(`cell_terms`, `PhaseCoefficients.predict_cells`), with the same terms, so that a prediction imports no pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from energy_predict import flops
from energy_predict.architectures import Architecture
from energy_predict.model.features import cached_tokens, deployment_keys, deployments, factorize, precision_column
from energy_predict.serving import KEY_FIELDS, Serving, key_from_dict

if TYPE_CHECKING:
    import pandas as pd

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


def deployment_terms(arch: Architecture, b: np.ndarray, i: np.ndarray, o: np.ndarray, c: np.ndarray,
                     bytes_per_param, kv_bytes_per_value) -> np.ndarray:
    """The physical terms (whole batch) of cells of one architecture, one column per term in the order of TERMS.

    `b`, `i`, `o`, `c`: batch sizes, input, output and cached prompt tokens as floats (prefix caching: the prompt's
    cached prefix is not computed, decode is unchanged); the byte figures per cell or one for all. Pure.
    """
    kv_bytes = arch.kv_bytes_per_token(kv_bytes_per_value)
    steps, context_sum = flops.decode_contexts(i, o)
    linear_per_token = 2.0 * flops.matmul_params_per_token(arch) + flops.lm_head_flops(arch)
    prefill = flops.prefill_flops(arch, i, cached_tokens=c)
    prefill_attention = flops.attention_flops(arch, flops.prefill_pairs(i, c))
    reduced = allreduce_bytes_per_token(arch)
    columns = {
        "batch": 1.0,
        "prefill_layers": arch.num_layers,
        "prefill_linear_flops": b * (prefill - prefill_attention),
        "prefill_attention_flops": b * prefill_attention,
        "steps": steps,
        "step_layers": steps * arch.num_layers,
        "step_weight_bytes": steps * flops.weight_bytes(arch, 1.0, b) * bytes_per_param,
        "step_sequences": steps * b,
        "decode_linear_flops": b * steps * linear_per_token,
        "decode_kv_bytes": b * context_sum * kv_bytes,
        "prefill_allreduce_ops": 2 * arch.num_layers,
        "prefill_allreduce_bytes": b * (i - c) * reduced,
        "decode_allreduce_ops": steps * 2 * arch.num_layers,
        "decode_allreduce_bytes": steps * b * reduced,
    }
    out = np.empty((len(b), len(TERMS)))
    for n, term in enumerate(TERMS):
        out[:, n] = columns[term]
    return out


def cell_terms(arch: Architecture, serving: Serving, batch_size, input_tokens, output_tokens, cached_tokens=0
               ) -> np.ndarray:
    """`deployment_terms` of one deployment's cells (arrays broadcast), as `phase_terms` of their cell frame."""
    b, i, o, c = (v.astype(float) for v in np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(v, np.int64)) for v in (batch_size, input_tokens, output_tokens, cached_tokens))))
    p = serving.precision
    return deployment_terms(arch, b, i, o, c, p.weight_bytes_per_param, p.kv_bytes_per_value)


def phase_terms(X: pd.DataFrame) -> pd.DataFrame:
    """The physical terms of each cell (whole batch) of a cell frame, in the order of TERMS."""
    import pandas as pd  # fitting and scoring work on frames; a prediction does not import pandas

    out = np.zeros((len(X.index), len(TERMS)))  # a frame only (X.index): arrays have no named columns
    for arch, _gpu, idx in deployments(X):
        sub = X.iloc[idx]
        out[idx] = deployment_terms(arch, sub["batch_size"].to_numpy(float), sub["input_tokens"].to_numpy(float),
                                    sub["output_tokens"].to_numpy(float), cached_tokens(sub),
                                    precision_column(sub, "weight_bytes_per_param"),
                                    precision_column(sub, "kv_bytes_per_value"))
    return pd.DataFrame(out, index=X.index, columns=TERMS)


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
        self.scale_ = np.asarray(scale, float)  # one per term, in the order of TERMS
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
        keys = list(zip(deployment_keys(X).tolist(), (X["num_experts"] > 0).tolist()))
        codes, uniques = factorize(keys)
        table = np.stack([self.coefficients(config, model, moe) for (config, model), moe in uniques])
        return table[codes]

    def predict_phases(self, X: pd.DataFrame) -> pd.DataFrame:
        """prefill_j and decode_j of each cell's whole batch."""
        import pandas as pd

        prefill, decode = _phases(phase_terms(X).to_numpy(), self._coef_rows(X))
        return pd.DataFrame({"prefill_j": prefill, "decode_j": decode}, index=X.index)

    def predict_cells(self, arch: Architecture, gpu_name: str, serving: Serving, terms: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
        """(prefill_j, decode_j) of whole batches of one deployment, from their `cell_terms`.

        The same coefficients and sums as `predict_phases` on the cells' frame, without building one.
        """
        return _phases(terms, self.coefficients((gpu_name, *serving.key), arch.name, arch.num_experts > 0))

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


def _phases(terms: np.ndarray, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(prefill, decode) sums of terms x coefficients (one row of coefficients per cell, or one for all)."""
    p = len(PREFILL_TERMS)
    coef = np.broadcast_to(coef, terms.shape)
    return (terms[:, :p] * coef[:, :p]).sum(1), (terms[:, p:] * coef[:, p:]).sum(1)

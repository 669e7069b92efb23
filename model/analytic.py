"""The analytic baselines as estimators with the scikit-learn API (nothing is learned in `fit`).

Both predict the energy of a whole batch, in joules, and split it by phase.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from energy_predict.model.features import physical_features


class _Analytic(RegressorMixin, BaseEstimator):
    kind = "analytic"

    def fit(self, X: pd.DataFrame, y=None):  # noqa: D102 - nothing to learn
        self.n_features_in_ = X.shape[1]
        self.is_fitted_ = True
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Batch energy in joules."""
        phases = self.predict_phases(X)
        return (phases["prefill_j"] + phases["decode_j"]).to_numpy()

    def predict_phases(self, X: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError


def baseline_phases(X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(FLOPs/TDP, roofline) phases of each cell, from one pass over the physical features."""
    f = physical_features(X)
    return _flops_tdp(f, X.index), _roofline(f, X.index)


def _flops_tdp(f: pd.DataFrame, index) -> pd.DataFrame:
    scale = f["tdp_w"] / f["peak_flops"]
    return pd.DataFrame({"prefill_j": f["prefill_flops"] * scale, "decode_j": f["decode_flops"] * scale,
                         "duration_s": (f["prefill_flops"] + f["decode_flops"]) / f["peak_flops"]}, index=index)


def _roofline(f: pd.DataFrame, index) -> pd.DataFrame:
    return pd.DataFrame({"prefill_j": f["roofline_prefill_s"] * f["tdp_w"],
                         "decode_j": f["roofline_decode_s"] * f["tdp_w"],
                         "duration_s": f["roofline_prefill_s"] + f["roofline_decode_s"]}, index=index)


class FlopsTdpEstimator(_Analytic):
    """The reference study's estimate: E = TDP / peak FLOP/s x FLOPs (`baselines.flops_tdp_energy_j`, per row)."""

    name = "flops-tdp"

    def predict_phases(self, X: pd.DataFrame) -> pd.DataFrame:
        return _flops_tdp(physical_features(X), X.index)


class RooflineEstimator(_Analytic):
    """Per phase max(FLOPs / peak, bytes / bandwidth) at TDP."""

    name = "roofline"

    def predict_phases(self, X: pd.DataFrame) -> pd.DataFrame:
        return _roofline(physical_features(X), X.index)

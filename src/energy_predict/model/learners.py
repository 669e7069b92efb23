"""Estimators by name: the analytic baselines, the structured phase model and general regressors.

The general regressors learn log(energy) from log-scaled cell and physics features, so they see the
same information as the phase model but not its structure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from energy_predict.model.analytic import FlopsTdpEstimator, RooflineEstimator
from energy_predict.model.features import physical_features, precision_column
from energy_predict.model.structured import PhaseModel, positive_targets


def log_features(X: pd.DataFrame) -> pd.DataFrame:
    """Numeric features for general regressors: logs of cell sizes and physical terms, config flags."""
    f = physical_features(X)
    out = pd.DataFrame(index=X.index)
    for col in ("batch_size", "input_tokens", "output_tokens"):
        out[f"log_{col}"] = np.log1p(X[col].to_numpy(float))
    for col in ("prefill_flops", "decode_flops", "prefill_bytes", "decode_bytes", "roofline_prefill_s",
                "roofline_decode_s", "active_params"):
        out[f"log_{col}"] = np.log1p(f[col].to_numpy(float))
    out["num_layers"] = X["num_layers"].to_numpy(float)
    out["hf"] = (X["backend"] == "hf").to_numpy(float)
    out["cuda_graphs"] = X["cuda_graphs"].astype(float).to_numpy()
    out["compile"] = X["compile"].astype(float).to_numpy()
    out["weight_bytes_per_param"] = precision_column(X, "weight_bytes_per_param")
    return out


class LogTargetRegressor(RegressorMixin, BaseEstimator):
    """Fit `regressor` to log(energy) on `log_features`; predict exp of it.

    `regressor=None` is a linear regression, as in scikit-learn's TransformedTargetRegressor.
    """

    kind = "measured"

    def __init__(self, regressor=None):
        self.regressor = regressor

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True  # energies: it learns their log
        return tags

    def fit(self, X: pd.DataFrame, y):
        y = positive_targets(X, y)
        regressor = LinearRegression() if self.regressor is None else clone(self.regressor)
        self.regressor_ = regressor.fit(log_features(X), np.log(y))
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self)
        return np.exp(self.regressor_.predict(log_features(X)))


def make_estimator(name: str, seed: int = 0):
    """A fresh, unfitted estimator by name."""
    if name == "flops-tdp":
        return FlopsTdpEstimator()
    if name == "roofline":
        return RooflineEstimator()
    if name == "phase":
        return PhaseModel()
    if name == "linear":
        return LogTargetRegressor(make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-4, 2, 13))))
    if name == "random-forest":
        return LogTargetRegressor(RandomForestRegressor(n_estimators=300, min_samples_leaf=2, random_state=seed,
                                                        n_jobs=1))
    if name == "gradient-boosting":
        return LogTargetRegressor(GradientBoostingRegressor(n_estimators=400, max_depth=3, learning_rate=0.05,
                                                            subsample=0.8, random_state=seed))
    if name == "xgboost":
        from xgboost import XGBRegressor

        return LogTargetRegressor(XGBRegressor(n_estimators=400, max_depth=4, learning_rate=0.05, subsample=0.8,
                                               random_state=seed, n_jobs=1, verbosity=0))
    raise ValueError(f"unknown estimator {name!r}; use one of {', '.join(ESTIMATORS)}")


ESTIMATORS = ("flops-tdp", "roofline", "linear", "random-forest", "gradient-boosting", "xgboost", "phase")

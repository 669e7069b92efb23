"""The analytic baselines as estimators (nothing is learned in `fit`) and as prediction models.

Both predict the energy of a whole batch, in joules, and split it by phase. They follow the scikit-learn estimator
API by hand (`get_params`, `fit` returning self) rather than by inheritance, so the prediction path does not import
scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from energy_predict.baselines import Baselines, PhaseEstimate, deployment_baselines
from energy_predict.errors import EnergyPredictError
from energy_predict.fitted import ANALYTIC, Basis, Phases
from energy_predict.model.features import physical_features
from energy_predict.serving import Deployment

if TYPE_CHECKING:
    import pandas as pd


class _Analytic:
    kind = "analytic"
    _estimator_type = "regressor"

    def get_params(self, deep: bool = True) -> dict:  # noqa: D102 - no parameters
        return {}

    def set_params(self, **params) -> _Analytic:  # noqa: D102
        if params:
            raise ValueError(f"{type(self).__name__} takes no parameters")
        return self

    def __sklearn_tags__(self):
        """scikit-learn's tags (its estimator checks ask): a regressor that needs neither a fit nor a target."""
        from sklearn.utils import RegressorTags, Tags, TargetTags  # only scikit-learn asks, so only then imported

        return Tags(estimator_type="regressor", target_tags=TargetTags(required=False),
                    regressor_tags=RegressorTags(), requires_fit=False)

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

    # -- the EnergyModel seam -------------------------------------------------------------------------------
    def basis(self, dep: Deployment) -> Basis:
        """Analytic: datasheet figures only, no measured error, so no interval."""
        reason = (f"'{self.name}' is an analytic baseline from datasheet figures, not fitted to measurements; it has "
                  "no measured error, so its interval is a point")
        s = dep.serving
        if s.decoding == "beam":
            reason += (f"; it counts beam search of width {s.beam_width} as {s.beam_width} greedy sequences per "
                       "request, without the beam's scoring and cache reordering (the default model answers beam "
                       "search where measured)")
        elif s != s.base:
            asked = f"speculative decoding ({s.speculative.label})" if s.speculative else f"{s.decoding} decoding"
            reason += (f"; its formula counts greedy decoding, not the {asked} asked for (the default model answers "
                       "decoding strategies and speculative decoding where measured)")
        return Basis(ANALYTIC, (0.0, 0.0), reason)

    def batch_phases(self, dep: Deployment, batch_size, input_tokens, output_tokens, cached_tokens=0) -> Phases:
        """Phases of a batch, from the same terms as every report's baselines (`baselines.deployment_baselines`).

        A tensor-parallel group is an ideal split: each GPU of the group runs at TDP for 1/t of one GPU's time:
        the same energy, no all-reduce, and power per GPU stays the TDP whatever the degree.
        """
        p = self.of(deployment_baselines(dep, batch_size, input_tokens, output_tokens, cached_tokens))
        shape = np.broadcast(*(np.atleast_1d(np.asarray(v)) for v in (batch_size, input_tokens, output_tokens,
                                                                        cached_tokens))).shape
        return Phases(*(np.broadcast_to(np.asarray(v, float), shape).copy()
                        for v in (p.prefill_j, p.decode_j, p.duration_s / dep.serving.tensor_parallel)))

    @staticmethod
    def of(baselines: Baselines) -> PhaseEstimate:
        """This baseline's terms among both."""
        raise NotImplementedError

    def step_costs(self, dep: Deployment):
        raise EnergyPredictError("--energy-model: online serving needs a measured model (step energies and idle "
                                 f"power); '{self.name}' is analytic; use the default model")

    def loaded_idle_w(self, dep: Deployment) -> float:
        return 0.0

    def padding_extra_j(self, dep: Deployment, batch_size, input_tokens, output_tokens):
        return None


def baseline_phases(X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(FLOPs/TDP, roofline) phases of each cell, from one pass over the physical features."""
    f = physical_features(X)
    return _flops_tdp(f, X.index), _roofline(f, X.index)


def _flops_tdp(f: pd.DataFrame, index) -> pd.DataFrame:
    import pandas as pd  # the analytic models' frames serve scoring; a prediction goes through `baselines`

    scale = f["tdp_w"] / f["peak_flops"]
    return pd.DataFrame({"prefill_j": f["prefill_flops"] * scale, "decode_j": f["decode_flops"] * scale,
                         "duration_s": (f["prefill_flops"] + f["decode_flops"]) / f["peak_flops"]}, index=index)


def _roofline(f: pd.DataFrame, index) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"prefill_j": f["roofline_prefill_s"] * f["tdp_w"],
                         "decode_j": f["roofline_decode_s"] * f["tdp_w"],
                         "duration_s": f["roofline_prefill_s"] + f["roofline_decode_s"]}, index=index)


class FlopsTdpEstimator(_Analytic):
    """The reference study's estimate: E = TDP / peak FLOP/s x FLOPs (`baselines.flops_tdp_energy_j`, per row)."""

    name = "flops-tdp"

    @staticmethod
    def of(baselines: Baselines) -> PhaseEstimate:
        return baselines.flops_tdp

    def predict_phases(self, X: pd.DataFrame) -> pd.DataFrame:
        return _flops_tdp(physical_features(X), X.index)


class RooflineEstimator(_Analytic):
    """Per phase max(FLOPs / peak, bytes / bandwidth) at TDP."""

    name = "roofline"

    @staticmethod
    def of(baselines: Baselines) -> PhaseEstimate:
        return baselines.roofline

    def predict_phases(self, X: pd.DataFrame) -> pd.DataFrame:
        return _roofline(physical_features(X), X.index)

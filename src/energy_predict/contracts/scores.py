"""The held-out score: how far a model's predictions of cells it never saw were from their measurements.

One type for every score a model card or an answer carries: in-domain cross-validation, each transfer (across GPUs,
tensor-parallel degrees, models), the extrapolation beyond measured ranges, the serving options' rules. Errors are
absolute percentage errors as fractions (0.05 = 5%); `log_bounds` is the 90% interval of log(measured / predicted),
so an estimate's interval is exp(lo) .. exp(hi) x the estimate.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from energy_predict.contracts.stored import Stored


def _ordered(bounds: tuple[float, float]) -> tuple[float, float]:
    """Log bounds in order, within a factor e^10 either way (a held-out error's may both lie on one side of 0)."""
    lo, hi = bounds
    if not (-10.0 <= lo <= hi <= 10.0):
        raise ValueError(f"log bounds {lo!r}, {hi!r} are not ordered within -10..10")
    return bounds


def _around_zero(bounds: tuple[float, float]) -> tuple[float, float]:
    """An interval of an estimate holds it: low <= 0 <= high in log."""
    lo, hi = _ordered(bounds)
    if not lo <= 0.0 <= hi:
        raise ValueError(f"log bounds {lo!r}, {hi!r} do not hold the estimate (need low <= 0 <= high)")
    return bounds


LogBounds = Annotated[tuple[float, float], AfterValidator(_ordered)]
EstimateBounds = Annotated[tuple[float, float], AfterValidator(_around_zero)]
IntRange = tuple[int, int]


class HeldOutScore(Stored):
    """Held-out errors of one scheme: energy (and, where scored, time) percentage errors and the interval."""

    scheme: str | None = Field(None, description="how the cells were held out, e.g. leave-one-gpu-out")
    n: int = Field(description="cells scored")
    median_ape: float
    p90_ape: float
    max_ape: float | None = None
    coverage_90: float | None = Field(None, description="share of held-out cells inside an interval built from "
                                                        "the other folds")
    log_bounds: LogBounds | None = None
    median_error: float | None = Field(None, description="median signed error (predicted / measured - 1)")
    time_median_ape: float | None = None
    time_p90_ape: float | None = None
    time_median_error: float | None = None

    def score(self) -> HeldOutScore:
        """The score alone (a subclass's other fields dropped), in its keys' order."""
        fields = [k for k in (*self._order, *HeldOutScore.model_fields) if k in HeldOutScore.model_fields
                  and k in self.model_fields_set]
        return HeldOutScore.model_validate({k: getattr(self, k) for k in dict.fromkeys(fields)})

    def widened(self, factor: float) -> LogBounds:
        """The log bounds times `factor` (an interval carried further than it was measured)."""
        lo, hi = self.log_bounds or (0.0, 0.0)
        return factor * lo, factor * hi


class AccuracyScore(HeldOutScore):
    """One estimator's in-domain score under one scheme for one framework (`backend`)."""

    backend: str
    estimator: str


class ExtrapolationScore(HeldOutScore):
    """The score of cells predicted from beyond their configuration's measured range (its edge folds)."""

    schemes: str


class LomoScore(HeldOutScore):
    """A leave-one-model-out score: each measured model predicted from the others."""

    models: list[str]
    per_model_median_ape: dict[str, float]


class DegreeScore(HeldOutScore):
    """One tensor-parallel degree predicted from a law fitted on the others (`from`)."""

    from_degrees: list[int] = Field(alias="from")

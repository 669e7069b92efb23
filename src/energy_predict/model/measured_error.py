"""An interval never narrower than the measured error of the transfer behind it (issue 25's "Done when").

Each transfer's interval is a split-conformal interval of its held-out log residuals (the card's `log_bounds`).
Those are fitted on few cells and are often lopsided: the extrapolation folds over-predicted more often than they
under-predicted, so their upper bound sits at +14% while their p90 absolute error is 27%. A question answered
through that transfer may miss either way, so its 90% interval is widened, where narrower, to the band of the
transfer's measured p90 absolute error: |predicted / measured - 1| <= p90, i.e. measured / predicted in
1 / (1 + p90) .. 1 / (1 - p90) (`p90_band`). Pure functions; the resolver (model/resolve.py) applies them.

A GPU never measured has no held-out error of its own in the card: `NEVER_MEASURED_GPU` is the error of the
datasheet transfer against ML.ENERGY's published B200 runs, leave-one-model-out (benchmarks/never_measured.py: the
transfer's one calibrated constant chosen without the scored model's points). benchmarks/published.py later scores
coverage on those same points, so the coverage it reports on the B200 is not an independent check; the figure is
used because it is the only measurement of a transfer to a GPU the model never saw.

A leave-one-model-out pool at one fit key that rests on too few models cannot size its own interval: with two
models, each model's cells are scored against an interval built from the other's alone, and on the shipped card
that interval covered none of them (`coverage_90` 0.0 for the H100 mixtures of experts and the H100 TP4 dense
models). Such a pool (fewer than `MIN_POOL_MODELS` models, or cross-model coverage below `MIN_POOL_COVERAGE`) carries
`thin_pool_bounds`: symmetric bounds at the largest absolute held-out log error of the pool, or the family pool's
bounds, whichever is wider on each side (and never narrower than its own). The fit stores the result and the rule
beside the score (model/scoring.py); the resolver answers with it and says so.
"""

from __future__ import annotations

import math

from energy_predict.contracts.scores import HeldOutScore, LogBounds

MIN_POOL_MODELS = 3  # fewer models in a leave-one-model-out pool: its interval is not sized by its own coverage
MIN_POOL_COVERAGE = 0.5  # cross-model coverage of a 90% interval below this: the pool does not cover itself
MAX_P90 = 0.9  # a p90 error at or above 100% has no lower band (measured / predicted unbounded); capped here

# The datasheet transfer (H100/H200 -> B200, power curve `per-byte`, achieved fractions x ACHIEVED_FRACTION_CARRY)
# against ML.ENERGY Leaderboard v3, offline mapping, scored leave-one-model-out: the carry chosen on the other models'
# B200 points, each model's points scored with it (benchmarks/results/never_measured.json, variant "per-byte, one
# carry", held_out): 71 points on a GPU the model never measured, predicted / published median 0.83.
NEVER_MEASURED_GPU = HeldOutScore(
    scheme="leave-one-model-out on ML.ENERGY v3 B200 points (benchmarks/results/never_measured.md, a GPU never "
           "measured)",
    n=71, median_ape=0.187856, p90_ape=0.398363, median_error=0.829276 - 1.0)


def p90_band(p90_ape: float) -> LogBounds:
    """The log bounds of measured / predicted where |predicted / measured - 1| <= `p90_ape` (capped at MAX_P90)."""
    if not p90_ape >= 0:
        raise ValueError(f"p90_ape must be a non-negative fraction, got {p90_ape!r}")
    p = min(p90_ape, MAX_P90)
    return -math.log1p(p), -math.log1p(-p)


def cover_measured_error(bounds: LogBounds, p90_ape: float | None) -> tuple[LogBounds, bool]:
    """`bounds` widened, where narrower, to the band of a measured p90 absolute error; and whether it widened.

    None (no p90 measured) leaves the bounds as they are.
    """
    if p90_ape is None:
        return bounds, False
    lo, hi = p90_band(p90_ape)
    out = (min(bounds[0], lo), max(bounds[1], hi))
    return out, out != tuple(bounds)


def widened_note(p90_ape: float, source: str) -> str:
    """The clause a basis reason carries where `cover_measured_error` widened its interval."""
    lo, hi = p90_band(p90_ape)
    return (f"interval widened to its measured p90 error {100 * p90_ape:.0f}% ({source}): "
            f"{math.exp(lo):.2f}-{math.exp(hi):.2f}x the estimate at least")


def thin_pool_reason(models: int, coverage_90: float | None) -> str | None:
    """Why a leave-one-model-out pool is too thin to size its own interval (None where it is not)."""
    covers = "unscored" if coverage_90 is None else f"{100 * coverage_90:.0f}%"
    if models < MIN_POOL_MODELS:
        return f"{models} models (fewer than {MIN_POOL_MODELS}; cross-model coverage {covers})"
    if coverage_90 is None or coverage_90 < MIN_POOL_COVERAGE:
        return f"cross-model coverage of its 90% interval {covers} (below {100 * MIN_POOL_COVERAGE:.0f}%)"
    return None


def thin_pool_bounds(own: LogBounds, max_abs_log_error: float, family: LogBounds | None, models: int,
                     coverage_90: float | None) -> tuple[LogBounds, str | None]:
    """The interval a leave-one-model-out pool at one fit key carries, and the rule that set it (None: its own).

    A pool too thin to cover itself (`thin_pool_reason`) carries, on each side, the widest of its own bounds,
    +-`max_abs_log_error` (its largest absolute held-out log error) and the family pool's bounds.
    """
    why = thin_pool_reason(models, coverage_90)
    if why is None:
        return tuple(own), None
    if not max_abs_log_error >= 0:
        raise ValueError(f"max_abs_log_error must be a non-negative log error, got {max_abs_log_error!r}")
    fam = tuple(family) if family is not None else (0.0, 0.0)
    lo = min(own[0], -max_abs_log_error, fam[0])
    hi = max(own[1], max_abs_log_error, fam[1])
    rule = (f"pool of {why}: symmetric at its largest held-out log error ({max_abs_log_error:.3f}) or the family "
            f"pool's bounds, whichever is wider on each side")
    return (lo, hi), rule

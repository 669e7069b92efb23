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
"""

from __future__ import annotations

import math

from energy_predict.contracts.scores import HeldOutScore, LogBounds

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


"""`model/measured_error.py`: an interval widened to the band of a measured p90 error, never narrowed."""

import json
import math

import pytest

from energy_predict.model.measured_error import (
    NEVER_MEASURED_GPU,
    cover_measured_error,
    p90_band,
    thin_pool_bounds,
)
from tests.conftest import REPO


def test_the_band_holds_every_error_up_to_the_p90_either_way():
    lo, hi = p90_band(0.2)
    assert math.exp(lo) * 1.2 == pytest.approx(1.0)  # predicted 20% above the measurement
    assert math.exp(hi) * 0.8 == pytest.approx(1.0)  # predicted 20% below it
    assert p90_band(0.0) == (0.0, 0.0) and math.isfinite(p90_band(5.0)[1])
    with pytest.raises(ValueError):
        p90_band(-0.1)


def test_bounds_widen_where_narrower_and_are_never_narrowed():
    assert cover_measured_error((-0.42, 0.13), 0.27) == (pytest.approx((-0.42, -math.log(0.73))), True)
    assert cover_measured_error((-0.5, 0.5), 0.1) == ((-0.5, 0.5), False)
    assert cover_measured_error((-0.1, 0.1), None) == ((-0.1, 0.1), False)


def test_the_never_measured_gpu_error_is_the_held_out_benchmark_s():
    """The interval of a GPU never measured comes from the leave-one-model-out score, not an in-sample one."""
    results = json.loads((REPO / "benchmarks/results/never_measured.json").read_text())
    held = results["variants"]["per-byte, one carry"]["held_out"]
    assert held["n"] == NEVER_MEASURED_GPU.n
    assert held["energy_median_ape"] == pytest.approx(NEVER_MEASURED_GPU.median_ape, abs=1e-6)
    assert held["energy_p90_ape"] == pytest.approx(NEVER_MEASURED_GPU.p90_ape, abs=1e-6)
    assert "leave-one-model-out" in NEVER_MEASURED_GPU.scheme


def test_a_thin_pool_widens_to_its_largest_error_or_the_family_whichever_is_wider():
    # two models: symmetric at the largest |log error| on the low side, the family's bound on the high side
    bounds, rule = thin_pool_bounds((-0.3, 0.2), 0.3, (-0.25, 0.4), models=2, coverage_90=0.0)
    assert bounds == (-0.3, 0.4) and "2 models (fewer than 3" in rule and "0.300" in rule
    # enough models but a pool that does not cover itself
    bounds, rule = thin_pool_bounds((-0.1, 0.1), 0.5, None, models=4, coverage_90=0.25)
    assert bounds == (-0.5, 0.5) and "coverage of its 90% interval 25% (below 50%)" in rule
    # a pool that covers itself keeps its own bounds, whatever its largest error
    assert thin_pool_bounds((-0.1, 0.1), 0.9, (-0.5, 0.5), models=3, coverage_90=0.8) == ((-0.1, 0.1), None)
    with pytest.raises(ValueError):
        thin_pool_bounds((-0.1, 0.1), float("nan"), None, models=2, coverage_90=0.0)

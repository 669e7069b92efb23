"""`model/measured_error.py`: an interval widened to the band of a measured p90 error, never narrowed."""

import json
import math

import pytest

from energy_predict.model.measured_error import NEVER_MEASURED_GPU, cover_measured_error, p90_band
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


def test_the_never_measured_gpu_error_is_the_published_benchmark_s():
    results = json.loads((REPO / "benchmarks/results/published.json").read_text())
    col = results["columns"]["end of session 2 (roofline floors)"]["summary"]["points"]
    b200 = col["offline, GPUs never measured (B200, A100)"]
    assert b200["answered"] == NEVER_MEASURED_GPU.n
    assert b200["median_abs_error"] == pytest.approx(NEVER_MEASURED_GPU.median_ape)
    assert b200["p90_abs_error"] == pytest.approx(NEVER_MEASURED_GPU.p90_ape)

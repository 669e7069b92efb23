"""The report's interval says which bounds made it: a workload beyond the measured ranges carries the extrapolation
bounds in `basis.interval_log_bounds`, not the in-domain ones (issue 25)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from energy_predict.cli import app
from tests.conftest import REPO
from tests.conftest import write_profile as profile

CARD = json.loads((REPO / "artifacts/models/default/card.json").read_text())
# the profile's key (H100, vLLM graphs) has a published-agreement band: its answers span it (model/agreement.py)
BAND = json.loads((REPO / "artifacts/external/published_agreement.json").read_text())["bands"][0]["log_ratio"]


def spanning(bounds) -> tuple[float, float]:
    """`bounds` widened where narrower to span the published band."""
    return min(bounds[0], BAND[0]), max(bounds[1], BAND[1])


def report(path) -> dict:
    result = CliRunner().invoke(app, ["--profile", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def samples(*rows) -> dict:
    return {"kind": "samples", "samples": [list(r) for r in rows]}


def test_a_workload_wholly_beyond_the_measured_inputs_carries_the_extrapolation_bounds(tmp_path):
    # inputs to 126k and outputs to 4,096 tokens are measured (2026-12-07), outputs past 4,096 are not
    r = report(profile(tmp_path, workload__tokens=samples((60000, 6000)), workload__requests=8))
    basis, e = r["basis"], r["energy_kwh"]
    assert basis["kind"] == "extrapolated" and basis["extrapolated_share"] == 1.0
    lo, hi = basis["interval_log_bounds"]
    assert (lo, hi) != pytest.approx(CARD["interval"]["log_bounds"])  # not the in-domain bounds
    # the edge folds' bounds, never narrower than their p90 error (27%): measured up to 1 / (1 - p90) x the estimate
    p90 = CARD["extrapolation"]["p90_ape"]
    edge = (min(CARD["extrapolation"]["log_bounds"][0], -np.log1p(p90)),
            max(CARD["extrapolation"]["log_bounds"][1], -np.log1p(-p90)))
    assert (lo, hi) == pytest.approx(spanning(edge))
    assert e["high"] / e["estimate"] == pytest.approx(np.exp(hi), rel=1e-6)  # the bounds the energy carries
    assert basis["interval_used"].startswith("extrapolation")


def test_a_workload_inside_the_measured_ranges_carries_its_basis_bounds(tmp_path):
    r = report(profile(tmp_path, workload__tokens=samples((512, 128)), workload__requests=8,
                       serving__max_batch=8))
    basis = r["basis"]
    assert basis["kind"] == "measured" and basis["extrapolated_share"] == 0
    assert basis["interval_log_bounds"] == pytest.approx(spanning(CARD["interval"]["log_bounds"]))
    assert basis["interval_log_bounds"][1] > CARD["interval"]["log_bounds"][1]  # the band reaches above
    assert basis["interval_used"].startswith("basis") and "published_agreement.json" in basis["interval_used"]

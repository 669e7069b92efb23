"""compare ranks by the online energy where the workload has a rate (issue 27, item 2): the same simulation as
`--rate`, and the options it cannot answer refused in the notes rather than ranked with an offline figure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from energy_predict.errors import EnergyPredictError
from energy_predict.model.analytic import RooflineEstimator
from energy_predict.model.persistence import load_default_model
from energy_predict.predict.run import load_case, predict_case
from energy_predict.predict.whatif import compare

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="module")
def case():
    return load_case(EXAMPLES / "code_gen.json"), load_default_model()


def test_the_profile_row_is_the_rate_reports_energy(case):
    c, model = case
    out = compare(c.workload, c.dep, model, [16], [], analytic=RooflineEstimator(), rate=2.0)
    assert out.mode == "online" and out.rate_per_s == pytest.approx(2.0, rel=0.05)
    report = predict_case(c, model, rate=2.0).report
    first = out.table.iloc[0]
    assert first["option"] == "profile"
    assert first["energy_kwh"] == pytest.approx(report.energy_kwh.estimate, rel=1e-9)
    assert first["low_kwh"] == pytest.approx(report.energy_kwh.low, rel=1e-9)
    assert any(n.startswith("hf: not predicted online") for n in out.notes)
    assert "hf" not in set(out.table["option"])


def test_without_a_rate_compare_ranks_offline(case):
    c, model = case
    w = replace(c.workload, period_s=None)
    out = compare(w, c.dep, model, [16], [])
    assert out.mode == "offline" and out.rate_per_s is None
    assert "hf" in set(out.table["option"])  # HF's padded batches are an offline answer


def test_an_hf_profile_with_a_rate_is_ranked_offline_and_says_why(case):
    c, model = case
    hf = replace(c.dep, serving=c.dep.serving.with_(framework="hf", cuda_graphs=False))
    out = compare(c.workload, hf, model, [16], [])
    assert out.mode == "offline" and out.notes[0].startswith("ranked offline: the profile's deployment")
    with pytest.raises(EnergyPredictError, match="serving.framework"):
        compare(c.workload, hf, model, [16], [], rate=2.0)  # a rate asked for explicitly is answered or refused

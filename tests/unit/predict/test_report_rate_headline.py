"""The report's headline where the profile has a rate (issue 27, item 3): online unless the profile says offline,
and an offline report says in one line what the deployment draws at its rate."""

from __future__ import annotations

import json

import pytest

from energy_predict.model.persistence import load_default_model
from energy_predict.predict.run import load_case, predict_case
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def model():
    return load_default_model()


def _case(tmp_path, mode: str | None, rate: bool = True):
    data = json.loads((EXAMPLES / "code_gen.json").read_text())
    assert data["serving"]["mode"] == "offline" and data["workload"]["rate_per_s"]  # what the examples set
    if mode is None:
        del data["serving"]["mode"]
    else:
        data["serving"]["mode"] = mode
    if not rate:
        del data["workload"]["rate_per_s"], data["workload"]["period_s"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    return load_case(path)


def test_a_rate_and_no_mode_gives_the_online_headline(tmp_path, model):
    report = predict_case(_case(tmp_path, None), model).report
    online = predict_case(_case(tmp_path, "online"), model).report
    assert report.mode == "online" and report.energy_kwh.estimate == pytest.approx(online.energy_kwh.estimate)


def test_an_offline_report_with_a_rate_says_the_online_figure_in_one_line(tmp_path, model):
    report = predict_case(_case(tmp_path, "offline"), model).report
    online = predict_case(_case(tmp_path, "online"), model).report
    assert report.mode == "offline"
    lines = [n for n in report.notes if n.startswith("online at the profile's rate")]
    assert len(lines) == 1 and "\n" not in lines[0]
    per_day = online.energy_kwh.estimate * 86400 / online.period_s
    assert f"{per_day:.3g} kWh a day" in lines[0]
    assert f"{online.energy_kwh.estimate / report.energy_kwh.estimate:.2f}x this offline headline" in lines[0]


def test_without_a_rate_the_offline_report_is_unchanged(tmp_path, model):
    report = predict_case(_case(tmp_path, None, rate=False), model).report
    assert report.mode == "offline" and not [n for n in report.notes if "profile's rate" in n]


def test_a_rate_the_deployment_cannot_serve_keeps_the_offline_headline_and_says_so(tmp_path, model):
    """Online only because the profile has a rate (no mode asked): an overload is a note, not a refusal."""
    data = json.loads((EXAMPLES / "code_gen.json").read_text())
    del data["serving"]["mode"]
    data["workload"]["period_s"] = data["workload"]["requests"] / 60.0  # 60 req/s on one H100
    del data["workload"]["rate_per_s"]
    (tmp_path / "fast.json").write_text(json.dumps(data))
    report = predict_case(load_case(tmp_path / "fast.json"), model).report
    assert report.mode == "offline"
    assert any("cannot keep up" in n and "req/s" in n for n in report.notes)

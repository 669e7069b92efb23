"""The loaded idle power carries its measured spread: an idle-dominated online answer is not printed as exact."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from energy_predict.cli import app
from energy_predict.contracts.card import IdleReadings
from energy_predict.model.fit import MIN_IDLE_READINGS_FOR_SPREAD, measured_idle_power
from energy_predict.model.inputs import RunIdle

REPO = Path(__file__).resolve().parents[3]


def test_the_card_records_the_5_to_95_percent_spread_of_a_loaded_engines_idle_where_readings_allow_it():
    many = [100.0 + k for k in range(21)]  # 100 .. 120 W
    idle = measured_idle_power([RunIdle("G", {"before": [60.0, 61.0], "loaded:vllm": many,
                                              "loaded:hf": [90.0] * (MIN_IDLE_READINGS_FOR_SPREAD - 1)})])["G"]
    assert idle.loaded_vllm == 110.0 and idle.loaded_vllm_p05 == pytest.approx(101.0)
    assert idle.loaded_vllm_p95 == pytest.approx(119.0)
    assert idle.loaded_bounds("vllm") == pytest.approx((101 / 110, 119 / 110))
    assert idle.loaded_hf == 90.0 and idle.loaded_bounds("hf") is None  # too few readings for a spread
    assert IdleReadings(loaded_vllm=120.0).loaded_bounds("vllm") is None  # a card from before: none recorded


def test_an_idle_dominated_capacity_answer_carries_the_idle_spread():
    # at 0.001 req/s the GPU idles >99.9% of the day: the answer was printed as "2.97 kWh (2.97-2.97)"
    out = CliRunner().invoke(app, ["capacity", "-p", str(REPO / "examples" / "code_gen.json"), "--rate", "0.001",
                                   "--json"])
    assert out.exit_code == 0, out.output
    r = json.loads(out.output)
    card = json.loads((REPO / "artifacts/models/default/card.json").read_text())["idle_power_w"]["H100-SXM-80GB"]
    assert r["idle_kwh_per_day"] / r["total_kwh_per_day"] > 0.99
    assert r["low_kwh_per_day"] / r["idle_kwh_per_day"] == pytest.approx(
        card["loaded_vllm_p05"] / card["loaded_vllm"], abs=0.01)
    assert r["high_kwh_per_day"] / r["idle_kwh_per_day"] == pytest.approx(
        card["loaded_vllm_p95"] / card["loaded_vllm"], abs=0.01)
    assert r["low_kwh_per_day"] < r["total_kwh_per_day"] * 0.97 < r["total_kwh_per_day"] * 1.03 < r["high_kwh_per_day"]

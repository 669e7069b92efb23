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


def test_the_model_takes_the_spread_of_the_readings_it_charges_and_falls_back_honestly():
    from energy_predict.architectures import resolve_architecture
    from energy_predict.gpus import resolve_gpu
    from energy_predict.model.store import load_default_model
    from energy_predict.serving import Deployment, Serving

    model = load_default_model()
    card = model.card

    def dep(gpu, framework="vllm", **kw):
        serving = Serving(framework=framework, cuda_graphs=framework == "vllm", **kw)
        return Deployment(resolve_architecture("Llama-3.1-8B"), resolve_gpu(gpu), serving, 1)

    h100 = card.idle("H100-SXM-80GB")
    assert model.basis(dep("H100-SXM-80GB")).idle_bounds == pytest.approx(h100.loaded_bounds("vllm"))
    # H200 engines have too few readings for a spread of their own: the widest recorded one
    assert card.idle("H200-SXM-141GB").loaded_bounds("vllm") is None
    assert model.basis(dep("H200-SXM-141GB")).idle_bounds == pytest.approx(card.widest_loaded_idle_bounds())
    # a GPU never measured idles by a rule: no spread, idle not measured (it takes the busy interval)
    assert model.basis(dep("B200")).idle_measured is False
    # a card whose GPU holds only an empty reading charges that for a loaded engine: not a measurement of it
    bare = card.model_copy(update={"idle_power_w": {**card.idle_power_w, "H100-SXM-80GB": IdleReadings(
        empty=h100.empty)}})
    model.card = bare
    try:
        assert model.basis(dep("H100-SXM-80GB")).idle_measured is False
    finally:
        model.card = card


def test_a_card_with_a_spread_that_does_not_hold_its_median_is_refused():
    from energy_predict.model.store import load_default_model

    card = load_default_model().card
    data = card.model_dump()
    data["idle_power_w"]["H100-SXM-80GB"]["loaded_vllm_p05"] = 200.0  # above the 124 W median
    with pytest.raises(ValueError, match="loaded_vllm_p05/p95"):
        type(card).model_validate(data)
    data["idle_power_w"]["H100-SXM-80GB"]["loaded_vllm_p05"] = None  # one end without the other
    with pytest.raises(ValueError, match="loaded_vllm_p05/p95"):
        type(card).model_validate(data)

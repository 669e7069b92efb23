"""The fitted terms are physical quantities (issue 25, item 1): floors, the card's rates, the fit's check."""

import json

import numpy as np
import pytest

from energy_predict.contracts.keys import FitKey
from energy_predict.errors import EnergyPredictError
from energy_predict.gpus import CATALOG
from energy_predict.model import term_physics
from energy_predict.model.dataset import training_table
from energy_predict.model.fit import checked_terms
from energy_predict.model.phases import TERMS, PhaseCoefficients
from energy_predict.model.structured import PhaseModel
from energy_predict.provenance import artifacts_dir
from energy_predict.serving import Serving

H100 = CATALOG["H100-SXM-80GB"]
KEY = FitKey.of("H100-SXM-80GB", Serving("vllm", cuda_graphs=True))
FP8_TP2_H200 = FitKey.of("H200-SXM-141GB", Serving("vllm", cuda_graphs=True, quantization="fp8", tensor_parallel=2))


def coefficients(**terms: float) -> np.ndarray:
    return np.array([terms.get(t, 0.0) for t in TERMS])


def test_floors_are_the_peak_of_the_whole_engine():
    floors = dict(zip(TERMS, term_physics.term_floors(FP8_TP2_H200, "duration_s")))
    h200 = CATALOG["H200-SXM-141GB"]
    assert floors["step_weight_bytes"] == pytest.approx(1 / (2 * h200.memory_bandwidth_bps))
    assert floors["decode_linear_flops"] == pytest.approx(1 / (2 * h200.peak_flops("fp8")))
    assert floors["steps"] == 0.0
    energy = dict(zip(TERMS, term_physics.term_floors(FP8_TP2_H200, "energy_j")))
    assert energy["step_weight_bytes"] == pytest.approx(2 * term_physics.FLOOR_POWER_W * floors["step_weight_bytes"])


def test_a_term_faster_than_the_datasheet_fails_the_fit_naming_key_and_term():
    fast = coefficients(step_weight_bytes=0.5 / H100.memory_bandwidth_bps, decode_kv_bytes=1e-12,
                        decode_linear_flops=1e-14, prefill_linear_flops=1e-14, steps=1e-3)
    with pytest.raises(EnergyPredictError, match=r"H100-SXM-80GB framework=vllm.*step_weight_bytes runs at 2\.00x"):
        checked_terms(PhaseCoefficients({KEY.flat: fast}, np.ones(len(TERMS)), 6, 12))


def test_a_term_fitted_at_zero_is_flagged_on_the_card():
    zero = coefficients(decode_kv_bytes=1e-12, decode_linear_flops=1e-14, prefill_linear_flops=1e-14, steps=1e-3)
    (entry,) = checked_terms(PhaseCoefficients({KEY.flat: zero}, np.ones(len(TERMS)), 6, 12))
    assert entry["degenerate"] == ["step_weight_bytes"]
    assert entry["rates"]["step_weight_bytes"] == {"unit": "B/s", "rate": None, "fraction_of_peak": None}
    assert entry["rates"]["decode_kv_bytes"]["rate"] == pytest.approx(1e12)
    assert entry["constants_s"]["steps"] == 1e-3


@pytest.fixture(scope="module")
def table():
    return training_table()


def test_the_fit_on_the_shipped_cells_has_no_impossible_or_degenerate_term(table):
    """Before the floors: 23 terms above the peak and 51 at zero (benchmarks/results/physics_terms.md)."""
    free = PhaseModel(target="free").fit(table, table["duration_s"]).fitted()
    assert all(term_physics.plausibility_problems(term_physics.readings(free.coef_)))  # the old fit: both kinds
    fitted = PhaseModel(target="duration_s").fit(table, table["duration_s"]).fitted()
    assert term_physics.plausibility_problems(term_physics.readings(fitted.coef_)) == ([], [])


def test_the_shipped_card_shows_physical_terms_for_the_keys_the_issue_names():
    """Llama-3.1-8B vLLM graphs put its decode into the per-step constant (weight bytes 0); H200 fp8 TP2 had
    weight bytes = KV bytes = 0, so 70B fp8 TP2 cost the same on the H100 as on the H200."""
    card = json.loads((artifacts_dir() / "models" / "default" / "card.json").read_text())
    terms = {(FitKey.from_json(e["gpu"], e["serving"]), e["model"]): e for e in card["terms"]}
    for key, model in ((KEY, "Llama-3.1-8B"), (FP8_TP2_H200, None)):
        entry = terms[(key, model)]
        assert entry["degenerate"] == []
        for term in ("step_weight_bytes", "decode_kv_bytes"):
            assert 0 < entry["rates"][term]["fraction_of_peak"] <= 1 + term_physics.FRACTION_TOLERANCE
    assert all(0 < r["fraction_of_peak"] <= 1 + term_physics.FRACTION_TOLERANCE
               for e in card["terms"] for t, r in e["rates"].items() if t != "prefill_attention_flops")

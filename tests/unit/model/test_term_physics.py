"""The fitted terms are physical quantities (issue 25, item 1): floors, the card's rates, the fit's check."""

import json

import numpy as np
import pytest

from energy_predict.contracts.keys import FitKey
from energy_predict.errors import EnergyPredictError
from energy_predict.gpus import CATALOG
from energy_predict.model import term_physics
from energy_predict.model.dataset import training_table
from energy_predict.model.features import config_keys
from energy_predict.model.fit import checked_terms
from energy_predict.model.phases import MOE, TERMS, PhaseCoefficients
from energy_predict.model.structured import PhaseModel
from energy_predict.model.term_physics import CONSTANT_TERMS
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


def test_a_term_fitted_at_zero_fails_the_fit_naming_key_and_term():
    zero = coefficients(decode_kv_bytes=1e-12, decode_linear_flops=1e-14, prefill_linear_flops=1e-14, steps=1e-3)
    assert term_physics.term_rates(KEY, None, zero).degenerate() == ["step_weight_bytes"]
    with pytest.raises(EnergyPredictError, match=r"H100-SXM-80GB framework=vllm.*step_weight_bytes fitted at 0 .*"
                                                 r"degenerate"):
        checked_terms(PhaseCoefficients({KEY.flat: zero}, np.ones(len(TERMS)), 6, 12))


def test_a_term_at_its_floor_is_flagged_on_the_card_with_why():
    floors = dict(zip(TERMS, term_physics.term_floors(KEY, "duration_s")))
    pinned = coefficients(step_weight_bytes=floors["step_weight_bytes"], decode_kv_bytes=1e-12,
                          decode_linear_flops=1e-14, prefill_linear_flops=1e-14, steps=1e-3)
    coef = PhaseCoefficients({KEY.flat: pinned}, np.ones(len(TERMS)), 6, 12)
    (one,) = checked_terms(coef, {KEY.flat: 1})
    assert list(one["pinned"]) == ["step_weight_bytes"] and "one model measured" in one["pinned"]["step_weight_bytes"]
    assert one["rates"]["decode_kv_bytes"]["rate"] == pytest.approx(1e12)
    assert one["constants_s"]["steps"] == 1e-3
    (many,) = checked_terms(coef, {KEY.flat: 3})
    assert "across 3 models" in many["pinned"]["step_weight_bytes"]


def test_a_model_set_takes_its_weight_reads_when_its_constants_are_bounded():
    """One model's cells: steps and weight bytes are proportional, so only their sum is fitted; the parent's
    constant picks the split, and the weight-byte term takes the rest (not its floor)."""
    from energy_predict.model.structured import bounded_fit

    steps = np.array([1.0, 2.0, 5.0, 9.0])
    A = np.column_stack([steps, 3.0 * steps, steps * np.array([1.0, 4.0, 2.0, 3.0])])  # constant, weights, other
    y = A @ np.array([0.5, 0.2, 0.1])
    A = A / y[:, None]
    floor, constant = np.array([0.0, 0.01, 0.01]), np.array([True, False, False])
    coef = bounded_fit(A, floor, np.array([0.2, 0.0, 0.0]), constant)
    assert coef == pytest.approx([0.2, 0.3, 0.1], rel=1e-3)  # 0.5 + 3 x 0.2 = 0.2 + 3 x 0.3
    assert A @ coef == pytest.approx(np.ones(4))
    held = bounded_fit(A, floor, np.array([0.0, 0.0, 0.0]), constant)  # a parent constant of 0 holds it at 0
    assert held[0] == 0.0 and held[1] == pytest.approx(0.5 / 3 + 0.2, rel=1e-3)


@pytest.fixture(scope="module")
def table():
    return training_table()


def test_the_fit_on_the_shipped_cells_has_no_impossible_or_degenerate_term(table):
    """Before the floors: 23 terms above the peak and 51 at zero (benchmarks/results/physics_terms.md)."""
    free = PhaseModel(target="free").fit(table, table["duration_s"]).fitted()
    assert all(term_physics.plausibility_problems(term_physics.readings(free.coef_)))  # the old fit: both kinds
    fitted = PhaseModel(target="duration_s").fit(table, table["duration_s"]).fitted()
    assert term_physics.plausibility_problems(term_physics.readings(fitted.coef_)) == ([], [])


def test_no_model_set_puts_its_weight_reads_into_constants_its_configuration_separates(table):
    """Each model's own set keeps its constants at most its configuration's, fitted across models (which separate
    them), so its weight-byte term is pinned at the peak only where the configuration's is: before the bound,
    Llama-3.1-8B on H100 vLLM graphs TP2 and TP4 had weight reads at the peak and a per-step constant 1.3-1.6x
    its configuration's."""
    def offenders(bound: str) -> list:
        coef = PhaseModel(target="duration_s", bound_constants=bound).fit(table, table["duration_s"]).fitted().coef_
        models = table.groupby(config_keys(table).to_numpy())["model"].nunique()
        out = []
        for key, c in coef.items():
            if not isinstance(key[0], tuple) or key[1] == MOE or models[key[0]] < 2:
                continue
            mine, parent = (term_physics.term_rates(FitKey.from_flat(key[0]), m, v)
                            for m, v in ((key[1], c), (None, coef[key[0]])))
            over = [t for t in CONSTANT_TERMS if mine.constants_s[t] > parent.constants_s[t] * (1 + 1e-6) + 1e-12]
            if over or ("step_weight_bytes" in mine.pinned() and "step_weight_bytes" not in parent.pinned()):
                out.append((key, over))
        return out

    assert offenders("none")  # the fit before the bound
    assert offenders("duration_s") == []


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


def test_a_pinned_term_of_one_models_own_set_is_not_said_to_be_fitted_across_models():
    """A model's own set is fitted on its cells alone; the card said "fitted at the peak across 5 models" there, and
    the pooled mixtures-of-experts set (not bounded by its configuration) read "its constants at most its
    configuration's"."""
    from energy_predict.model.term_physics import TermReading, pin_reasons

    card = json.loads((artifacts_dir() / "models" / "default" / "card.json").read_text())
    checked = 0
    for entry in card["terms"]:
        for reason in entry["pinned"].values():
            if entry["model"] not in (None, MOE):
                assert not reason.startswith("fitted at the peak across")
                checked += reason.startswith("fitted at the peak on this model's own cells")
            elif entry["model"] == MOE:
                assert "constants at most its configuration" not in reason
    assert checked > 0
    own = TermReading(KEY, "Llama-3.1-8B", (), {})
    assert pin_reasons(own, 5) == {}  # nothing pinned, nothing said

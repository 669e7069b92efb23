"""`model/power_curve.py` and its use by the datasheet transfer: mean power between idle and the limit, from shares."""

import numpy as np
import pytest

from energy_predict.architectures import REGISTRY
from energy_predict.gpus import CATALOG
from energy_predict.model import transfer
from energy_predict.model.fit import cell_power, measured_idle_power, power_curves
from energy_predict.model.inputs import read_fit_inputs
from energy_predict.model.measured import MeasuredModel
from energy_predict.model.persistence import load_default_model
from energy_predict.model.phases import TERMS
from energy_predict.model.power_curve import PowerCurve, fit_shares, step_shares
from energy_predict.model.transfer import ATTENTION_TERMS, BANDWIDTH_TERMS, COMPUTE_TERMS, DatasheetTransfer
from energy_predict.precision import precision_of
from energy_predict.serving import Deployment, Serving

H100, B200 = CATALOG["H100-SXM-80GB"], CATALOG["B200"]
CURVE = PowerCurve("H100-SXM-80GB", "vllm", 124.0, 700.0, busy=0.16, memory=0.59, compute=1.48)
BF16 = precision_of(None)


def test_power_lies_between_idle_and_limit_at_every_share():
    m, c = np.meshgrid(np.linspace(0, 1, 11), np.linspace(0, 1, 11))
    watts = CURVE.power_w(m, c)
    assert watts.min() == pytest.approx(124.0 + 576.0 * 0.16) and watts.max() == pytest.approx(700.0)
    assert np.all(watts >= 124.0) and np.all(watts <= 700.0)
    assert CURVE.power_w(0.5, 0.0) == pytest.approx(124.0 + 576.0 * (0.16 + 0.59 * 0.5))


@pytest.mark.parametrize(("field", "value"), [("busy", -0.1), ("busy", 1.2), ("memory", 1.5), ("compute", 3.5)])
def test_shares_outside_their_physical_range_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        PowerCurve("H100-SXM-80GB", "vllm", 124.0, 700.0, **{"busy": 0.1, "memory": 0.5, "compute": 1.0,
                                                               field: value})
    with pytest.raises(ValueError, match="idle_w"):
        PowerCurve("H100-SXM-80GB", "vllm", 700.0, 700.0, 0.1, 0.5, 1.0)


def test_the_shares_are_the_steps_achieved_fractions_and_the_fit_recovers_them():
    rng = np.random.default_rng(0)
    t = rng.uniform(0.01, 1.0, 200)
    m_true, c_true = rng.uniform(0, 0.8, 200), rng.uniform(0, 0.5, 200)
    m, c = step_shares(m_true * 3.35e12 * t, c_true * 989e12 * t, t, 3.35e12, 989e12)
    np.testing.assert_allclose(m, m_true) and np.testing.assert_allclose(c, c_true)
    busy, memory, compute = fit_shares(0.1 + 0.6 * m + 1.2 * c, m, c)
    assert (busy, memory, compute) == pytest.approx((0.1, 0.6, 1.2), abs=1e-9)
    with pytest.raises(ValueError, match="duration_s"):
        step_shares(1.0, 1.0, 0.0, 1.0, 1.0)


@pytest.fixture(scope="module")
def fitted():
    inputs = read_fit_inputs(None, "now")
    return inputs, power_curves(inputs.table, measured_idle_power(inputs.idle))


def test_model_fit_writes_a_curve_per_measured_gpu_in_physical_ranges(fitted):
    _, curves = fitted
    card = load_default_model().card
    assert len(card.power) == len(curves)  # the card is what `model fit` writes
    for stored, refit in zip(card.power, curves):
        assert stored.model_dump().keys() == refit.keys()
        for k, v in refit.items():
            assert getattr(stored, k) == (v if isinstance(v, str) else pytest.approx(v, rel=1e-12)), k
    assert {(c["gpu"], c["framework"]) for c in curves} >= {("H100-SXM-80GB", "vllm"), ("H100-SXM-80GB", "hf"),
                                                            ("H200-SXM-141GB", "vllm")}
    for c in curves:
        assert 0 <= c["busy"] <= 1 and 0 < c["memory"] <= 1 and 0 < c["compute"] <= 3
        assert 20e-12 < c["joules_per_byte"] < 500e-12  # HBM plus on-chip movement: tens to hundreds of pJ/B
        assert 0.1e-12 < c["joules_per_bf16_flop"] < 5e-12
        assert c["median_abs_power_error"] < 0.10


def test_the_fitted_curve_over_its_own_cells_lies_between_idle_and_limit(fitted):
    inputs, curves = fitted
    vllm = next(c for c in curves if c["gpu"] == "H100-SXM-80GB" and c["framework"] == "vllm")
    curve = PowerCurve(*(vllm[k] for k in ("gpu", "framework", "idle_w", "limit_w", "busy", "memory", "compute")))
    m, c, measured = cell_power(inputs.table)
    mine = ((inputs.table["gpu"] == curve.gpu) & (inputs.table["framework"] == "vllm")).to_numpy()
    assert np.all((m >= 0) & (m <= 1 + 1e-9) & (c >= 0) & (c <= 1 + 1e-9))  # achieved fractions (roofline)
    watts = curve.power_w(m[mine], c[mine])
    assert np.all(watts >= curve.idle_w) and np.all(watts <= curve.limit_w)
    assert np.median(np.abs(watts / measured[mine] - 1)) == pytest.approx(vllm["median_abs_power_error"])


def test_the_carry_slows_the_rate_terms_and_nothing_else():
    one, carried = (DatasheetTransfer(H100, B200, 124.0, carry=d, attention_carry=d).time_scale(BF16)
                    for d in (1.0, 0.6))
    rate = np.array([t in BANDWIDTH_TERMS + COMPUTE_TERMS for t in TERMS])
    np.testing.assert_allclose(carried[rate], one[rate] / 0.6)
    np.testing.assert_allclose(carried[~rate], one[~rate])
    attention = np.array([t in ATTENTION_TERMS for t in TERMS])
    apart = DatasheetTransfer(H100, B200, 124.0, carry=0.6, attention_carry=0.3).time_scale(BF16)
    np.testing.assert_allclose(apart[attention], one[attention] / 0.3)
    with pytest.raises(ValueError, match="carry"):
        DatasheetTransfer(H100, B200, 124.0, carry=1.5)


def test_per_byte_keeps_the_energy_per_byte_and_the_compute_share():
    per_byte = DatasheetTransfer(H100, B200, 124.0, curve=CURVE).curve_dst(BF16)  # the default rule
    assert transfer.POWER_RULE == "per-byte"
    assert per_byte.joules_per_byte(B200.memory_bandwidth_bps) == pytest.approx(
        CURVE.joules_per_byte(H100.memory_bandwidth_bps))
    assert (per_byte.busy, per_byte.compute) == (CURVE.busy, CURVE.compute)
    # the datasheet's FLOP/s per watt: a B200 FLOP costs less than an H100 FLOP at the same share of the peak
    assert per_byte.joules_per_flop(B200.bf16_flops) < 0.7 * CURVE.joules_per_flop(H100.bf16_flops)


def test_per_op_keeps_the_energy_per_byte_and_flop_and_share_keeps_the_shares():
    per_op = DatasheetTransfer(H100, B200, 124.0, curve=CURVE, power_rule="per-op").curve_dst(BF16)
    share = DatasheetTransfer(H100, B200, 124.0, curve=CURVE, power_rule="share").curve_dst(BF16)
    assert per_op.idle_w == pytest.approx(124.0 * 1000 / 700) and per_op.limit_w == 1000
    assert per_op.joules_per_byte(B200.memory_bandwidth_bps) == pytest.approx(
        CURVE.joules_per_byte(H100.memory_bandwidth_bps))
    assert per_op.joules_per_flop(B200.bf16_flops) == pytest.approx(CURVE.joules_per_flop(H100.bf16_flops))
    assert (share.busy, share.memory, share.compute) == (CURVE.busy, CURVE.memory, CURVE.compute)
    assert per_op.busy == CURVE.busy
    with pytest.raises(ValueError, match="power_rule"):
        DatasheetTransfer(H100, B200, 124.0, curve=CURVE, power_rule="tdp")


def _b200_power_w(use_curve: bool, monkeypatch) -> tuple[float, float]:
    monkeypatch.setattr(transfer, "USE_POWER_CURVE", use_curve)
    model = load_default_model()
    model = MeasuredModel(model.energy, model.duration, model.log_bounds, model.card)  # nothing carried yet
    dep = Deployment(REGISTRY["Llama-3.1-8B"], B200, Serving("vllm", cuda_graphs=True))
    phases = model.batch_phases(dep, 8, 256, 512)  # decode-bound: 8 sequences, 511 decode steps
    return float(phases.energy_j[0] / phases.duration_s[0]), model.loaded_idle_w(dep)


def test_a_decode_bound_b200_batch_draws_between_idle_and_limit_and_below_the_tdp_ratio_answer(monkeypatch):
    curve_w, idle_w = _b200_power_w(True, monkeypatch)
    tdp_ratio_w, _ = _b200_power_w(False, monkeypatch)
    assert idle_w < curve_w < B200.tdp_w
    assert curve_w < 0.9 * tdp_ratio_w, (curve_w, tdp_ratio_w)

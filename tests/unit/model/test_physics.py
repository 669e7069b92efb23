"""The physical step model (issue 25): its terms, the roofline bound, the fit recovering known values, the rules."""

import numpy as np
import pandas as pd
import pytest

from energy_predict.architectures import REGISTRY
from energy_predict.errors import EnergyPredictError
from energy_predict.gpus import CATALOG
from energy_predict.model import physics, physics_fit
from energy_predict.model.features import cell_frame
from energy_predict.model.physics_model import PhysicalModel, resolve_params
from energy_predict.serving import Deployment, Serving

LLAMA8, LLAMA1, QWEN_MOE = REGISTRY["Llama-3.1-8B"], REGISTRY["Llama-3.2-1B"], REGISTRY["Qwen3-30B-A3B"]
H100, H200, B200 = CATALOG["H100-SXM-80GB"], CATALOG["H200-SXM-141GB"], CATALOG["B200"]


def test_a_batch_touches_between_k_and_all_experts():
    assert physics.expected_experts(QWEN_MOE, 1) == pytest.approx(QWEN_MOE.experts_per_token)
    assert physics.expected_experts(QWEN_MOE, 10_000) == pytest.approx(QWEN_MOE.num_experts)
    touched = physics.expected_experts(QWEN_MOE, np.arange(1, 200))
    assert np.all(np.diff(touched) > 0)
    assert physics.expected_experts(LLAMA8, 64) == 0


def test_moe_decode_reads_the_experts_its_batch_touches():
    one = physics.decode_work(QWEN_MOE, 1, 2.0, np.array([1.0]), np.array([100.0]))
    many = physics.decode_work(QWEN_MOE, 1, 2.0, np.array([64.0]), np.array([6400.0]))
    per_expert = QWEN_MOE.num_layers * QWEN_MOE.expert_params * 2.0
    assert one.expert_bytes[0] == pytest.approx(8 * per_expert)
    assert many.expert_bytes[0] == pytest.approx(physics.expected_experts(QWEN_MOE, 64) * per_expert)


def test_the_decode_nodes_sum_the_contexts_exactly():
    """The midpoint rule is exact for the (linear) context: the nodes hold every step's KV tokens."""
    ctx, count = physics.decode_nodes(np.array([512.0]), np.array([129.0]))
    exact = sum(512 + j for j in range(1, 129))
    assert (ctx * count).sum() == pytest.approx(exact)
    assert count.sum() == pytest.approx(128)


def _params(**over) -> physics.StepParams:
    base = dict(bandwidth_bps=H100.memory_bandwidth_bps, flops_per_s=H100.bf16_flops, tdp_w=700.0, eff_weights=1.0,
                eff_experts=1.0, eff_kv=1.0, eff_linear=1.0, eff_expert_linear=1.0, eff_attention=1.0, step_s=0.0,
                layer_s=0.0, sequence_s=0.0, prefill_step_s=0.0, prefill_layer_s=0.0, gpu_layer_s=0.0,
                allreduce_op_s=0.0, allreduce_byte_s=0.0, overlap=16.0, host_overlap=1.0, idle_w=120.0,
                busy_w=0.0, memory_w=300.0, compute_w=500.0, comm_w=0.0)
    return physics.StepParams(**{**base, **over})


@pytest.mark.parametrize("scale", [0.5, 0.8, 1.0])
def test_a_step_is_never_faster_than_its_roofline(scale):
    """At fractions <= 1 and departures below 1, time >= max(bytes / bandwidth, FLOPs / peak)."""
    w = physics.batch_work(LLAMA8, 1, 2.0, [1, 64, 512], [128, 2048, 128], [128, 32, 64], 16384)
    t = physics.step_times(w, _params(memory_scale=scale, compute_scale=scale))
    moved = w.dense_bytes + w.expert_bytes + w.kv_bytes + w.logit_bytes
    work = w.dense_flops + w.expert_flops + w.attention_flops
    floor = np.maximum(moved / H100.memory_bandwidth_bps, work / H100.bf16_flops)
    assert np.all(t.total_s >= floor * (1 - 1e-12))


def test_power_stays_between_idle_and_the_limit():
    w = physics.batch_work(LLAMA8, 1, 2.0, [1, 256], [8192, 8192], [2, 256], 16384)
    cost = physics.batch_cost(w, _params(memory_w=5000.0, compute_w=5000.0), 1)
    for j, s in ((cost.prefill_j, cost.prefill_s), (cost.decode_j, cost.decode_s)):
        watts = j / s
        assert np.all((watts > 120.0) & (watts <= 700.0))


def test_kv_occupancy_over_a_batch_life():
    """A sequence of output o holds i + (o + 1) / 2 tokens on average; requests weigh by how long they run."""
    assert physics.mean_kv_tokens_per_sequence([1000], [200]) == pytest.approx(1100.5)
    mixed = physics.mean_kv_tokens_per_sequence([0, 0], [10, 1000])
    assert mixed == pytest.approx((10 * 5.5 + 1000 * 500.5) / 1010)
    assert physics.running_sequences(1e6, 256, [1000], [200]) == 256  # the cap binds
    assert physics.running_sequences(110_050, 256, [1000], [200]) == pytest.approx(100.0)  # the KV cache binds


TRUE = {"eff_weights|vllm|bf16": 0.85, "eff_kv|vllm": 0.7, "eff_linear|vllm|bf16": 0.6, "eff_attention|vllm": 0.5,
        "step_s|vllm|graphs|single|H100-SXM-80GB": 1.5e-3, "sequence_s|vllm|graphs|single|H100-SXM-80GB": 1e-5}


def _synthetic_table() -> pd.DataFrame:
    """Cells of two models on the H100, their durations from known values, energy at a known power."""
    frames = []
    for arch in (LLAMA8, LLAMA1):
        b, i, o = np.meshgrid([1, 8, 64, 256], [128, 2048], [2, 64, 256])
        frames.append(cell_frame(arch, H100, Serving(), b.ravel(), i.ravel(), o.ravel()))
    table = pd.concat(frames, ignore_index=True)
    table["config"] = "vllm-graphs"
    params = physics_fit.PhysicalParameters({**{k: v for k, v in TRUE.items()}}, {})
    d = physics_fit.design(table)
    names = physics_fit.parameter_names(d.cells, d.moe)
    arrays = {f: np.array([params.values.get(nm, np.nan) if nm else np.nan for nm in per])[:, None]
              for f, per in names.items()}
    arrays["overlap"] = np.full((len(table), 1), 4.0)
    arrays["host_overlap"] = np.full((len(table), 1), 1.0)
    p = physics_fit._params(d, arrays, np.full(len(table), 120.0))
    t = physics.step_times(d.work, p)
    table["duration_s"] = (d.work.count * t.total_s).sum(1)
    table["energy_j"] = table["duration_s"] * 400.0
    return table


def test_the_fit_recovers_known_fractions_and_constants():
    table = _synthetic_table()
    fitted = physics_fit.fit(table, {"H100-SXM-80GB": {"loaded_vllm": 120.0}}).parameters.values
    for name in ("eff_weights|vllm|bf16", "eff_linear|vllm|bf16", "step_s|vllm|graphs|single|H100-SXM-80GB"):
        assert fitted[name] == pytest.approx(TRUE[name], rel=0.1), name
    for name, value in fitted.items():  # every term within its physical range
        if name.startswith("eff_"):
            assert 0 < value <= 1.0
        assert value >= 0


@pytest.fixture(scope="module")
def fitted():
    table = _synthetic_table()
    params = physics_fit.fit(table, {"H100-SXM-80GB": {"loaded_vllm": 120.0}}).parameters
    ranges = {"H100-SXM-80GB|" + physics_fit.deployment_key("vllm", True, False, None, 1, "Llama-3.1-8B"): {
        "batch_size": (1, 256), "input_tokens": (128, 2048), "output_tokens": (2, 256)}}
    bounds = {k: (-0.1, 0.1) for k in ("measured", "other GPU", "other model")}
    bounds["other generation"] = (-0.3, 0.3)
    return PhysicalModel(params, bounds, ranges)


def test_a_faster_memory_speeds_up_decode_and_the_rules_are_named(fitted):
    h100 = Deployment(LLAMA8, H100, Serving())
    h200 = Deployment(LLAMA8, H200, Serving())
    assert fitted.basis(h100).kind == "measured"
    b200 = fitted.basis(Deployment(LLAMA8, B200, Serving()))
    assert b200.kind == "transferred" and "host constants" in b200.reason and "loaded idle" in b200.reason
    t100 = fitted.batch_phases(h100, 1, 128, 512).duration_s[0]
    t200 = fitted.batch_phases(h200, 1, 128, 512).duration_s[0]
    assert t200 < 0.85 * t100  # the bandwidth ratio is 1.43: the weight reads are a bandwidth, not a constant


def test_what_was_never_fitted_is_refused(fitted):
    with pytest.raises(EnergyPredictError, match="never measured"):
        fitted.batch_phases(Deployment(LLAMA8, H100, Serving(quantization="fp8")), 8, 128, 128)
    with pytest.raises(EnergyPredictError, match="fp8"):
        resolve_params(fitted.parameters, Deployment(LLAMA8, CATALOG["A100-SXM-80GB"], Serving(quantization="fp8")))


def test_the_shipped_model_s_decode_constant_no_longer_holds_its_weight_reads():
    """The diagnosis (benchmarks/physics_terms.py): the Llama-3.1-8B vLLM-graphs H100 fit had no weight-byte time, its
    per-step constant held it (the bug, asserted here until the roofline floors of model/term_physics.py fixed it)."""
    import sys

    from tests.conftest import REPO

    sys.path.insert(0, str(REPO / "benchmarks"))
    import physics_terms

    rows = {(r["gpu"], r["framework"], r["cuda_graphs"], r["tensor_parallel"], r["quantization"], r["model"]): r
            for r in physics_terms.rows()}
    llama = rows[("H100-SXM-80GB", "vllm", True, 1, None, "Llama-3.1-8B")]
    assert llama["degenerate"] == [] and llama["impossible"] == []
    assert llama["constant_over_weight_read"] < 1

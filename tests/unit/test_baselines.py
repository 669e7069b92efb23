import numpy as np
import pytest

from energy_predict.architectures import REGISTRY
from energy_predict.baselines import (
    flops_tdp_energy_j,
    roofline_batch,
    sum_of_max_linear,
)
from energy_predict.flops import decode_step_bytes, decode_step_flops, request_flops
from energy_predict.gpus import CATALOG, resolve_gpu

H100 = CATALOG["H100-SXM-80GB"]
LLAMA8 = REGISTRY["Llama-3.1-8B"]


def test_sum_of_max_linear_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(500):
        lo, hi = rng.integers(0, 30, 2)
        f0, f1, g0, g1 = rng.normal(size=4)
        t = np.arange(lo, hi + 1)
        assert sum_of_max_linear(lo, hi, f0, f1, g0, g1) == pytest.approx(
            np.maximum(f0 + f1 * t, g0 + g1 * t).sum(), abs=1e-9)


def test_flops_tdp_formula():
    f = request_flops(LLAMA8, 512, 128)
    assert flops_tdp_energy_j(f, H100) == pytest.approx(f * 700 / 989.4e12)
    with pytest.raises(ValueError):
        flops_tdp_energy_j(-1.0, H100)


def test_roofline_decode_equals_stepwise_sum():
    b, i, o = 16, 1000, 64
    est = roofline_batch(LLAMA8, H100, b, i, o)
    steps = sum(max(b * decode_step_flops(LLAMA8, i + t) / H100.bf16_flops,
                    decode_step_bytes(LLAMA8, b, i + t) / H100.memory_bandwidth_bps) for t in range(1, o))
    assert float(est.decode_s) == pytest.approx(steps, rel=1e-9)
    assert float(est.energy_j) == pytest.approx(float(est.duration_s) * 700)


def test_batch1_decode_is_memory_bound_and_batching_amortises_it():
    one = roofline_batch(LLAMA8, H100, 1, 512, 128)
    big = roofline_batch(LLAMA8, H100, 64, 512, 128)
    # batch 1: each step reads 16 GB of weights, ~4.8 ms at 3.35 TB/s
    assert float(one.decode_s) / 127 == pytest.approx(16.06e9 / 3.35e12, rel=0.05)
    assert float(big.energy_j) / 64 < float(one.energy_j) / 10


def test_nvml_names_map_to_catalog():
    assert resolve_gpu("NVIDIA H100 80GB HBM3").name == "H100-SXM-80GB"
    assert resolve_gpu("h100").name == "H100-SXM-80GB"
    assert resolve_gpu("NVIDIA A100-SXM4-80GB").fp8_flops is None
    assert all(g.source for g in CATALOG.values())

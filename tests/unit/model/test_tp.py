"""The tensor-parallel law (model/tp.py) on cells made by a known law: recovered, and held out by degree."""

import numpy as np
import pytest

from energy_predict.architectures import REGISTRY
from energy_predict.gpus import CATALOG
from energy_predict.model.features import cell_frame
from energy_predict.model.phases import ALLREDUCE_TERMS, TERMS, phase_terms
from energy_predict.model.tp import LAW_TERMS, LawFit, degree_coefficients, fit_law, leave_one_degree_out, predict_law
from energy_predict.serving import Serving

H100 = CATALOG["H100-SXM-80GB"]
IDLE = 120.0


def cells(degrees=(1, 2, 4), law=None):
    rng = np.random.default_rng(0)
    frames = []
    for t in degrees:
        n = 20
        frames.append(cell_frame(REGISTRY["Llama-3.1-8B"], H100, Serving("vllm", cuda_graphs=True, tensor_parallel=t),
                                 rng.choice([1, 8, 64, 256], n), rng.choice([128, 512, 2048], n),
                                 rng.choice([8, 32, 128, 512], n)))
    import pandas as pd

    X = pd.concat(frames, ignore_index=True)
    law = law or LawFit(terms=LAW_TERMS, idle_w=IDLE,
                        # time: 10 ms a batch, 15 us a layer-step, FLOPs at ~600 TFLOP/s, bytes at ~3 TB/s, 8 us an
                        # all-reduce
                        theta_time=[0.01, 0, 1.6e-15, 1.6e-15, 0, 1.5e-5, 3.3e-13, 1e-6, 1.6e-15, 3.3e-13, 8e-6, 1e-11],
                        theta_energy=[3.0, 0, 6e-13, 6e-13, 0, 2e-3, 1e-10, 1e-4, 6e-13, 1e-10, 1e-3, 5e-10])
    energy, duration = predict_law(law, X)
    return X, energy, duration, law


def test_degree_one_has_no_all_reduce_and_the_split_terms_shrink_with_the_degree():
    _, _, _, law = cells()
    e1, t1 = degree_coefficients(law, 1)
    e4, t4 = degree_coefficients(law, 4)
    at = {term: k for k, term in enumerate(TERMS)}
    assert all(e1[at[term]] == 0 and t1[at[term]] == 0 for term in ALLREDUCE_TERMS)
    assert t4[at["decode_linear_flops"]] == pytest.approx(t1[at["decode_linear_flops"]] / 4)
    assert t4[at["steps"]] == t1[at["steps"]]  # every GPU of the group runs the step's constant
    # energy: the work once, plus each GPU's idle over the (shorter) time
    work = law.theta_energy[LAW_TERMS.index("decode_linear_flops")]
    assert e4[at["decode_linear_flops"]] == pytest.approx(work + 4 * IDLE * t4[at["decode_linear_flops"]])


def test_the_law_is_recovered_and_predicts_a_held_out_degree():
    X, energy, duration, _ = cells()
    fitted = fit_law(X, energy, duration, IDLE)
    e, d = predict_law(fitted, X)
    assert np.allclose(e, energy, rtol=1e-4) and np.allclose(d, duration, rtol=1e-4)
    held = leave_one_degree_out(X, energy, duration, IDLE, skip=(1,))
    assert held.pooled.median_ape < 1e-3 and held.pooled.time_median_ape < 1e-3
    assert set(held.per_degree) == {"1", "2", "4"}


def test_power_per_gpu_stays_within_idle_and_some_draw_at_every_degree():
    X, energy, duration, law = cells(degrees=(1, 2, 3, 4, 8))
    per_gpu = energy / duration / X["tensor_parallel"].to_numpy()
    assert np.all(per_gpu >= IDLE)  # every GPU of the group draws at least its idle


def test_two_degrees_are_not_enough_to_hold_one_out():
    X, energy, duration, _ = cells(degrees=(1, 2))
    held = leave_one_degree_out(X, energy, duration, IDLE)
    assert held.per_degree == {} and held.pooled is None and "median_ape" not in held.to_json()
    assert phase_terms(X)[ALLREDUCE_TERMS].to_numpy().min() >= 0

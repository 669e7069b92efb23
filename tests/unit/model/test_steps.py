"""The online simulator's step costs read the weights of the experts a step's batch touches (issue 25)."""

import numpy as np
import pytest

from energy_predict.architectures import REGISTRY
from energy_predict.gpus import CATALOG
from energy_predict.model.store import load_default_model
from energy_predict.predict.online import Engine, simulate
from energy_predict.serving import Deployment, Serving

MOE = Deployment(REGISTRY["Qwen3-30B-A3B"], CATALOG["H100-SXM-80GB"], Serving("vllm", cuda_graphs=True))


@pytest.fixture(scope="module")
def model():
    return load_default_model()


@pytest.mark.parametrize("b", [1, 8, 64])
def test_moe_decode_steps_sum_to_the_batch_models_decode(model, b):
    """The batch model reads E(1 - (1 - k/E)^b) experts a step; the step costs must read as many, not one token's."""
    costs = model.step_costs(MOE)
    energy, time = costs.energy, costs.time
    i, o = 128, 128
    _, decode_j, _, decode_s = model.phase_split(MOE, b, i, o)
    assert energy.decode_run(b, b * (i + 1), o - 1) == pytest.approx(decode_j[0], rel=1e-9)
    assert time.decode_run(b, b * (i + 1), o - 1) == pytest.approx(decode_s[0], rel=1e-9)


def test_a_fixed_moe_batch_through_the_simulator_matches_the_batch_model(model):
    costs = model.step_costs(MOE)
    e, t = costs.energy, costs.time
    b, i, o = 64, 512, 128
    sim = simulate(np.full(b, i), np.full(b, o), np.zeros(b), e, t, Engine(max_num_batched_tokens=10**9))
    assert sim.busy_energy_j == pytest.approx(model.batch_phases(MOE, b, i, o).energy_j[0], rel=0.01)

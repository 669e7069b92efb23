"""HF batches as `generate` runs them: a batch holds at most the requests there are (issue 29, item 8)."""

import numpy as np
import pytest

from energy_predict.architectures import REGISTRY
from energy_predict.gpus import CATALOG
from energy_predict.model.store import load_default_model
from energy_predict.predict.padded import padded_batches
from energy_predict.serving import Deployment, Serving
from energy_predict.workload import Workload


@pytest.fixture(scope="module")
def model():
    return load_default_model()


def _workload(requests: int) -> Workload:
    return Workload(input_tokens=np.array([100]), output_tokens=np.array([20]), weight=np.array([float(requests)]),
                    period_s=None)


@pytest.mark.parametrize("requests", [1, 2, 8])
def test_a_few_requests_are_one_batch_of_that_many_not_a_full_batch(model, requests):
    dep = Deployment(REGISTRY["Llama-3.1-8B"], CATALOG["H100-SXM-80GB"], Serving(framework="hf", max_batch=16))
    got = padded_batches(_workload(requests), dep, model)
    phases = model.batch_phases(dep, np.array([requests]), np.array([100]), np.array([20]))
    assert got.batches == 1 and got.sampled_requests == requests
    assert got.energy_per_request_j == pytest.approx(float(phases.energy_j[0]) / requests, rel=1e-6)


def test_energy_per_request_falls_as_the_batch_fills_up_to_the_cap(model):
    dep = Deployment(REGISTRY["Llama-3.1-8B"], CATALOG["H100-SXM-80GB"], Serving(framework="hf", max_batch=16))
    per_request = [padded_batches(_workload(n), dep, model).energy_per_request_j for n in (1, 2, 8, 16)]
    assert per_request == sorted(per_request, reverse=True)
    full = padded_batches(_workload(1000), dep, model).energy_per_request_j
    assert full == pytest.approx(per_request[-1], rel=0.02)  # 62 full batches and one of 8
    assert per_request[0] > 5 * per_request[-1]  # one request alone costs a batch of one, not 1/16 of a full one

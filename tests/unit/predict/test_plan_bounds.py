"""plan_bounds: the optimistic energy is a floor under every simulation it stands for, and online it is tight."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from energy_predict.model.persistence import load_default_model
from energy_predict.predict.plan_bounds import busy_floor_s, optimistic_energy_j
from energy_predict.predict.plan_search import Family, _family_bounds
from energy_predict.predict.run import load_case
from energy_predict.predict.serving import arrivals_for, simulate_deployment
from energy_predict.serving import Speculation

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
FAMILIES = [(Family("H100-SXM-80GB", 1, "bf16", 256, 8192, False), 1),
            (Family("H100-SXM-80GB", 1, "fp8", 16, 2048, False), 2),
            (Family("H100-SXM-80GB", 2, "bf16", 64, 4096, False), 1),
            (Family("H200-SXM-141GB", 1, "bf16", 512, 16384, False), 3),
            # speculative decoding: steps advance 1 + a k tokens, a decode beside prefill pays the mixed constant
            (Family("H100-SXM-80GB", 1, "bf16", 256, 8192, False, Speculation("Llama-3.2-1B", 4, 0.7)), 1),
            (Family("H100-SXM-80GB", 1, "bf16", 32, 2048, False, Speculation("Llama-3.2-1B", 2, 0.3)), 2)]


@pytest.fixture(scope="module")
def case():
    return load_case(EXAMPLES / "code_gen.json"), load_default_model()


@pytest.mark.parametrize("rate", [0.3, 3.0])
@pytest.mark.parametrize("family,replicas", FAMILIES)
def test_the_optimistic_energy_is_below_the_simulated_energy(case, family, replicas, rate):
    c, model = case
    arrivals = arrivals_for(c.workload, rate, seed=0)
    dep, b, _, _ = _family_bounds(c.workload, c.dep, model, family, arrivals)
    r = simulate_deployment(c.workload, replace(dep, gpu_count=family.tp * replicas), model, rate, seed=0)
    assert not r.overloaded
    floor = optimistic_energy_j(b, replicas, arrivals.period_s, arrivals.arrival_s)
    assert floor <= r.result.energy_j
    assert busy_floor_s(b, arrivals.arrival_s, replicas) <= r.result.busy_s * replicas
    assert b.idle_w <= b.busy_power_w <= r.result.busy_energy_j / (r.result.busy_s * replicas)


def test_online_the_busy_time_floor_is_tighter_than_full_batches(case):
    """At a low rate batches are small and the engine is busy a good part of the time: the full-batch work is a
    loose floor (what the first planner pass pruned with), the busy time x least power is not."""
    c, model = case
    arrivals = arrivals_for(c.workload, 3.0, seed=0)
    family = Family("H100-SXM-80GB", 2, "bf16", 256, 8192, False)
    dep, b, _, _ = _family_bounds(c.workload, c.dep, model, family, arrivals)
    r = simulate_deployment(c.workload, dep, model, 3.0, seed=0)
    full_batch = optimistic_energy_j(b, 1, arrivals.period_s)
    floor = optimistic_energy_j(b, 1, arrivals.period_s, arrivals.arrival_s)
    idle = b.idle_w * arrivals.period_s
    assert floor - idle > 1.25 * (full_batch - idle)
    assert floor <= r.result.energy_j

"""Online speculative decoding (issue 27, item 3): the simulator advances a sequence by the accepted tokens of a
step, with the fitted speculative step costs; refused only outside what was measured."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from energy_predict.model import options
from energy_predict.model.resolution import Refusal
from energy_predict.model.store import load_default_model
from energy_predict.predict.online import Engine, poisson_arrivals, simulate
from energy_predict.serving import Speculation
from tests.unit.predict.test_online import DEP


def spec_dep(acceptance: float, k: int = 4, **serving):
    return replace(DEP, serving=replace(DEP.serving, speculative=Speculation("Llama-3.2-1B", k, acceptance),
                                        **serving))


@pytest.fixture(scope="module")
def model():
    return load_default_model()


@pytest.mark.parametrize("acceptance", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("batch", [1, 16, 64])
def test_a_fixed_batch_through_the_simulator_matches_the_speculative_batch_model(model, acceptance, batch):
    """The same fitted step, the same steps (ceil((o - 1) / (1 + a k))), the same context read: offline and online
    agree on a batch that arrives at once."""
    dep = spec_dep(acceptance)
    c = model.step_costs(dep)
    assert c.energy.tokens_per_step == c.time.tokens_per_step == pytest.approx(1 + 4 * acceptance)
    i, o = 512, 128
    sim = simulate(np.full(batch, i), np.full(batch, o), np.zeros(batch), c.energy, c.time,
                   Engine(max_num_batched_tokens=10**9))
    offline = model.batch_phases(dep, batch, i, o)
    assert sim.busy_energy_j == pytest.approx(offline.energy_j[0], rel=0.01)
    assert sim.busy_s == pytest.approx(offline.duration_s[0], rel=0.01)
    assert sim.output_tokens == batch * o and sim.completed == batch


def test_high_acceptance_serves_a_rate_faster_and_with_less_busy_energy_than_greedy(model):
    """At batch sizes a low rate forms, speculation at a high acceptance saves (the reference study's finding)."""
    rng = np.random.default_rng(0)
    n = 600
    i, o, t = rng.integers(200, 2000, n), rng.integers(50, 400, n), poisson_arrivals(n, 0.5, seed=0)
    engine = Engine(idle_w=100.0, tdp_w=700.0)
    greedy_c, spec_c = model.step_costs(DEP), model.step_costs(spec_dep(0.8))
    greedy = simulate(i, o, t, greedy_c.energy, greedy_c.time, engine)
    spec = simulate(i, o, t, spec_c.energy, spec_c.time, engine)
    assert spec.completed == greedy.completed == n and spec.output_tokens == greedy.output_tokens
    assert spec.busy_energy_j < greedy.busy_energy_j and spec.busy_s < greedy.busy_s
    assert np.median(spec.tpot_s) < np.median(greedy.tpot_s)
    none = model.step_costs(spec_dep(0.0))  # nothing accepted: the draft's work is pure cost
    wasted = simulate(i, o, t, none.energy, none.time, engine)
    assert wasted.busy_energy_j > greedy.busy_energy_j


def test_a_speculative_engine_preempts_and_still_finishes_every_request(model):
    """KV grows by 1 + a k tokens a step: a small cache preempts, and every request still completes."""
    rng = np.random.default_rng(1)
    n = 800
    i, o, t = rng.integers(100, 3000, n), rng.integers(1, 600, n), poisson_arrivals(n, 6.0, seed=1)
    c = model.step_costs(spec_dep(0.6))
    sim = simulate(i, o, t, c.energy, c.time, Engine(kv_capacity_tokens=40000, idle_w=100.0, tdp_w=700.0))
    assert sim.preemptions > 0 and sim.completed == n and not sim.overloaded
    assert np.all(sim.ttft_s >= 0) and np.all(sim.tpot_s > 0)


def test_a_step_with_prefill_pays_the_drafts_extra_forwards(model):
    c = model.step_costs(spec_dep(0.5)).energy
    assert c.mixed_const > 0
    plain = replace(c, mixed_const=0.0)
    assert c.cost(4, 1000, 100, 0.0) == pytest.approx(plain.cost(4, 1000, 100, 0.0) + c.mixed_const)
    assert c.cost(4, 1000, 0, 0.0) == plain.cost(4, 1000, 0, 0.0)  # a pure decode step holds it in its constant


def test_online_speculation_is_refused_outside_the_measured_draft_lengths_and_acceptances(model):
    with pytest.raises(Refusal, match="draft_tokens"):
        model.step_costs(spec_dep(0.5, k=8))
    card = model.card
    narrow = card.model_copy(update={"options": card.options.model_copy(update={"speculative": [
        o.model_copy(update={"acceptance": (0.2, 0.9)}) for o in card.options.speculative]})})
    with pytest.raises(Refusal, match="acceptance_rate"):
        options.speculative_option(narrow, spec_dep(0.95))
    assert options.speculative_option(narrow, spec_dep(0.5)).draft == "Llama-3.2-1B"

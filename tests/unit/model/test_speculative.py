"""Speculative decoding's step-cost model (model/speculative.py): pure functions, checked by hand."""

import numpy as np
import pytest

from energy_predict.model.speculative import StepCost, context_read, decode_cost, step_cost_of_cells, steps_for
from energy_predict.serving import Speculation


def test_accepted_tokens_per_step_and_the_steps_an_output_takes():
    assert Speculation("d", 4, 0.0).accepted_per_step == 0.0 and Speculation("d", 4, 1.0).accepted_per_step == 4.0
    assert Speculation("d", 2, 0.5).accepted_per_step == pytest.approx(1.0)  # vLLM's rate: accepted / drafted
    assert steps_for(128, 0.0) == 127 and steps_for(128, 4.0) == 26  # 127 tokens after prefill's, 5 a step
    with pytest.raises(ValueError):
        Speculation("d", 4, 1.2)
    with pytest.raises(ValueError):
        Speculation("d", 0, 0.5)


def test_context_read_sums_the_kv_each_verification_step_sees():
    # batch 2, prompt 10, 3 steps of 1 + 1 tokens: each sequence sees 11, 13, 15 context tokens
    assert context_read(2, 10, 3, 1.0) == 2 * (11 + 13 + 15)
    assert context_read(1, 0, 1, 0.0) == 1


def _cells():
    b = np.array([1, 4, 16, 64, 128] * 4, float)
    k = np.array([2] * 10 + [5] * 10, float)
    acc = np.concatenate([np.zeros(5), np.full(5, 2.0), np.zeros(5), np.full(5, 5.0)])
    return b, k, acc


def test_step_cost_fit_recovers_a_known_cost_and_accepting_more_costs_fewer_joules_per_token():
    b, k, acc = _cells()
    truth = StepCost((2.0, 0.04, 1.0, 0.03, 0.16, 0.008))
    fitted = StepCost.fit(b, k, acc, truth(b, k, acc))
    assert fitted.coef == pytest.approx(truth.coef, rel=1e-6)
    per_token = [decode_cost(fitted, 1e-5, 16, 512, 128, 4, rate * 4) / (16 * 127) for rate in (0.0, 0.5, 0.9)]
    assert per_token[0] > per_token[1] > per_token[2]
    # a longer draft at no acceptance only adds draft forwards: it costs more
    assert decode_cost(fitted, 0.0, 8, 512, 128, 5, 0.0) > decode_cost(fitted, 0.0, 8, 512, 128, 2, 0.0)


def test_a_cells_step_cost_is_what_the_fit_sees_and_decode_cost_rebuilds_the_cell():
    cost = StepCost((2.0, 0.04, 1.0, 0.03, 0.16, 0.008))
    per_context = 2e-5
    b, i, o, k, acc = 16.0, 512, 128, 4, 1.5
    steps = steps_for(o, acc)
    total = 100.0 + decode_cost(cost, per_context, b, i, o, k, acc)
    assert step_cost_of_cells(total, 100.0, per_context, b, i, steps, acc) == pytest.approx(cost(b, k, acc))


def test_one_draft_length_cannot_separate_the_draft_terms():
    b = np.array([1, 4, 16, 64] * 2, float)
    acc = np.array([0.0] * 4 + [4.0] * 4)
    with pytest.raises(ValueError, match="two or more draft lengths"):
        StepCost.fit(b, np.full(8, 4.0), acc, np.linspace(3, 30, 8))
    with pytest.raises(ValueError):
        StepCost((1.0, 2.0))

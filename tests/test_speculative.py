"""Speculative decoding's step-cost model (model/speculative.py): pure functions, checked by hand."""

import numpy as np
import pytest

from energy_predict.model.speculative import StepCost, accepted_per_step, decode_energy, steps_for


def test_accepted_tokens_per_step_and_the_steps_an_output_takes():
    assert accepted_per_step(0.0, 4) == 0.0 and accepted_per_step(1.0, 4) == 4.0
    assert accepted_per_step(0.5, 2) == pytest.approx(0.5 + 0.25)
    assert steps_for(128, 0.0) == 127 and steps_for(128, 4.0) == 26  # 127 tokens after prefill's, 5 a step
    with pytest.raises(ValueError):
        accepted_per_step(1.2, 4)


def test_step_cost_fit_recovers_a_known_cost_and_accepting_more_costs_fewer_joules_per_token():
    b = np.array([1, 4, 16, 64, 128] * 2, float)
    acc = np.array([0.0] * 5 + [4.0] * 5)
    truth = StepCost((6.0, 0.18, 0.2, 0.012))
    fitted = StepCost.fit(b, acc, truth(b, acc))
    assert fitted.coef == pytest.approx(truth.coef, rel=1e-6)
    per_token = [decode_energy(fitted, 16, 128, a, 4) / (16 * 127) for a in (0.0, 0.5, 0.9)]
    assert per_token[0] > per_token[1] > per_token[2]

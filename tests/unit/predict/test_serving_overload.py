"""The overload line states the offered and served rates over one span of time, so the queue's growth is theirs."""

from __future__ import annotations

import re

import numpy as np

from energy_predict.model.persistence import load_default_model
from energy_predict.predict.serving import overload_error, simulate_deployment
from energy_predict.workload import Workload
from tests.unit.predict.test_online import DEP


def test_a_burst_that_overloads_says_a_growing_queue_with_the_rates_of_the_burst():
    """3,000 requests in 30 s, then a trickle for hours: over the whole period the offered rate is far below what
    the engine serves, so an overload line built from it said the queue grows by a negative rate."""
    rng = np.random.default_rng(0)
    n_burst, n_trickle = 3000, 100
    arrivals = np.concatenate([np.sort(rng.uniform(0, 30, n_burst)), np.linspace(31, 10000, n_trickle)])
    n = n_burst + n_trickle
    w = Workload(np.full(n, 2000.0), np.full(n, 300.0), np.ones(n), None, arrivals)
    r = simulate_deployment(w, DEP, load_default_model())
    assert r.overloaded
    assert r.offered_rate_per_s < r.sustainable_rate_per_s  # the whole period's rate: below what is served
    line = str(overload_error(r))
    arrived, served, grows = (float(x) for x in re.search(
        r"saturated ([\d.e+]+) req/s arrived and they served about ([\d.e+]+) req/s, so the queue grows by "
        r"([-\d.e+]+) req/s", line).groups())
    assert arrived > served and grows > 0
    assert grows == float(f"{r.result.offered_while_saturated_per_s - r.sustainable_rate_per_s:.3g}")

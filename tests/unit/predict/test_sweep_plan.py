"""sweep-rate is plan's evaluation at each rate and GPU count: the numbers `plan` gives for the same candidate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from energy_predict.model.persistence import load_default_model
from energy_predict.predict.plan import plan
from energy_predict.predict.plan_types import PlanSpace, PlanTargets
from energy_predict.predict.run import load_case
from energy_predict.predict.serving import simulate_deployment, sweep_rates

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_sweep_rate_agrees_with_plan_restricted_to_the_rate_and_gpu_counts():
    model = load_default_model()
    case = load_case(EXAMPLES / "code_gen.json")
    w, dep, s = replace(case.workload, period_s=120.0), case.dep, case.dep.serving  # a short period: a fast test
    rates, max_gpus = [1.0, 30.0], 3
    sweep = sweep_rates(w, dep, model, rates, max_gpus, ttft_p90_s=0.5)
    assert [(p.rate_per_s, p.gpus) for p in sweep.points] == [(r, g) for r in rates for g in (1, 2, 3)]
    space = PlanSpace(gpus=(dep.gpu.name,), tp=(s.tensor_parallel,), precisions=("bf16",), batch_caps=(s.max_batch,),
                      token_budgets=(s.max_num_batched_tokens,), prefix_caching=(s.prefix_caching,),
                      max_gpus=max_gpus, frameworks=("vllm",))
    engines = set()
    for rate in rates:
        row = plan(w, dep, model, space, PlanTargets(ttft_p90_ms=500), rate=rate).recommended
        point = next(p for p in sweep.points if p.rate_per_s == rate and p.gpus == row.candidate.gpus)
        assert point.meets_latency and not point.overloaded
        assert point.energy_per_request_j == pytest.approx(row.energy_per_request_j, rel=1e-12)
        assert 1000 * point.ttft_p90_s == pytest.approx(row.ttft_p90_ms, rel=1e-12)
        assert 1000 * point.tpot_p90_s == pytest.approx(row.tpot_p90_ms, rel=1e-12)
        assert point.gpu_utilization == pytest.approx(row.time_busy, rel=1e-12)
        engines.add(row.candidate.replicas)
    assert len(engines) == 2  # one engine at the low rate, more at the high one: not only the trivial row
    # and every point is the simulation `--rate R --gpu-count N` runs
    for p in sweep.points:
        r = simulate_deployment(w, replace(dep, gpu_count=p.gpus), model, p.rate_per_s, seed=0)
        assert p.overloaded == r.overloaded
        if not p.overloaded:
            assert p.energy_per_request_j == r.result.energy_j / r.result.requests

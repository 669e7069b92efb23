"""The bounded search answers as an exhaustive one does: every candidate simulated, then the same rule.

The rule (plan.front_contenders): per engine configuration the fewest engines that meet every target; of those,
the rows whose interval low end is not above the best row's high end; their Pareto front. The exhaustive search
below simulates every candidate of a small space (about a hundred simulations of 400 requests) with the simulation
`--rate` runs, and must give the same front, energies and recommendation as `plan`, which prunes, reuses and skips.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from energy_predict.model.persistence import load_default_model
from energy_predict.predict.plan import families, plan
from energy_predict.predict.plan_search import _family_bounds, simulated_misses
from energy_predict.predict.plan_types import PlanSpace, PlanTargets
from energy_predict.predict.run import load_case
from energy_predict.predict.serving import arrivals_for, simulate_deployment
from energy_predict.workload import Workload

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SPACE = PlanSpace(gpus=("H100-SXM-80GB", "H200-SXM-141GB"), tp=(1, 2), precisions=("bf16", "fp8"),
                  batch_caps=(8, 64), token_budgets=(512, 4096), max_gpus=4)


def _workload(n: int = 400, period_s: float = 100.0) -> Workload:
    rng = np.random.default_rng(3)
    return Workload(rng.integers(200, 3000, n).astype(float), rng.integers(20, 400, n).astype(float), np.ones(n),
                    period_s)


def _objectives(r) -> tuple:
    """Energy a day (kWh), p90 TTFT and TPOT, GPUs, peak power: as the plan's front compares them."""
    res = r.result
    ttft = float(np.quantile(res.ttft_s, 0.9)) if len(res.ttft_s) else float("inf")
    tpot = float(np.quantile(res.tpot_s, 0.9)) if len(res.tpot_s) else float("inf")
    return (res.energy_j * 86400.0 / res.period_s / 3.6e6, ttft, tpot, r.dep.gpu_count, res.peak_power_w)


def _exhaustive(w, dep, model, targets):
    """Every candidate simulated; the rule applied to all of them. Returns {label: kWh a day} of the front."""
    arrivals = arrivals_for(w, None, seed=0)
    chosen = []  # (label, result, lo, hi): per family the fewest engines that meet every target
    simulated = 0
    for f in families(w, dep, model, SPACE):
        try:
            base, b, lo, hi = _family_bounds(w, dep, model, f, arrivals)
        except Exception:  # refused by the model or by memory: no candidate of it is answered
            continue
        passing = []
        for replicas in range(1, SPACE.max_gpus // f.tp + 1):
            r = simulate_deployment(w, replace(base, gpu_count=f.tp * replicas), model, None, seed=0)
            simulated += 1
            if not simulated_misses(r, replicas * b.sustainable_rate_per_s, targets):
                passing.append((f.candidate(replicas).label, r, lo, hi))
        chosen += passing[:1]
    best = min(r.result.energy_j * hi for _, r, _, hi in chosen)
    contenders = [(label, r) for label, r, lo, _ in chosen if r.result.energy_j * lo <= best]
    obj = {label: _objectives(r) for label, r in contenders}
    front = {label: o[0] for label, o in obj.items()
             if not any(all(x <= y for x, y in zip(p, o)) and p != o for other, p in obj.items() if other != label)}
    return front, simulated


@pytest.mark.parametrize("period_s", [100.0, 10.0])  # 4 req/s: one engine, most pruned; 40 req/s: 3-4 engines
def test_the_bounded_search_gives_the_exhaustive_front(period_s):
    model = load_default_model()
    dep = load_case(EXAMPLES / "code_gen.json").dep
    w = _workload(period_s=period_s)
    targets = PlanTargets(ttft_p90_ms=150 if period_s > 50 else 300, tpot_p90_ms=40)
    front, simulated = _exhaustive(w, dep, model, targets)
    p = plan(w, dep, model, SPACE, targets)
    got = {r.candidate.label: r.energy_kwh_per_day for r in p.rows}
    assert set(got) == set(front)
    for label, energy in front.items():
        assert got[label] == pytest.approx(energy, rel=1e-12)
    assert p.recommended.energy_kwh_per_day == pytest.approx(min(front.values()), rel=1e-12)
    assert p.counts.simulated < simulated  # it did prune, reuse or skip something


def test_plan_on_a_process_pool_is_the_plan_on_one_process(monkeypatch):
    """Workers simulate ahead of the search; the search still decides, so the plan and its counts are the same."""
    from energy_predict.predict import plan_search

    model = load_default_model()
    dep = load_case(EXAMPLES / "code_gen.json").dep
    w = _workload(period_s=100.0)
    targets = PlanTargets(ttft_p90_ms=150, tpot_p90_ms=40)
    fetched = []
    get = plan_search._Simulations.get
    monkeypatch.setattr(plan_search._Simulations, "get",
                        lambda self, f, d, r: fetched.append((f, r) in self.ahead) or get(self, f, d, r))
    one = plan(w, dep, model, SPACE, targets).to_dict()
    assert not any(fetched)
    two = plan(w, dep, model, SPACE, targets, workers=2).to_dict()
    assert one == two
    assert any(fetched)  # some simulations did come from the pool

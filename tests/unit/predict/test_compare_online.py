"""compare ranks by the online energy where the workload has a rate (issue 27, item 2): the same simulation as
`--rate`, and the options it cannot answer refused in the notes rather than ranked with an offline figure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from energy_predict.errors import EnergyPredictError
from energy_predict.model.analytic import RooflineEstimator
from energy_predict.model.persistence import load_default_model
from energy_predict.predict import whatif
from energy_predict.predict.plan import plan
from energy_predict.predict.plan_search import simulated_misses
from energy_predict.predict.plan_types import PlanSpace, PlanTargets
from energy_predict.predict.run import load_case, predict_case
from energy_predict.predict.whatif import compare

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="module")
def case():
    return load_case(EXAMPLES / "code_gen.json"), load_default_model()


@pytest.fixture(scope="module")
def online(case):
    c, model = case
    return compare(c.workload, c.dep, model, [16], [], analytic=RooflineEstimator(), rate=2.0)


def test_the_profile_row_is_the_rate_reports_energy(case, online):
    c, model = case
    out = online
    assert out.mode == "online" and out.rate_per_s == pytest.approx(2.0, rel=0.05)
    report = predict_case(c, model, rate=2.0).report
    first = out.table.iloc[0]
    assert first["option"] == "profile"
    assert first["energy_kwh"] == pytest.approx(report.energy_kwh.estimate, rel=1e-9)
    assert first["low_kwh"] == pytest.approx(report.energy_kwh.low, rel=1e-9)
    assert any(n.startswith("hf: not predicted online") for n in out.notes)
    assert "hf" not in set(out.table["option"])


def test_without_a_rate_compare_ranks_offline(case):
    c, model = case
    w = replace(c.workload, period_s=None)
    out = compare(w, c.dep, model, [16], [])
    assert out.mode == "offline" and out.rate_per_s is None
    assert "hf" in set(out.table["option"])  # HF's padded batches are an offline answer


def test_an_hf_profile_with_a_rate_is_ranked_offline_and_says_why(case):
    c, model = case
    hf = replace(c.dep, serving=c.dep.serving.with_(framework="hf", cuda_graphs=False))
    out = compare(c.workload, hf, model, [16], [])
    assert out.mode == "offline" and out.notes[0].startswith("ranked offline: the profile's deployment")
    with pytest.raises(EnergyPredictError, match="serving.framework"):
        compare(c.workload, hf, model, [16], [], rate=2.0)  # a rate asked for explicitly is answered or refused


@pytest.mark.parametrize("option", ["profile", "vllm graphs tp2"])
def test_an_online_row_is_plans_row_for_that_candidate(case, online, option):
    """compare and plan share one engine (issue 27, item 2): plan restricted to the row's GPU, TP, precision, batch
    cap, token budget and GPU count (one candidate) answers the same energy a day and per request and p90 latencies.
    """
    c, model = case
    row = next(r for r in online.table.to_dict("records") if r["option"] == option)
    serving = c.dep.serving.with_(tensor_parallel=2) if option.endswith("tp2") else c.dep.serving
    dep = replace(c.dep, serving=serving, gpu_count=serving.tensor_parallel)
    assert (row["serving"], row["gpu"]) == (serving.label, dep.gpu.name)
    space = PlanSpace(gpus=(dep.gpu.name,), tp=(serving.tensor_parallel,), precisions=("bf16",),
                      batch_caps=(serving.max_batch,), token_budgets=(serving.max_num_batched_tokens,),
                      prefix_caching=(serving.prefix_caching,), max_gpus=dep.gpu_count, frameworks=("vllm",))
    p = plan(c.workload, dep, model, space, PlanTargets(headroom=1.0), rate=2.0)
    assert p.counts.candidates == 1 and p.recommended.candidate.gpus == dep.gpu_count
    r = p.recommended
    period_s = row["gpu_hours"] * 3600 / dep.gpu_count
    for ours, theirs in [(row["energy_kwh"] * 86400 / period_s, r.energy_kwh_per_day),  # the table's own column
                         (row["low_kwh"] * 86400 / period_s, r.low_kwh_per_day),
                         (row["high_kwh"] * 86400 / period_s, r.high_kwh_per_day),
                         (row["energy_kwh_per_day"], r.energy_kwh_per_day),
                         (row["energy_per_request_j"], r.energy_per_request_j),
                         (row["ttft_p90_ms"], r.ttft_p90_ms), (row["tpot_p90_ms"], r.tpot_p90_ms),
                         (row["utilisation"], r.utilisation)]:
        assert ours == pytest.approx(theirs, rel=1e-9)
    assert row["basis"] == r.basis


def test_an_option_over_its_sustainable_rate_bound_is_refused_as_plan_refuses_it(case, monkeypatch):
    """A rate above the engines' sustainable-rate bound is infeasible in plan even where the simulated queue did not
    grow; compare refuses it in the notes the same way (the bound is shrunk here to reach that case)."""
    c, model = case
    real = whatif.evaluate_layout

    def shrunk(w, dep, model, replicas, targets, rate):
        out = []
        for e in real(w, dep, model, replicas, targets, rate):
            if dep.serving.max_batch != 16:
                out.append(e)
                continue
            sustainable = e.result.offered_rate_per_s / 1.5
            out.append(replace(e, sustainable_rate_per_s=sustainable,
                               misses=simulated_misses(e.result, sustainable, targets)))
        return out

    monkeypatch.setattr(whatif, "evaluate_layout", shrunk)
    out = compare(c.workload, c.dep, model, [16], [], rate=2.0)
    assert "batch cap 16" not in set(out.table["option"])
    assert any(n.startswith("batch cap 16: not predicted online (--rate:") and "utilisation" in n and "1.50x" in n
               for n in out.notes)

"""plan: the Pareto front with intervals and bases; capacity is plan on the layout axis; the capacity defects."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from energy_predict.architectures import resolve_architecture
from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.model.persistence import load_default_model
from energy_predict.predict.plan import one_per_point, pareto_front, plan
from energy_predict.predict.plan_types import PlanSpace, PlanTargets
from energy_predict.predict.run import load_case
from energy_predict.predict.whatif import capacity
from energy_predict.workload import Workload

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
H100 = "H100-SXM-80GB"


@pytest.fixture(scope="module")
def model():
    return load_default_model()


@pytest.fixture(scope="module")
def code_gen():
    return load_case(EXAMPLES / "code_gen.json")


def _samples(inputs: tuple[int, int], outputs: tuple[int, int], n: int = 200, seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    return Workload(rng.integers(*inputs, n).astype(float), rng.integers(*outputs, n).astype(float), np.ones(n),
                    None, None)


def test_plan_on_an_example_is_a_front_with_intervals_and_bases_in_well_under_10_s(model, code_gen):
    start = time.perf_counter()
    p = plan(code_gen.workload, code_gen.dep, model, PlanSpace(max_gpus=4), PlanTargets(ttft_p90_ms=2000),
             rate=1.0, site=code_gen.profile.site)
    assert time.perf_counter() - start < 10
    assert p.rows and sum(r.recommended for r in p.rows) == 1 and p.recommended in p.rows
    for r in p.rows:
        assert r.basis in ("measured", "transferred", "extrapolated") and r.feasible and r.on_front
        assert r.low_kwh_per_day <= r.energy_kwh_per_day <= r.high_kwh_per_day
        assert 0 < r.utilisation <= 0.8 and 0 <= r.time_busy <= 1 and r.ttft_p90_ms <= 2000
        assert r.site.co2e_kg_per_day > 0 and r.site.facility_kwh_per_day == pytest.approx(1.2 *
                                                                                          r.energy_kwh_per_day)
        # not distinguishable exactly where the interval overlaps the recommended one
        best = p.recommended
        overlaps = r.low_kwh_per_day <= best.high_kwh_per_day and r.high_kwh_per_day >= best.low_kwh_per_day
        assert r.distinguishable == (r.recommended or not overlaps)
    assert p.recommended.energy_kwh_per_day == min(r.energy_kwh_per_day for r in p.rows)
    c = p.counts
    assert c.candidates == (c.refused_by_model + c.refused_by_memory + c.infeasible_by_bound + c.pruned_by_bound
                            + c.not_needed + c.simulated + c.reused)
    d = p.to_dict()
    assert d["recommended"]["label"] == p.recommended.candidate.label and d["front"][0]["basis"]


def test_the_front_drops_only_dominated_rows(model, code_gen):
    p = plan(code_gen.workload, code_gen.dep, model, PlanSpace(gpus=(H100,), tp=(1,), precisions=("bf16",),
             max_gpus=2), rate=1.0)
    row = p.rows[0]
    worse = replace(row, energy_kwh_per_day=row.energy_kwh_per_day * 2, peak_power_w=row.peak_power_w + 1)
    faster = replace(row, energy_kwh_per_day=row.energy_kwh_per_day * 2, ttft_p90_ms=row.ttft_p90_ms / 2)
    assert pareto_front([row, worse, faster]) == [row, faster]


def test_rows_equal_in_every_objective_and_interval_are_one_point_of_the_front_the_one_with_most_headroom(
        model, code_gen):
    p = plan(code_gen.workload, code_gen.dep, model, PlanSpace(gpus=(H100,), tp=(1,), precisions=("bf16",),
             max_gpus=2), rate=1.0)
    row = p.rows[0]
    tight = replace(row, sustainable_rate_per_s=row.sustainable_rate_per_s / 2, utilisation=row.utilisation * 2)
    same = replace(row)  # equal in everything: the first given stands for both
    drawn = one_per_point([tight, row])
    assert drawn.rows == [row] and [(e.row, e.kept) for e in drawn.left_off] == [(tight, row)]
    assert one_per_point([row, same]).rows == [row]
    # an interval within 1% is the same evidence; a wider one (more extrapolation) tells them apart: both stay
    close = replace(tight, high_kwh_per_day=row.high_kwh_per_day * 1.005)
    assert one_per_point([close, row]).rows == [row]
    wider = replace(tight, high_kwh_per_day=row.high_kwh_per_day * 1.1)
    assert one_per_point([wider, row]).rows == [wider, row] and not one_per_point([wider, row]).left_off
    # better on one objective, worse on another: on the front whatever its headroom
    faster = replace(tight, ttft_p90_ms=row.ttft_p90_ms / 2, energy_kwh_per_day=row.energy_kwh_per_day * 1.1)
    assert one_per_point(pareto_front([tight, row, faster])).rows == [row, faster]


def test_a_cap_that_never_binds_is_named_in_the_notes_not_drawn_twice(model, code_gen):
    space = PlanSpace(gpus=(H100,), tp=(1,), precisions=("bf16",), batch_caps=(64, 256), max_gpus=1,
                      frameworks=("vllm",))
    p = plan(code_gen.workload, code_gen.dep, model, space, rate=1.0)
    labels = [r.candidate.label for r in p.rows]
    assert len(labels) == 1 and "cap 256" in labels[0]
    assert any("cap 64" in n and "left off the front, equal at this rate to" in n and "cap 256" in n for n in p.notes)
    assert p.to_dict()["equal_to_front"] == [{"label": labels[0].replace("cap 256", "cap 64"),
                                               "stands_for_it": labels[0]}]


def test_capacity_agrees_with_plan_on_its_axis(model, code_gen):
    cap = capacity(code_gen.workload, code_gen.dep, model, 5.0, ttft_p90_s=0.5)
    p = plan(code_gen.workload, code_gen.dep, model,
             PlanSpace(gpus=(H100,), precisions=("bf16",), batch_caps=(256,), token_budgets=(8192,),
                       prefix_caching=(False,), max_gpus=1024, frameworks=("vllm",)), PlanTargets(ttft_p90_ms=500),
             rate=5.0)
    r = p.recommended
    assert (cap.gpus, cap.tensor_parallel, cap.replicas) == (r.candidate.gpus, r.candidate.tp, r.candidate.replicas)
    assert cap.total_kwh_per_day == pytest.approx(r.energy_kwh_per_day)
    assert cap.ttft_p90_s == pytest.approx(r.ttft_p90_ms / 1000)


# -- the capacity defects: each of these fails on the capacity before plan ----------------------------------
def test_capacity_utilisation_is_the_share_of_the_sustainable_rate_with_headroom(model):
    """It recommended one GPU at 99.8% 'utilisation', a share of time busy, with no headroom."""
    case = load_case(EXAMPLES / "conversation.json")
    cap = capacity(case.workload, case.dep, model, case.workload.rate_per_s)
    assert cap.utilization <= 0.8
    assert cap.utilization == pytest.approx(cap.rate_per_s / cap.sustainable_rate_per_s)
    assert cap.time_busy > cap.utilization  # a batch is nearly always running: time busy says little of capacity


def test_capacity_gives_an_interval_and_the_site(model, code_gen):
    cap = capacity(code_gen.workload, code_gen.dep, model, 2.0, site=code_gen.profile.site)
    assert cap.low_kwh_per_day < cap.total_kwh_per_day < cap.high_kwh_per_day
    assert cap.site.energy_cost_per_day == pytest.approx(cap.total_kwh_per_day * 1.2 * 0.12)
    assert cap.site.co2e_kg_per_day == pytest.approx(cap.total_kwh_per_day * 1.2 * 0.380)


def test_capacity_never_answers_long_prompts_with_a_minute_to_first_token(model, code_gen):
    """1 req/s of 16k-32k-token prompts: one H100 with a 63 s p90 TTFT and no warning."""
    cap = capacity(_samples((16_000, 32_000), (100, 400)), code_gen.dep, model, 1.0)
    assert cap.ttft_p90_s < 5 and cap.utilization <= 0.8


def test_capacity_searches_tensor_parallel_layouts(model, code_gen):
    """It kept the profile's TP: 2 x TP4 for Llama-3.1-70B where TP8 on the same 8 GPUs may do better."""
    dep = replace(code_gen.dep, arch=resolve_architecture("Llama-3.1-70B"),
                  serving=code_gen.dep.serving.with_(tensor_parallel=4), gpu_count=4)
    w = _samples((6_000, 8_000), (100, 300), n=300)
    targets = PlanTargets(ttft_p90_ms=500)
    by_tp = {}
    for tp in (4, 8):
        try:
            by_tp[tp] = plan(w, dep, model, PlanSpace(gpus=(H100,), tp=(tp,), precisions=("bf16",), max_gpus=64),
                             targets, rate=1.0).recommended
        except EnergyPredictError:
            pass
    cap = capacity(w, dep, model, 1.0, ttft_p90_s=0.5)
    assert by_tp, cap
    best_tp = min(by_tp, key=lambda tp: by_tp[tp].energy_kwh_per_day)
    assert cap.tensor_parallel == best_tp  # TP8 wherever the model says it is the cheaper layout meeting 0.5 s
    assert cap.total_kwh_per_day == pytest.approx(by_tp[best_tp].energy_kwh_per_day)


# -- refusals --------------------------------------------------------------------------------------------------------
def test_an_infeasible_search_names_the_target_that_fails_first_and_the_closest(model, code_gen):
    with pytest.raises(EnergyPredictError) as exc:
        plan(code_gen.workload, code_gen.dep, model, PlanSpace(gpus=(H100,), tp=(1,), max_gpus=2),
             PlanTargets(ttft_p90_ms=1), rate=1.0)
    text = str(exc.value)
    assert text.startswith("plan: no candidate meets the targets; p90 TTFT ms fails first")
    assert "closest: " in text and "--ttft-p90-ms" in text and "\n" not in text


def test_a_layout_the_heads_do_not_split_over_is_refused_for_that_on_every_engine(model, code_gen):
    """TP3 for Llama-3.1-8B (32 heads, 8 KV heads): graphs was refused for the head split, eager for "tensor
    parallelism 3 is not measured", one impossibility given two reasons."""
    with pytest.raises(EnergyPredictError) as exc:
        plan(code_gen.workload, code_gen.dep, model, PlanSpace(gpus=(H100,), tp=(3,), precisions=("bf16",),
             frameworks=("vllm", "vllm-eager"), max_gpus=3), rate=1.0)
    text = str(exc.value)
    assert text.count("do not split over 3 GPUs") == 2 and "is not measured" not in text


def test_a_search_space_too_large_says_the_bound_and_how_to_narrow_it(model, code_gen):
    with pytest.raises(InputError) as exc:
        plan(code_gen.workload, code_gen.dep, model, PlanSpace(batch_caps=tuple(range(1, 40)), max_gpus=4096),
             rate=1.0)
    assert "more than the bound of 20,000" in str(exc.value) and "--max-gpus" in str(exc.value)


# -- speculative decoding as an axis (issue 27, item 3) --------------------------------------------------------------
def test_plan_searches_speculative_decoding_with_the_simulation_rate_runs(model, code_gen):
    """Before, online speculation was refused, so plan could not say whether it pays at a rate."""
    from energy_predict.predict.serving import simulate_deployment
    from energy_predict.serving import Speculation

    spec = Speculation("Llama-3.2-1B", 4, 0.8)
    p = plan(code_gen.workload, code_gen.dep, model,
             PlanSpace(gpus=(H100,), tp=(1,), precisions=("bf16",), max_gpus=1, speculative=(None, spec)), rate=1.0)
    by_spec = {r.candidate.speculative: r for r in p.rows}
    assert spec in by_spec and "spec:Llama-3.2-1B k4 a0.8" in by_spec[spec].candidate.label
    row = by_spec[spec]
    dep = replace(code_gen.dep, serving=code_gen.dep.serving.with_(speculative=spec))
    direct = simulate_deployment(code_gen.workload, dep, model, 1.0, seed=0).result
    assert row.energy_per_request_j == pytest.approx(direct.energy_j / direct.requests)
    assert row.basis and row.low_kwh_per_day < row.energy_kwh_per_day < row.high_kwh_per_day
    # fp8 with a draft was not measured: that family is refused by the model and named, not guessed
    with pytest.raises(EnergyPredictError, match="no candidate could be answered.*fp8 spec:Llama-3.2-1B"):
        plan(code_gen.workload, code_gen.dep, model,
             PlanSpace(gpus=(H100,), tp=(1,), precisions=("fp8",), max_gpus=1, speculative=(spec,)), rate=1.0)


def test_plan_labels_say_engines_and_gpus_per_engine(model, code_gen):
    p = plan(code_gen.workload, code_gen.dep, model, PlanSpace(gpus=(H100,), tp=(1,), precisions=("bf16",),
             max_gpus=1, frameworks=("vllm",)), rate=1.0)
    assert p.recommended.candidate.label.startswith("1 x TP1 H100-SXM-80GB bf16 cap ")  # vLLM with graphs: unnamed
    eager = plan(code_gen.workload, code_gen.dep, model, PlanSpace(gpus=(H100,), tp=(1,), precisions=("bf16",),
                 max_gpus=1, frameworks=("vllm-eager",)), rate=1.0)
    assert eager.recommended.candidate.label.startswith("1 x TP1 H100-SXM-80GB bf16 vllm-eager cap ")

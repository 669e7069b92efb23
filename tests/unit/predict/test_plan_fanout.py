"""plan_fanout: many workloads, each planned as it would be alone, in the order given, the same for any workers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.model.persistence import load_default_model
from energy_predict.predict.plan_fanout import PlanFailure, PlanJob, plan_job, plan_many
from energy_predict.predict.plan_types import PlanSpace, PlanTargets
from energy_predict.predict.run import load_case

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SPACE = PlanSpace(gpus=("H100-SXM-80GB",), tp=(1,), precisions=("bf16",), max_gpus=2)


@pytest.fixture(scope="module")
def model():
    return load_default_model()


def _job(name: str, **changes) -> PlanJob:
    case = load_case(EXAMPLES / f"{name}.json")
    job = PlanJob(f"examples/{name}.json", case.workload, case.dep, SPACE, PlanTargets(), None, case.profile.site,
                  None, case.profile.name)
    return replace(job, **changes)


@pytest.fixture(scope="module")
def jobs():
    return [_job("code_gen"), _job("conversation")]


def test_each_workload_is_planned_as_alone_in_the_order_given_for_any_number_of_workers(model, jobs):
    alone = [plan_job(j, model).to_dict() for j in jobs]
    serial, pooled = plan_many(jobs, model, 1), plan_many(jobs, model, 2)
    assert [p.profile for p in serial] == ["code_gen", "conversation"]
    assert [p.to_dict() for p in serial] == [p.to_dict() for p in pooled] == alone
    reversed_ = plan_many(jobs[::-1], model, 2)
    assert [p.to_dict() for p in reversed_] == alone[::-1]


def test_progress_counts_workloads_on_the_pool(model, jobs):
    seen = []
    plan_many(jobs, model, 2, lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]


def test_a_refused_workload_is_named_and_the_first_in_order_is_raised(model, jobs):
    late = _job("long_context")  # at most 2 GPUs, the headroom is missed: infeasible
    with pytest.raises(EnergyPredictError) as caught:
        plan_many([*jobs, late], model, 2)
    message = str(caught.value)
    assert message.startswith("--profile examples/long_context.json: plan: no candidate meets the targets")
    bad_space = replace(jobs[1], space=replace(SPACE, precisions=("int3",)))
    with pytest.raises(InputError) as caught:
        plan_many([jobs[0], bad_space, late], model, 2)  # the second refusal in order wins over the third
    assert caught.value.field == "--precisions" and "(--profile examples/conversation.json)" in str(caught.value)


def test_one_workload_is_plan_itself_its_errors_unchanged(model):
    late = _job("long_context")
    with pytest.raises(EnergyPredictError) as caught:
        plan_many([late], model, 2)
    assert str(caught.value).startswith("plan: no candidate meets the targets")


def test_a_failure_round_trips_its_parts_and_bad_counts_are_refused(model, jobs):
    error = PlanFailure("--tp: x; y", "--tp", "x", "y").error("a.json")
    assert isinstance(error, InputError) and (error.field, error.problem, error.fix) == ("--tp", "x (--profile a.json)",
                                                                                         "y")
    assert type(PlanFailure("plan: no").error(None)) is EnergyPredictError
    for workers in (0, True, 1.5):
        with pytest.raises(InputError, match="--workers"):
            plan_many(jobs, model, workers)
    with pytest.raises(InputError, match="--profile"):
        plan_many([], model)

"""Plans of many workloads at once: one `plan` each, on a process pool or as Ray tasks (`plan -p A -p B`).

Each workload is planned exactly as it would be alone (`plan.plan` on its own job), so the answers do not depend on
where they ran or on how many processes ran them. With one job the candidate pool of `plan` itself is used; with
several, the pool is over workloads and each workload's candidates are simulated one after another. A refused plan
comes back as a typed failure (the exceptions of ours do not cross a process boundary intact) and the first one, in
the order given, is raised here naming the profile it belongs to (of several), so nothing is printed unless every
plan is made.
Ray is imported only by `plan_on_ray` (the `ray` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.fitted import EnergyModel
from energy_predict.predict.plan import check_workers, plan
from energy_predict.predict.plan_types import Plan, PlanSpace, PlanTargets
from energy_predict.profile import Site
from energy_predict.serving import Deployment
from energy_predict.workload import Workload


@dataclass(frozen=True)
class PlanJob:
    """One workload's plan, all `plan` needs: `source` names it in errors and output (the profile's path)."""

    source: str
    workload: Workload
    deployment: Deployment
    space: PlanSpace = PlanSpace()
    targets: PlanTargets = PlanTargets()
    rate: float | None = None  # requests/s; None: the workload's
    site: Site | None = None
    gpu_hour_price: float | None = None
    profile_name: str = "profile"


@dataclass(frozen=True)
class PlanFailure:
    """A refused plan, as its parts: an `InputError`'s field, problem and fix, or another error's message."""

    message: str
    field: str | None = None
    problem: str | None = None
    fix: str | None = None

    def error(self, source: str | None) -> EnergyPredictError:
        """The error again, naming the profile it came from (None: as it was, for a workload planned alone)."""
        if self.field is not None:
            problem = self.problem if source is None else f"{self.problem} (--profile {source})"
            return InputError(self.field, problem or "", self.fix or "")
        return EnergyPredictError(self.message if source is None else f"--profile {source}: {self.message}")


def plan_job(job: PlanJob, model: EnergyModel, workers: int = 1,
             on_progress: Callable[[int, int], None] | None = None) -> Plan:
    """The job's plan, here; `workers` processes simulate its candidates (the plan is the same for any number)."""
    return plan(job.workload, job.deployment, model, job.space, job.targets, job.rate, job.site, job.gpu_hour_price,
                job.profile_name, workers, on_progress)


def _outcome(job: PlanJob, model: EnergyModel) -> Plan | PlanFailure:
    """The job's plan, or the failure that refused it (what a worker process or a Ray task sends back)."""
    try:
        return plan_job(job, model)
    except InputError as exc:
        return PlanFailure(str(exc), exc.field, exc.problem, exc.fix)
    except EnergyPredictError as exc:
        return PlanFailure(str(exc))


def _plans(jobs: Sequence[PlanJob], outcomes: Sequence[Plan | PlanFailure]) -> list[Plan]:
    """The plans in the jobs' order; the first failure in that order raised, naming its profile (of several)."""
    for job, outcome in zip(jobs, outcomes):
        if isinstance(outcome, PlanFailure):
            raise outcome.error(job.source if len(jobs) > 1 else None)
    return list(outcomes)


_WORKER: dict = {}  # a pool worker's energy model (set once, by `_start_worker`)


def _start_worker(model: EnergyModel) -> None:
    _WORKER["model"] = model


def _outcome_in_worker(job: PlanJob) -> Plan | PlanFailure:
    return _outcome(job, _WORKER["model"])


def plan_many(jobs: Sequence[PlanJob], model: EnergyModel, workers: int = 1,
              on_progress: Callable[[int, int], None] | None = None) -> list[Plan]:
    """One plan per job, in the jobs' order; the same for any `workers`.

    One job: `plan` with its candidates on `workers` processes. Several: up to `workers` processes, one workload
    each at a time, its candidates simulated serially. `on_progress(done, jobs)`: workloads planned so far.
    """
    check_workers(workers)
    if not jobs:
        raise InputError("--profile", "no workload profile was given", "give --profile PROFILE.json")
    if len(jobs) == 1:  # exactly `plan`: its candidate pool, its progress, its errors
        return [plan_job(jobs[0], model, workers, on_progress)]
    processes = min(workers, len(jobs))
    if processes == 1:
        outcomes = []
        for k, job in enumerate(jobs):
            outcomes.append(_outcome(job, model))
            if on_progress:
                on_progress(k + 1, len(jobs))
        return _plans(jobs, outcomes)
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(processes, initializer=_start_worker, initargs=(model,)) as pool:
        futures = {pool.submit(_outcome_in_worker, job): k for k, job in enumerate(jobs)}
        results: dict[int, Plan | PlanFailure] = {}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if on_progress:
                on_progress(len(results), len(jobs))
    return _plans(jobs, [results[k] for k in range(len(jobs))])


def plan_on_ray(jobs: Sequence[PlanJob], model: EnergyModel, address: str | None = None) -> list[Plan]:
    """One plan per job, each a Ray task (one CPU), in the jobs' order; the same plans as `plan_many`.

    `address`: "local" or None starts Ray here, "auto" or HOST:PORT joins a cluster; a connection already open is
    used as it is. The model is put in Ray's object store once, not sent with every task.
    """
    from energy_predict.ray_session import ray_session

    if not jobs:
        raise InputError("--profile", "no workload profile was given", "give --profile PROFILE.json")
    with ray_session(address) as ray:
        task = ray.remote(num_cpus=1)(_outcome)
        model_ref = ray.put(model)
        outcomes = ray.get([task.remote(job, model_ref) for job in jobs])
    return _plans(jobs, outcomes)

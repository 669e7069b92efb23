"""The library call behind `energy-predict --profile`: profile and model in, one report out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from energy_predict.errors import EnergyPredictError
from energy_predict.fitted import EnergyModel
from energy_predict.predict.estimate import Estimate, estimate_workload
from energy_predict.predict.padded import padded_batches
from energy_predict.predict.report import (
    build_report,
    offline_headline,
    online_figure_note,
    online_headline,
    padded_headline,
)
from energy_predict.predict.report_types import Report
from energy_predict.predict.serving import DeploymentResult, overload_error, simulate_deployment
from energy_predict.profile import Profile, load_profile
from energy_predict.serving import Deployment, deployment_from_profile
from energy_predict.workload import Workload, workload_from_profile


@dataclass(frozen=True)
class Case:
    """A loaded profile: what runs (deployment) and what it serves (workload)."""

    profile: Profile
    dep: Deployment
    workload: Workload


def load_case(path: Path, gpus: int | None = None) -> Case:
    """Read and validate a profile; `gpus` overrides hardware.count (the deployment's GPUs)."""
    return case_of(load_profile(path), path.parent, gpus)


def case_of(profile: Profile, base_dir: Path | None = None, gpus: int | None = None) -> Case:
    """A validated profile's case; relative paths in it (a trace, a config.json) are read from `base_dir`."""
    if gpus is not None:
        profile = profile.model_copy(update={"hardware": profile.hardware.model_copy(update={"count": gpus})})
    dep = deployment_from_profile(profile, base_dir)
    return Case(profile, dep, workload_from_profile(profile, base_dir))


@dataclass(frozen=True)
class Prediction:
    """A profile's report, and the offline estimate behind it (its per-bin table)."""

    report: Report
    estimate: Estimate


def predict_case(case: Case, model: EnergyModel, rate: float | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> Prediction:
    """The report for a case: online (simulated at `rate` or the profile's) when asked, else offline batches.

    A profile with a rate and no `serving.mode` is online (the deployment's figure); one that says offline keeps the
    offline headline, with one note giving the figure at its rate (issue 27, item 3). `on_progress(arrived,
    requests)`: the online simulation's progress (a progress bar's).
    """
    est = estimate_workload(case.workload, case.dep, model)
    notes = list(est.notes)
    padded = padded_batches(case.workload, case.dep, model)
    online = None
    has_rate = case.workload.rate_per_s is not None
    asked = rate is not None or case.profile.serving.mode == "online"
    implied = has_rate and "mode" not in case.profile.serving.model_fields_set  # a rate and no mode: online
    at_rate: DeploymentResult | EnergyPredictError | None = None  # the simulation at the profile's rate, or why not
    if asked or implied:
        try:
            at_rate = online = simulate_deployment(case.workload, case.dep, model, rate,
                                                       on_progress=on_progress)
        except EnergyPredictError as exc:
            if asked:
                raise
            at_rate = exc  # not answered online (HF, an analytic model): the offline headline, and a note why
        if online is not None and online.overloaded:
            if asked:
                raise overload_error(online)
            online = None  # the profile's rate is more than it serves: the offline headline, and a note saying so
    if online is not None:
        headline = online_headline(online, est)
        notes.append("online serving: energy, power, per-request and per-token figures, facility energy and the "
                     "baseline ratios are the continuous-batching simulation's (busy + idle); the per-bin table and "
                     "the ceiling-bin estimate are the offline full-batch breakdown")
    elif padded:
        headline = padded_headline(est, case.dep, case.workload.period_s, padded)
        notes.append(
            f"HF generate pads each batch to its longest request: the headline serves {padded.batch_cap} "
            f"requests at a time as they come (random lengths), with the masked attention padding switches on, "
            f"as the metered HF replays ran (docs/validation.md); equal-length batches would take "
            f"{est.energy_j / 3.6e6:.3g} kWh ({est.energy_j / max(headline.energy_j, 1e-12):.2f}x; the per-bin "
            "table and the ceiling-bin estimate are those)")
    else:
        headline = offline_headline(est, case.dep, case.workload.period_s)
        if case.dep.replicas > 1:
            notes.append(f"offline: the work is shared by {case.dep.replicas} engines; energy does not depend on "
                         "how many run it (idle time counts only online: give --rate)")
    if online is None and has_rate:  # the offline figure is not the deployment's: say what that is, in one line
        if at_rate is None:
            try:
                at_rate = simulate_deployment(case.workload, case.dep, model)
            except EnergyPredictError as exc:
                at_rate = exc
        if isinstance(at_rate, EnergyPredictError):
            notes.append(f"the profile has a rate, but this deployment is not answered online ({at_rate}); the "
                         "offline headline counts full batches' busy work only, not idle time at the rate")
        else:
            notes.append(online_figure_note(at_rate, est, headline.energy_j))
    return Prediction(build_report(case.profile, case.dep, est, headline, online, padded, notes), est)


def predict_profile(path: Path, model: EnergyModel, rate: float | None = None,
                    gpus: int | None = None, on_progress: Callable[[int, int], None] | None = None) -> Prediction:
    """Load, validate and predict a profile: its report and the offline estimate."""
    return predict_case(load_case(path, gpus), model, rate, on_progress)




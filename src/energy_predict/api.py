"""The Python API: `energy_predict.predict`, `energy_predict.plan` and `energy_predict.plan_many`.

`predict(profile) -> Report`, `plan(profile) -> Plan` and `plan_many(profiles) -> list[Plan]`: what
`energy-predict --profile P`, `energy-predict plan --profile P` and `plan -p A -p B` print, as typed values.

A composition root, as cli.py is: it loads a fitted model (model/) and hands it to the prediction (predict/).
`energy_predict.predict` (the stage's package, callable) and `from energy_predict.api import predict` are the same
call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from energy_predict.errors import InputError

if TYPE_CHECKING:  # imported when called: `import energy_predict` stays light
    from energy_predict.fitted import EnergyModel
    from energy_predict.predict.plan_types import Plan
    from energy_predict.predict.report_types import Report
    from energy_predict.profile import Profile
    from energy_predict.serving import Speculation

_YAML = (".yaml", ".yml")
_MODEL_METHODS = ("basis", "batch_phases", "step_costs", "loaded_idle_w", "padding_extra_j")  # fitted.EnergyModel's


def load_model(name: str = "default") -> EnergyModel:
    """A shipped fitted model by name or folder, or an analytic baseline ('roofline', 'flops-tdp')."""
    from energy_predict.model.persistence import load_default_model
    from energy_predict.model.persistence import load_model as load_named

    return load_default_model() if name == "default" else load_named(name)


def _profile_and_folder(profile: Profile | Mapping[str, Any] | str | Path) -> tuple[Profile, Path | None]:
    """The validated profile and the folder its relative paths are read from (None: the working directory)."""
    from energy_predict.profile import Profile, load_profile, parse_profile

    if isinstance(profile, Profile):
        return profile, None
    if isinstance(profile, Mapping):
        return parse_profile(dict(profile)), None
    if isinstance(profile, (str, Path)):
        path = Path(profile)
        if path.suffix.lower() in _YAML:
            raise InputError("profile", f"{path.name} is YAML, and no YAML reader is a dependency of energy-predict",
                             "write the profile as JSON (the same keys), or pass it as a dict")
        return load_profile(path), path.parent
    raise InputError("profile", f"a {type(profile).__name__} is not a profile",
                     "give a dict, a path to a profile JSON or an energy_predict.profile.Profile")


def _renamed(old: str, new: str, old_value, new_value):
    """A keyword's former name (the CLI's flag names, docs/cli.md): a DeprecationWarning, then its value."""
    if old_value is None:
        return new_value
    import sys
    import warnings

    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("energy_predict"):
        level, frame = level + 1, frame.f_back  # the warning points at the caller's line, not at ours
    warnings.warn(f"predict({old}=...) is deprecated and will be removed in the next release; use {new}=",
                  DeprecationWarning, stacklevel=level)
    if new_value is not None:
        raise InputError(old, f"given with {new}, which means the same", f"give only {new}")
    return old_value


def predict(profile: Profile | Mapping[str, Any] | str | Path, *, energy_model: str | EnergyModel | None = None,
            rate: float | None = None, gpu_count: int | None = None, model: str | EnergyModel | None = None,
            gpus: int | None = None) -> Report:
    """The report of a workload profile: the same as `energy-predict --profile P --json`.

    Args:
        profile: a dict (the profile JSON's keys), a path to a profile JSON, or a validated `Profile`.
        energy_model: a shipped model's name (default: "default"), "roofline" or "flops-tdp", or a loaded model,
            as `--energy-model`.
        rate: online serving at this rate (requests/s), simulated, as `--rate`.
        gpu_count: GPUs of the deployment (replicas x tensor parallel), as `--gpu-count`.
        model: deprecated, `energy_model`.
        gpus: deprecated, `gpu_count`.

    Raises:
        InputError: a bad profile or option, named with its fix (the CLI prints it as one line).
    """
    import math

    from energy_predict.predict.run import case_of, predict_case

    energy_model = _renamed("model", "energy_model", model, energy_model)
    gpu_count = _renamed("gpus", "gpu_count", gpus, gpu_count)
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate)
                             or not 0 < rate <= 1e6):
        raise InputError("rate", f"{rate!r} is not a rate", "give a finite rate above 0 and at most 1e6 req/s")
    if gpu_count is not None and (isinstance(gpu_count, bool) or not isinstance(gpu_count, int)
                                  or not 1 <= gpu_count <= 4096):
        raise InputError("gpu_count", f"{gpu_count!r} is not a GPU count", "give a whole number from 1 to 4096")
    if energy_model is not None and not isinstance(energy_model, str) and not all(
            callable(getattr(energy_model, m, None)) for m in _MODEL_METHODS):
        raise InputError("energy_model", f"a {type(energy_model).__name__} is not an energy model",
                         "give a shipped model's name ('default'), 'roofline', 'flops-tdp', or a model from "
                         "energy_predict.api.load_model")
    validated, folder = _profile_and_folder(profile)
    if energy_model is None:
        energy_model = "default"
    fitted = load_model(energy_model) if isinstance(energy_model, str) else energy_model
    return predict_case(case_of(validated, folder, gpu_count), fitted, rate).report


def _energy_model(energy_model: str | EnergyModel | None) -> EnergyModel:
    """The model `energy_model=` names (None: the shipped default), or the loaded one given."""
    if energy_model is None or isinstance(energy_model, str):
        return load_model(energy_model or "default")
    if not all(callable(getattr(energy_model, m, None)) for m in _MODEL_METHODS):
        raise InputError("energy_model", f"a {type(energy_model).__name__} is not an energy model",
                         "give a shipped model's name ('default'), 'roofline', 'flops-tdp', or a model from "
                         "energy_predict.api.load_model")
    return energy_model


def _positive(name: str, value, *, whole: bool = False, share: bool = False, zero: bool = False) -> None:
    """A number option checked as the CLI checks its flag: finite, above 0 (or 0 where `zero`), a share, whole."""
    import math

    ok = (not isinstance(value, bool) and isinstance(value, int if whole else (int, float))
          and math.isfinite(value) and (value >= 0 if zero else value > 0) and (not share or value <= 1))
    if not ok:
        what = "a whole number above 0" if whole else ("a share above 0 and at most 1" if share else
                                                       "a finite number " + ("of 0 or more" if zero else "above 0"))
        raise InputError(name, f"{value!r} is not {what}", f"give {what}")


def _axis(name: str, values, kind: type) -> tuple | None:
    """A search axis given as a sequence (None: the default), each value of `kind`, duplicates dropped."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not all(isinstance(v, kind) and not (kind is int and isinstance(v, bool))
                                                   for v in values):
        raise InputError(name, f"{values!r} is not a list of {kind.__name__} values",
                         f"give a list, e.g. {name}=[1, 2]" if kind is int else f"give a list of {kind.__name__}")
    return tuple(dict.fromkeys(values)) or None


def _check_plan_options(rate, ttft_p90_ms, ttft_p99_ms, tpot_p90_ms, tpot_p99_ms, headroom, power_budget_w, max_gpus,
                        gpu_budget, gpu_hour_price, speculative) -> None:
    """`plan`'s number options, checked as the CLI checks its flags, and its speculations."""
    from energy_predict.serving import Speculation

    if rate is not None:
        _positive("rate", rate)
    for name, value in (("ttft_p90_ms", ttft_p90_ms), ("ttft_p99_ms", ttft_p99_ms), ("tpot_p90_ms", tpot_p90_ms),
                        ("tpot_p99_ms", tpot_p99_ms), ("power_budget_w", power_budget_w)):
        if value is not None:
            _positive(name, value)
    _positive("headroom", headroom, share=True)
    _positive("max_gpus", max_gpus, whole=True)
    if gpu_budget is not None:
        _positive("gpu_budget", gpu_budget, whole=True)
    if gpu_hour_price is not None:
        _positive("gpu_hour_price", gpu_hour_price, zero=True)
    if speculative is not None and (isinstance(speculative, (str, bytes)) or not all(
            s is None or isinstance(s, Speculation) for s in speculative)):
        raise InputError("speculative", f"{speculative!r} is not a list of speculations",
                         "give energy_predict.serving.Speculation(draft, draft_tokens, acceptance_rate) values, "
                         "or None for no speculation")


def _plan_case(profile: Profile | Mapping[str, Any] | str | Path, rate: float | None):
    """The validated profile and its case; a profile with no rate and no `rate=` is refused."""
    from energy_predict.predict.run import case_of

    validated, folder = _profile_and_folder(profile)
    case = case_of(validated, folder)
    if rate is None and case.workload.rate_per_s is None and case.workload.arrival_s is None:
        raise InputError("rate", "the profile has no rate", "give rate= (requests/s)")
    return validated, case


def _space(gpu_kinds, tp, precisions, batch_caps, token_budgets, prefix_caching, speculative, max_gpus,
           frameworks=None):
    from energy_predict.predict.plan_types import PlanSpace

    return PlanSpace(gpus=_axis("gpu_kinds", gpu_kinds, str), tp=_axis("tp", tp, int),
                     precisions=_axis("precisions", precisions, str),
                     frameworks=_axis("frameworks", frameworks, str),
                     batch_caps=_axis("batch_caps", batch_caps, int),
                     token_budgets=_axis("token_budgets", token_budgets, int),
                     prefix_caching=_axis("prefix_caching", prefix_caching, bool), max_gpus=max_gpus,
                     speculative=None if speculative is None else tuple(dict.fromkeys(speculative)) or None)


def plan(profile: Profile | Mapping[str, Any] | str | Path, *, rate: float | None = None,
         gpu_kinds: Sequence[str] | None = None, tp: Sequence[int] | None = None,
         precisions: Sequence[str] | None = None, batch_caps: Sequence[int] | None = None,
         token_budgets: Sequence[int] | None = None, prefix_caching: Sequence[bool] | None = None,
         speculative: Sequence[Speculation | None] | None = None, frameworks: Sequence[str] | None = None,
         max_gpus: int = 8, ttft_p90_ms: float | None = None, ttft_p99_ms: float | None = None,
         tpot_p90_ms: float | None = None, tpot_p99_ms: float | None = None, headroom: float = 0.8,
         power_budget_w: float | None = None,
         gpu_budget: int | None = None, gpu_hour_price: float | None = None,
         energy_model: str | EnergyModel | None = None, workers: int = 1) -> Plan:
    """The energy-optimal deployment under latency targets: the same as `energy-predict plan --profile P --json`.

    The keywords are the CLI's flags (docs/cli.md) with lists for its comma-separated values: `gpu_kinds=["H100"]`
    is `--gpu-kinds H100`, `frameworks=["vllm", "vllm-eager"]` is `--frameworks vllm,vllm-eager`,
    `prefix_caching=[False, True]` is `--prefix-caching off,on`; `speculative` takes
    `energy_predict.serving.Speculation` values (None: no speculation). None leaves an axis at the CLI's default.
    `workers`: processes simulating candidates side by side (`--workers`); the plan is the same for any number.
    Many workloads at once: `plan_many`.

    Returns:
        The `Plan`: `.recommended`, `.rows` (the Pareto front), `.why`, `.to_dict()` (the CLI's JSON),
        `.to_dataframe()` (the front), `.to_html()` (the page of `plan --html`).

    Raises:
        InputError: a bad profile or option, named with its fix.
    """
    from energy_predict.predict.plan import plan as plan_case
    from energy_predict.predict.plan_types import PlanTargets

    _check_plan_options(rate, ttft_p90_ms, ttft_p99_ms, tpot_p90_ms, tpot_p99_ms, headroom, power_budget_w, max_gpus,
                        gpu_budget, gpu_hour_price, speculative)
    fitted = _energy_model(energy_model)
    validated, case = _plan_case(profile, rate)
    space = _space(gpu_kinds, tp, precisions, batch_caps, token_budgets, prefix_caching, speculative, max_gpus,
                   frameworks)
    targets = PlanTargets(ttft_p90_ms, ttft_p99_ms, tpot_p90_ms, tpot_p99_ms, headroom, power_budget_w, gpu_budget)
    return plan_case(case.workload, case.dep, fitted, space, targets, rate, validated.site, gpu_hour_price,
                     validated.name, workers)


def plan_many(profiles: Sequence[Profile | Mapping[str, Any] | str | Path], *, rate: float | None = None,
              gpu_kinds: Sequence[str] | None = None, tp: Sequence[int] | None = None,
              precisions: Sequence[str] | None = None, batch_caps: Sequence[int] | None = None,
              token_budgets: Sequence[int] | None = None, prefix_caching: Sequence[bool] | None = None,
              speculative: Sequence[Speculation | None] | None = None,
              frameworks: Sequence[str] | None = None, max_gpus: int = 8,
              ttft_p90_ms: float | None = None, ttft_p99_ms: float | None = None,
              tpot_p90_ms: float | None = None, tpot_p99_ms: float | None = None, headroom: float = 0.8,
              power_budget_w: float | None = None, gpu_budget: int | None = None,
              gpu_hour_price: float | None = None, energy_model: str | EnergyModel | None = None,
              workers: int = 1, ray: str | None = None) -> list[Plan]:
    """One plan per workload, in the order given: `energy-predict plan -p A -p B ... --json`'s plans.

    Each profile is planned exactly as `plan(profile, ...)` with the same keywords (`rate` applies to every one;
    None: each profile's own). `workers`: processes planning workloads side by side (one profile: simulating its
    candidates, as `plan`); `ray`: each workload a Ray task ("local" starts Ray here, "auto" or HOST:PORT joins a
    cluster; the `ray` extra). The plans are the same whichever runs them. Every profile is read before any is
    planned; the first refusal, in the order given, names its profile.

    Raises:
        InputError: a bad profile or option, named with its fix.
    """
    from energy_predict.predict.plan import check_workers
    from energy_predict.predict.plan_fanout import PlanJob, plan_on_ray
    from energy_predict.predict.plan_fanout import plan_many as plan_jobs
    from energy_predict.predict.plan_types import PlanTargets

    if isinstance(profiles, (str, bytes, Path, Mapping)) or not isinstance(profiles, Sequence) or not profiles:
        raise InputError("profiles", f"{profiles!r} is not a list of profiles",
                         "give a list, e.g. plan_many(['examples/code_gen.json', 'examples/conversation.json'])")
    _check_plan_options(rate, ttft_p90_ms, ttft_p99_ms, tpot_p90_ms, tpot_p99_ms, headroom, power_budget_w, max_gpus,
                        gpu_budget, gpu_hour_price, speculative)
    check_workers(workers, "workers")
    if ray is not None and not isinstance(ray, str):
        raise InputError("ray", f"{ray!r} is not a Ray address", "give 'local', 'auto' or HOST:PORT")
    fitted = _energy_model(energy_model)
    space = _space(gpu_kinds, tp, precisions, batch_caps, token_budgets, prefix_caching, speculative, max_gpus,
                   frameworks)
    targets = PlanTargets(ttft_p90_ms, ttft_p99_ms, tpot_p90_ms, tpot_p99_ms, headroom, power_budget_w, gpu_budget)
    jobs = []
    for k, profile in enumerate(profiles):
        source = str(profile) if isinstance(profile, (str, Path)) else f"profiles[{k}]"
        try:
            validated, case = _plan_case(profile, rate)
        except InputError as exc:
            if len(profiles) == 1 or source in str(exc):
                raise
            raise InputError(exc.field, f"{exc.problem} (profile {source})", exc.fix) from None
        jobs.append(PlanJob(source, case.workload, case.dep, space, targets, rate, validated.site, gpu_hour_price,
                            validated.name))
    return plan_on_ray(jobs, fitted, ray) if ray is not None else plan_jobs(jobs, fitted, workers)

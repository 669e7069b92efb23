"""What-if studies on one workload: other serving options and GPUs, the FLOPs gap per bin, capacity at a rate.

`compare` never mixes methods silently: each row carries what it rests on, and a saving is computed only against
the profile's own deployment predicted the same way (measured against measured, analytic against analytic). Where the
workload has a rate (or one is given) the options are ranked by their online energy: each option is evaluated as
`plan` evaluates a candidate (`plan_search.evaluate_layout`: the same arrivals, memory check, simulation as `--rate`,
sustainable-rate bound and overload refusal) and its row is `plan`'s row for it (`plan.plan_row`), so the two agree;
an option that cannot be answered (HF, an analytic model, a rate it cannot sustain) is listed as refused with its
reason, never ranked beside the online rows with its offline figure.
`capacity` is `plan` restricted to the layout (GPUs per engine and engines): the same simulation as `--rate`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.fitted import EnergyModel
from energy_predict.gpus import resolve_gpu
from energy_predict.predict.estimate import Estimate, estimate_workload
from energy_predict.predict.padded import padded_batches
from energy_predict.predict.plan import DAY_S, J_PER_KWH, plan, plan_row, precision_name
from energy_predict.predict.plan_search import Evaluated, evaluate_layout
from energy_predict.predict.plan_types import PlanRow, PlanSpace, PlanTargets, SiteFigures, framework_name
from energy_predict.predict.serving import check_online, overload_error
from energy_predict.profile import Site
from energy_predict.serving import Deployment
from energy_predict.workload import Workload

MAX_CAPACITY_GPUS = 1024


def option_effect(model: EnergyModel, dep: Deployment, batch_size, input_tokens, output_tokens) -> np.ndarray:
    """Energy of batches under `dep`'s decoding or speculation over the same batches decoded greedily without it."""
    return (model.batch_phases(dep, batch_size, input_tokens, output_tokens).energy_j
            / model.batch_phases(dep.base, batch_size, input_tokens, output_tokens).energy_j)


def _serving_variants(dep: Deployment, model: EnergyModel, batch_caps: list[int]) -> list[tuple[str, Deployment]]:
    variants = [("profile", dep)]
    s = dep.serving
    if s != s.base:  # what the profile's decoding or speculation saves or costs
        variants.append(("greedy, no speculation" if s.speculative else "greedy decoding", dep.base))
    for option in getattr(model, "configurations", lambda gpu: [])(dep.gpu.name):
        if option.key == s.base.key:
            continue
        # the profile's own limits and options (decoding, speculation, prefix caching) on another configuration
        serving = replace(option, max_batch=s.max_batch, max_num_batched_tokens=s.max_num_batched_tokens,
                          decoding=s.decoding, beam_width=s.beam_width, speculative=s.speculative,
                          prefix_caching=s.prefix_caching)
        variants.append((serving.label, replace(dep, serving=serving, gpu_count=serving.tensor_parallel
                                                * dep.replicas)))
    for cap in batch_caps:
        if cap != dep.serving.max_batch:
            variants.append((f"batch cap {cap}", dep.with_serving(max_batch=cap)))
    return variants


def _row(label: str, dep: Deployment, est: Estimate, w: Workload | None = None, model=None) -> dict:
    """One option's offline energy: the report's headline (HF: padded batches as generate serves them)."""
    energy, gpu_s = est.energy_j, est.busy_s * dep.serving.tensor_parallel
    padded = padded_batches(w, dep, model) if w is not None and model is not None else None
    if padded:
        energy = padded.energy_per_request_j * est.requests
        gpu_s = padded.engine_s_per_request * est.requests * dep.serving.tensor_parallel
    scale = energy / est.energy_j if est.energy_j else 1.0
    return {"option": label, "serving": dep.serving.label, "max_batch": dep.serving.max_batch, "gpu": dep.gpu.name,
            "basis": est.basis_kind, "energy_kwh": energy / J_PER_KWH, "low_kwh": est.low_j * scale / J_PER_KWH,
            "high_kwh": est.high_j * scale / J_PER_KWH, "total_j_per_output_token": energy / est.output_tokens,
            "gpu_hours": gpu_s / 3600, "hf_padded": bool(padded)}


def _online_row(label: str, e: Evaluated, row: PlanRow) -> dict:
    """One option's online energy over the period, from `plan`'s row for it (the `--rate` report's headline).

    The interval over the period is the row's a day scaled to the period; the row's own figures a day, per request,
    p90 latencies and share of the sustainable rate are kept beside the table's columns (in the JSON).
    """
    res, dep = e.result.result, e.dep
    per_period = res.period_s / DAY_S  # kWh a day -> kWh over the simulated period
    return {"option": label, "serving": dep.serving.label, "max_batch": dep.serving.max_batch, "gpu": dep.gpu.name,
            "basis": row.basis, "energy_kwh": res.energy_j / J_PER_KWH, "low_kwh": row.low_kwh_per_day * per_period,
            "high_kwh": row.high_kwh_per_day * per_period,
            "total_j_per_output_token": res.energy_j / max(res.output_tokens, 1),
            "gpu_hours": res.period_s * dep.gpu_count / 3600, "hf_padded": False,
            "energy_kwh_per_day": row.energy_kwh_per_day, "low_kwh_per_day": row.low_kwh_per_day,
            "high_kwh_per_day": row.high_kwh_per_day, "energy_per_request_j": row.energy_per_request_j,
            "ttft_p90_ms": row.ttft_p90_ms, "tpot_p90_ms": row.tpot_p90_ms, "utilisation": row.utilisation,
            "sustainable_rate_per_s": row.sustainable_rate_per_s}


# compare ranks at the rate with no targets of its own: only what cannot be served at all (the queue grows, or the
# rate is above the engines' sustainable-rate bound) is refused; plan's headroom (80%) is a planning margin
ONLINE_TARGETS = PlanTargets(headroom=1.0)


def _evaluate_online(w: Workload, dep: Deployment, model: EnergyModel, rate: float | None
                    ) -> tuple[Evaluated, PlanRow]:
    """`dep` at `rate` as `plan` answers that candidate: its evaluation and its row (no site figures).

    Raises (as `--rate` does) where it cannot be served: overloaded, or offered above the sustainable-rate bound.
    """
    (e,) = evaluate_layout(w, dep, model, [dep.replicas], ONLINE_TARGETS, rate)
    if e.result.overloaded:
        raise overload_error(e.result)
    if e.misses:
        raise EnergyPredictError(f"--rate: {e.result.offered_rate_per_s:.3g} req/s cannot be sustained by "
                                 f"{dep.gpu_count} x {dep.gpu.name} ({dep.replicas} engine(s), {dep.serving.label}): "
                                 f"{'; '.join(m.line for m in e.misses)}; use more GPUs (or `capacity` to search), "
                                 "or a lower rate")
    return e, plan_row(w, model, e)


@dataclass(frozen=True)
class Comparison:
    """Options ranked by energy (the profile's own first), and why the options left out were refused.

    `rate_per_s`: the rate the options were simulated at (online ranking), None where ranked offline.
    """

    table: pd.DataFrame
    notes: list[str]
    rate_per_s: float | None = None

    @property
    def mode(self) -> str:
        return "offline" if self.rate_per_s is None else "online"


def compare(w: Workload, dep: Deployment, model: EnergyModel, batch_caps: list[int], gpus: list[str],
            analytic: EnergyModel | None = None, on_step=None, rate: float | None = None) -> Comparison:
    """The workload under each option, the profile's own first, with notes on the options refused.

    Online (a `rate`, or the workload's): every row is `plan`'s row for that candidate (`_evaluate_online`), the
    simulation `--rate` runs; an option it cannot answer is refused in the notes. Offline: another GPU is predicted
    by `model` where it can (measured, or transferred: from the sibling GPU, or through the datasheets to a GPU never
    measured, each row with its basis and interval), else by `analytic` (labelled so); the profile's own deployment
    is then also predicted analytically, and those rows' savings are against that row, in a table of their own.
    """
    online = rate is not None or w.rate_per_s is not None
    rows, notes = [], []
    variants = _serving_variants(dep, model, batch_caps)
    total = len(variants) + len(gpus)
    offered = None

    def answer(label: str, variant: Deployment) -> dict:
        nonlocal offered
        if not online:
            return _row(label, variant, estimate_workload(w, variant, model), w, model)
        e, row = _evaluate_online(w, variant, model, rate)
        offered = e.result.offered_rate_per_s
        return _online_row(label, e, row)

    for k, (label, variant) in enumerate(variants):
        if on_step is not None:  # a progress bar's: (options done, options in all)
            on_step(k, total)
        try:
            rows.append(answer(label, variant))
        except EnergyPredictError as exc:
            if label == "profile" and online and rate is None:  # the profile's rate, which its deployment cannot serve
                notes.append(f"ranked offline: the profile's deployment is not answered online at the profile's "
                             f"rate ({exc})")
                online = False
                rows.append(answer(label, variant))
                continue
            if label == "profile":
                raise
            notes.append(f"{label}: not predicted{' online' if online else ''} ({exc})")
    other = [resolve_gpu(g) for g in gpus]
    analytic_rows = []
    for k, gpu in enumerate(other):
        if on_step is not None:
            on_step(len(variants) + k, total)
        if gpu.name == dep.gpu.name:
            continue
        variant = replace(dep, gpu=gpu)
        try:
            rows.append(answer(gpu.name, variant))
            continue
        except EnergyPredictError as exc:
            if analytic is None or online:  # an analytic model has no step costs to simulate serving with
                notes.append(f"{gpu.name}: not predicted{' online' if online else ''} ({exc})")
                continue
            notes.append(f"{gpu.name}: no measured or transferred model ({str(exc).split(';')[0]}); shown "
                         f"with the analytic {analytic.name} estimate, compared only with the profile's own "
                         "deployment estimated the same way")
        try:
            analytic_rows.append(_row(f"{gpu.name}", variant, estimate_workload(w, variant, analytic)))
        except EnergyPredictError as exc:
            notes.append(f"{gpu.name}: not predicted ({exc})")
    if analytic_rows:
        analytic_rows.insert(0, _row(f"profile ({analytic.name})", dep, estimate_workload(w, dep, analytic)))
    table = _ranked(rows)
    if analytic_rows:
        table = pd.concat([table, _ranked(analytic_rows)], ignore_index=True)
    return Comparison(table, notes, offered if online else None)


def _ranked(rows: list[dict]) -> pd.DataFrame:
    """The first row (a profile's own deployment), then the rest by energy, each with its saving against the first."""
    table = pd.DataFrame(rows)
    table = pd.concat([table.iloc[:1], table.iloc[1:].sort_values("energy_kwh")], ignore_index=True)
    table["saving_pct"] = 100 * (1 - table["energy_kwh"] / table["energy_kwh"].iloc[0])
    table["saving_against"] = table["option"].iloc[0]
    return table


def gap_table(est: Estimate) -> pd.DataFrame:
    """Per bin: the model's energy against the FLOPs/TDP and roofline estimates (ratios above 1: theory is low)."""
    t = est.bins.to_frame()
    t["measured_over_flops_tdp"] = t["energy_j"] / t["flops_tdp_j"]
    t["measured_over_roofline"] = t["energy_j"] / t["roofline_j"]
    total = {"input_bin": "all", "output_bin": "all", "requests": t["requests"].sum(), "energy_j": t["energy_j"].sum(),
             "flops_tdp_j": t["flops_tdp_j"].sum(), "roofline_j": t["roofline_j"].sum()}
    total["measured_over_flops_tdp"] = total["energy_j"] / total["flops_tdp_j"]
    total["measured_over_roofline"] = total["energy_j"] / total["roofline_j"]
    cols = ["input_bin", "output_bin", "requests", "energy_j", "flops_tdp_j", "roofline_j", "measured_over_flops_tdp",
            "measured_over_roofline"]
    return pd.concat([t[cols], pd.DataFrame([total])], ignore_index=True)


@dataclass(frozen=True)
class CapacityBasis:
    """The model a capacity answer comes from and what its answer rests on."""

    name: str
    basis: str


@dataclass(frozen=True)
class Capacity:
    """The plan's recommended layout for a rate on the profile's GPU, precision and limits: GPUs, engines, TP.

    `utilization` is the offered rate's share of the rate the GPUs sustain (at most the headroom); `time_busy` is
    the share of the period the engines were stepping, which is near 1 at any rate that keeps a batch running.
    """

    rate_per_s: float
    requests_per_day: float
    gpus: int
    replicas: int
    tensor_parallel: int
    gpu: str
    serving: str
    batch_cap: int
    utilization: float
    time_busy: float
    headroom: float
    sustainable_rate_per_s: float
    ttft_p90_s: float | None
    tpot_p90_s: float | None
    latency_target_s: float | None
    busy_kwh_per_day: float
    idle_kwh_per_day: float
    total_kwh_per_day: float
    low_kwh_per_day: float
    high_kwh_per_day: float
    idle_power_w: float
    energy_per_request_j: float
    mean_power_per_gpu_w: float | None
    peak_power_w: float
    site: SiteFigures | None
    model: CapacityBasis
    method: str

    def to_json(self) -> dict:
        return asdict(self)


def capacity(w: Workload, dep: Deployment, model: EnergyModel, rate_per_s: float,
             ttft_p90_s: float | None = None, headroom: float = 0.8, site: Site | None = None) -> Capacity:
    """`plan` restricted to the layout axis (GPUs per engine and engines) on the profile's GPU, precision and limits.

    The figures are those of `energy-predict --rate R --gpu-count N` for the chosen layout: the same simulation.
    """
    if not np.isfinite(rate_per_s) or rate_per_s <= 0:
        raise InputError("--rate", "must be a finite number > 0", "give the request rate in requests per second")
    s = dep.serving
    check_online(dep)  # the profile's engine is capacity's: refused as --rate refuses it (HF has no server)
    engine = framework_name(s.framework, s.cuda_graphs, s.compile)
    space = PlanSpace(gpus=(dep.gpu.name,), precisions=(precision_name(dep),), batch_caps=(s.max_batch,),
                      token_budgets=(s.max_num_batched_tokens,), prefix_caching=(s.prefix_caching,),
                      max_gpus=MAX_CAPACITY_GPUS, frameworks=(engine,) if engine else None)
    targets = PlanTargets(ttft_p90_ms=None if ttft_p90_s is None else 1000 * ttft_p90_s, headroom=headroom)
    try:
        p = plan(w, dep, model, space, targets, rate_per_s, site)
    except InputError:
        raise
    except EnergyPredictError as exc:
        text = str(exc)
        if not text.startswith("plan:"):
            raise
        raise EnergyPredictError("--rate: " + text.removeprefix("plan: ").replace("--ttft-p90-ms", "--latency-p90-s")
                                 ) from None
    r = p.recommended
    c = r.candidate
    day_s = 86400.0
    return Capacity(
        rate_per_s=rate_per_s, requests_per_day=rate_per_s * day_s, gpus=c.gpus, replicas=c.replicas,
        tensor_parallel=c.tp, gpu=c.gpu, serving=replace(s, tensor_parallel=c.tp).label, batch_cap=c.batch_cap,
        utilization=r.utilisation, time_busy=r.time_busy, headroom=headroom,
        sustainable_rate_per_s=r.sustainable_rate_per_s,
        ttft_p90_s=None if r.ttft_p90_ms is None else r.ttft_p90_ms / 1000,
        tpot_p90_s=None if r.tpot_p90_ms is None else r.tpot_p90_ms / 1000, latency_target_s=ttft_p90_s,
        busy_kwh_per_day=r.busy_kwh_per_day, idle_kwh_per_day=r.idle_kwh_per_day,
        total_kwh_per_day=r.energy_kwh_per_day, low_kwh_per_day=r.low_kwh_per_day,
        high_kwh_per_day=r.high_kwh_per_day, idle_power_w=model.loaded_idle_w(dep),
        energy_per_request_j=r.energy_per_request_j, mean_power_per_gpu_w=r.mean_power_w / c.gpus,
        peak_power_w=r.peak_power_w, site=r.site, model=CapacityBasis(model.name, r.basis),
        method="plan over the layout (GPUs per engine x engines) on the profile's GPU, precision and limits: the "
               f"least energy a day whose simulated serving (as --rate) meets the TTFT target at most {headroom:g} "
               "of the sustainable rate",
    )

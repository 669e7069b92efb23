"""What-if studies on one workload: other serving options and GPUs, the FLOPs gap per bin, capacity at a rate.

`compare` never mixes methods silently: each row carries what it rests on, and a saving is computed only against
the profile's own deployment predicted the same way (measured against measured, analytic against analytic).
`capacity` searches GPU counts with the same simulation the `--rate` report uses.
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
from energy_predict.predict.serving import simulate_deployment, summary
from energy_predict.serving import Deployment
from energy_predict.workload import Workload

MAX_CAPACITY_GPUS = 1024
PROBE_REQUESTS = 4000  # requests per probe simulation while capacity searches GPU counts


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
            "basis": est.basis_kind, "energy_kwh": energy / 3.6e6, "low_kwh": est.low_j * scale / 3.6e6,
            "high_kwh": est.high_j * scale / 3.6e6, "total_j_per_output_token": energy / est.output_tokens,
            "gpu_hours": gpu_s / 3600, "hf_padded": bool(padded)}


@dataclass(frozen=True)
class Comparison:
    """Options ranked by offline energy (the profile's own first), and why the options left out were refused."""

    table: pd.DataFrame
    notes: list[str]


def compare(w: Workload, dep: Deployment, model: EnergyModel, batch_caps: list[int], gpus: list[str],
            analytic: EnergyModel | None = None, on_step=None) -> Comparison:
    """The workload under each option, the profile's own first, with notes on the options refused.

    Another GPU is predicted by `model` where it can (measured, or transferred: from the sibling GPU, or through
    the datasheets to a GPU never measured, each row with its basis and interval), else by `analytic` (labelled
    so); the profile's own deployment is then also predicted analytically, and those rows' savings are against that
    row, in a table of their own.
    """
    rows, notes = [], []
    variants = _serving_variants(dep, model, batch_caps)
    total = len(variants) + len(gpus)
    for k, (label, variant) in enumerate(variants):
        if on_step is not None:  # a progress bar's: (options done, options in all)
            on_step(k, total)
        try:
            rows.append(_row(label, variant, estimate_workload(w, variant, model), w, model))
        except EnergyPredictError as exc:
            if label == "profile":
                raise
            notes.append(f"{label}: not predicted ({exc})")
    other = [resolve_gpu(g) for g in gpus]
    analytic_rows = []
    for k, gpu in enumerate(other):
        if on_step is not None:
            on_step(len(variants) + k, total)
        if gpu.name == dep.gpu.name:
            continue
        variant = replace(dep, gpu=gpu)
        try:
            rows.append(_row(gpu.name, variant, estimate_workload(w, variant, model), w, model))
            continue
        except EnergyPredictError as exc:
            if analytic is None:
                notes.append(f"{gpu.name}: not predicted ({exc})")
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
    return Comparison(table, notes)


def _ranked(rows: list[dict]) -> pd.DataFrame:
    """The first row (a profile's own deployment), then the rest by energy, each with its saving against the first."""
    table = pd.DataFrame(rows)
    table = pd.concat([table.iloc[:1], table.iloc[1:].sort_values("energy_kwh")], ignore_index=True)
    table["saving_pct"] = 100 * (1 - table["energy_kwh"] / table["energy_kwh"].iloc[0])
    table["saving_against"] = table["option"].iloc[0]
    return table


def gap_table(est: Estimate) -> pd.DataFrame:
    """Per bin: the model's energy against the FLOPs/TDP and roofline estimates (ratios above 1: theory is low)."""
    t = est.bins.copy()
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
    """The model a capacity answer comes from and what its offline answer rests on."""

    name: str
    basis: str


@dataclass(frozen=True)
class Capacity:
    """The fewest GPUs that serve a rate within a TTFT target, and what they draw a day (kWh) and per request (J)."""

    rate_per_s: float
    requests_per_day: float
    gpus: int
    replicas: int
    gpu: str
    serving: str
    batch_cap: int
    utilization: float
    ttft_p90_s: float | None
    tpot_p90_s: float | None
    latency_target_s: float | None
    busy_kwh_per_day: float
    idle_kwh_per_day: float
    total_kwh_per_day: float
    idle_power_w: float
    energy_per_request_j: float
    mean_power_per_gpu_w: float | None
    model: CapacityBasis
    method: str

    def to_json(self) -> dict:
        return asdict(self)


def capacity(w: Workload, dep: Deployment, model: EnergyModel, rate_per_s: float,
             ttft_p90_s: float | None = None) -> Capacity:
    """The fewest GPUs (whole engines) that sustain `rate_per_s` within the TTFT target, from the online simulation.

    The figures are those of `energy-predict --rate R --gpus N` for the chosen N: the same simulation, the same
    sampled requests, so the two agree.
    """
    if not np.isfinite(rate_per_s) or rate_per_s <= 0:
        raise InputError("--rate", "must be a finite number > 0", "give the request rate in requests per second")
    tp = dep.serving.tensor_parallel
    cache: dict[tuple[int, bool], object] = {}

    def run(replicas: int, full: bool):
        """The simulation at a count: the full one (what --rate runs), or a probe of a few thousand requests."""
        if (replicas, full) not in cache:
            cache[(replicas, full)] = simulate_deployment(w, replace(dep, gpu_count=replicas * tp), model, rate_per_s,
                                                          max_requests=None if full else PROBE_REQUESTS)
        return cache[(replicas, full)]

    def ok(replicas: int, full: bool = False) -> bool:
        r = run(replicas, full)
        p90 = summary(r).ttft_s.p90
        return not r.overloaded and (ttft_p90_s is None or (p90 is not None and p90 <= ttft_p90_s))

    def refuse():
        return EnergyPredictError(f"--rate: {rate_per_s:g} req/s is not served within the target by "
                                  f"{MAX_CAPACITY_GPUS} GPUs; lower the rate or relax --latency-p90-s")

    hi = 1  # probes find the count quickly; the full simulation then confirms it (and steps up where it must)
    while not ok(hi):
        if hi * tp >= MAX_CAPACITY_GPUS:
            raise refuse()
        hi = min(hi * 2, MAX_CAPACITY_GPUS // tp)
    lo = hi // 2 + 1 if hi > 1 else 1
    while lo < hi:  # the fewest replicas that pass, between the last failing and the first passing count
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    while hi > 1 and ok(hi - 1, full=True):
        hi -= 1
    while not ok(hi, full=True):
        if (hi + 1) * tp > MAX_CAPACITY_GPUS:
            raise refuse()
        hi += 1
    r = run(hi, True)
    s = summary(r)
    res = r.result
    day = 86400.0
    scale = day / res.period_s
    return Capacity(
        rate_per_s=rate_per_s, requests_per_day=rate_per_s * day, gpus=hi * tp, replicas=hi,
        gpu=dep.gpu.name, serving=dep.serving.label, batch_cap=dep.serving.max_batch,
        utilization=s.gpu_utilization, ttft_p90_s=s.ttft_s.p90, tpot_p90_s=s.tpot_s.p90,
        latency_target_s=ttft_p90_s,
        busy_kwh_per_day=res.busy_energy_j * scale / 3.6e6, idle_kwh_per_day=res.idle_energy_j * scale / 3.6e6,
        total_kwh_per_day=res.energy_j * scale / 3.6e6, idle_power_w=model.loaded_idle_w(dep),
        energy_per_request_j=res.energy_j / max(res.requests, 1),
        mean_power_per_gpu_w=s.mean_power_per_gpu_w,
        model=CapacityBasis(model.name, estimate_workload(w, dep, model).basis_kind),
        method="smallest GPU count whose simulated serving keeps up and meets the TTFT target "
               "(the same simulation as --rate)",
    )

"""Online estimates for a deployment: arrivals at a rate, continuous batching per engine, idle power; rate sweeps.

A deployment of `gpu_count` GPUs runs `gpu_count / tensor_parallel` engines (replicas); requests are dealt to them
round-robin. Every online answer (the `--rate` report, `capacity`, `sweep-rate`) comes from `simulate_deployment`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.fitted import EnergyModel
from energy_predict.memory import check_feasible, kv_token_capacity
from energy_predict.predict.estimate import workload_prefix_reuse
from energy_predict.predict.online import Engine, OnlineResult, poisson_arrivals, simulate
from energy_predict.prefix import PrefixReuse
from energy_predict.serving import Deployment
from energy_predict.workload import Workload

DEFAULT_PERIOD_S = 3600.0


def engine_for(dep: Deployment, model: EnergyModel) -> Engine:
    """One engine's scheduling limits, KV capacity and power bounds."""
    tp = dep.serving.tensor_parallel
    return Engine(max_num_seqs=dep.serving.max_batch, max_num_batched_tokens=dep.serving.max_num_batched_tokens,
                  kv_capacity_tokens=kv_token_capacity(dep), idle_w=model.loaded_idle_w(dep) * tp,
                  tdp_w=dep.gpu.tdp_w * tp)


@dataclass(frozen=True)
class Requests:
    """Requests' lengths, in tokens (outputs at least 1)."""

    input_tokens: np.ndarray
    output_tokens: np.ndarray


@dataclass(frozen=True)
class Arrivals(Requests):
    """Requests arriving at times (s) over a period (s)."""

    arrival_s: np.ndarray
    period_s: float


def sample_requests(w: Workload, n: int, seed: int) -> Requests:
    """N requests drawn from the workload's length distribution (its weights)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(w.weight), size=n, p=w.weight / w.weight.sum())
    return Requests(w.input_tokens[idx], np.maximum(w.output_tokens[idx], 1))


MAX_SIMULATED_REQUESTS = 2_000_000


def arrivals_for(w: Workload, rate: float | None, seed: int, max_requests: int | None = None) -> Arrivals:
    """The trace's own arrivals (rescaled to `rate`), else Poisson arrivals of requests sampled from the workload."""
    if w.arrival_s is not None and len(w.arrival_s) == len(w.input_tokens) and max_requests is None:
        t = w.arrival_s - w.arrival_s.min()
        span = float(t.max()) or 1.0
        if rate is not None:
            t = t * (len(t) / rate) / span
        return Arrivals(w.input_tokens, np.maximum(w.output_tokens, 1), t, float(t.max()))
    asked = rate
    rate = rate if rate is not None else w.rate_per_s
    if rate is None or not np.isfinite(rate) or rate <= 0:
        raise InputError("--rate", "online serving needs a finite request rate above 0",
                         "give --rate or workload.rate_per_s")
    period = w.period_s or DEFAULT_PERIOD_S
    n = int(round(rate * period)) if max_requests is None else max_requests
    if n > MAX_SIMULATED_REQUESTS:
        raise InputError("--rate" if asked is not None else "workload.rate_per_s",
                         f"{rate:g} req/s over {period:g} s is {n:,} requests, more than the simulator's "
                         f"{MAX_SIMULATED_REQUESTS:,}", "give a lower rate or a shorter workload.period_s")
    if n < 1:
        raise InputError("--rate" if asked is not None else "workload.rate_per_s",
                         f"{rate:g} req/s over the period of {period:g} s is less than one request",
                         "give a higher rate or a longer workload.period_s")
    sampled = sample_requests(w, n, seed)
    t = poisson_arrivals(n, rate, seed)
    return Arrivals(sampled.input_tokens, sampled.output_tokens, t,
                    max(period if max_requests is None else n / rate, float(t.max())))


@dataclass(frozen=True)
class DeploymentResult:
    """An online simulation of a whole deployment: the sum over its engines."""

    dep: Deployment
    result: OnlineResult  # totals over all engines
    offered_rate_per_s: float
    sustainable_rate_per_s: float | None  # where overloaded: what the engines did serve

    @property
    def overloaded(self) -> bool:
        return self.result.overloaded


def _engine_progress(on_progress: Callable[[int, int], None] | None, g: int, engines: int,
                     requests: int) -> Callable[[int, int], None] | None:
    """Engine g's progress as the deployment's: the engines before it are done (they run one after another)."""
    if on_progress is None:
        return None
    before = sum(len(range(e, requests, engines)) for e in range(g))
    return lambda arrived, _: on_progress(before + arrived, requests)


def check_online(dep: Deployment) -> None:
    """Refuse what cannot be served online: HF `generate` serves fixed batches, with no server to simulate."""
    if dep.serving.framework == "hf":
        raise EnergyPredictError(
            "serving.framework: online serving is simulated with vLLM's continuous-batching scheduler; HF "
            "transformers `generate` serves fixed batches and has no such server, so an online HF answer would "
            "rest on nothing measured; use framework vllm, or drop --rate for HF's offline padded batches")


def simulate_deployment(w: Workload, dep: Deployment, model: EnergyModel, rate: float | None = None,
                        seed: int = 0, max_requests: int | None = None,
                        prefix: PrefixReuse | None = None,
                        on_progress: Callable[[int, int], None] | None = None) -> DeploymentResult:
    """Simulate every engine of the deployment (requests dealt round-robin) and add their results.

    `prefix`: the prefix reuse (default: the workload's): each request skips that share of its prompt in prefill.
    `on_progress(arrived, requests)`: the requests the engines have taken in so far, of all (a progress bar's).

    Every online answer comes through here (--rate, capacity, sweep-rate), so what cannot be served online is
    refused here: HF `generate` serves fixed batches and has no continuous-batching server to simulate.
    """
    check_online(dep)
    costs = model.step_costs(dep)  # refuses where the model has no basis for the deployment
    arrivals = arrivals_for(w, rate, seed, max_requests)
    inputs, outputs, t, period = arrivals.input_tokens, arrivals.output_tokens, arrivals.arrival_s, arrivals.period_s
    check_feasible(dep, inputs, outputs)
    if prefix is None:
        prefix = workload_prefix_reuse(w, dep)
    cached = prefix.cached_tokens(inputs)
    engine = engine_for(dep, model)
    k = dep.replicas
    parts = [simulate(inputs[g::k], outputs[g::k], t[g::k], costs.energy, costs.time, engine, period_s=period,
                      cached=cached[g::k], on_progress=_engine_progress(on_progress, g, k, len(inputs)))
             for g in range(k)]
    if on_progress is not None:
        on_progress(len(inputs), len(inputs))
    over = any(p.overloaded for p in parts)
    span = max(p.period_s for p in parts)
    idle = sum(p.idle_energy_j + (span - p.period_s) * engine.idle_w for p in parts)
    busy = sum(p.busy_energy_j for p in parts)
    total = OnlineResult(
        sum(p.requests for p in parts), sum(p.completed for p in parts), span, busy + idle, busy, idle,
        sum(p.prefill_j for p in parts), sum(p.decode_j for p in parts), sum(p.busy_s for p in parts) / k,
        sum(p.input_tokens for p in parts), sum(p.output_tokens for p in parts),
        np.concatenate([p.ttft_s for p in parts]), np.concatenate([p.tpot_s for p in parts]),
        sum(p.preemptions for p in parts), over, sum(p.backlog for p in parts),
        prefill_tokens_skipped=sum(p.prefill_tokens_skipped for p in parts),
        peak_power_w=sum(p.peak_power_w for p in parts),  # as if every engine peaked at once: an upper figure
        max_running=max(p.max_running for p in parts), budget_limited=any(p.budget_limited for p in parts),
        max_step_tokens=max(p.max_step_tokens for p in parts),
        arrival_rate_per_s=sum(p.offered_while_saturated_per_s for p in parts) if over else None)
    offered = len(inputs) / period if period else float(rate or 0.0)
    sustainable = sum(p.served_rate_per_s for p in parts) if over else None
    return DeploymentResult(dep, total, offered, sustainable)


def overload_error(r: DeploymentResult) -> EnergyPredictError:
    """The one line that says a rate cannot be sustained, with the rate that can and how to get there.

    The served rate is measured while the engines were saturated; the rate offered then is stated beside it (a
    trace's rate varies: over the whole period it may be below what the engines serve), so the queue's growth is
    their difference over one span of time.
    """
    served = max(r.sustainable_rate_per_s or 1e-9, 1e-9)
    offered = r.result.offered_while_saturated_per_s
    need = int(np.ceil(max(offered, r.offered_rate_per_s) / served * r.dep.replicas))
    tp = r.dep.serving.tensor_parallel
    return EnergyPredictError(
        f"--rate: {r.offered_rate_per_s:.3g} req/s cannot be sustained by {r.dep.gpu_count} x {r.dep.gpu.name} "
        f"({r.dep.replicas} engine(s), {r.dep.serving.label}): while they were saturated {offered:.3g} req/s arrived "
        f"and they served about {served:.3g} req/s, so the queue grows by {offered - served:.3g} req/s; use "
        f"--gpu-count {max(need, r.dep.replicas + 1) * tp} or more (or `capacity` to search), or a lower rate")


@dataclass(frozen=True)
class Quantiles:
    """The median and p90 of a latency over completed requests (s); None where none completed."""

    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class OnlineSummary:
    """The `online` block of a report: energy at the rate (kWh), utilisation, idle share, latency (s)."""

    rate_per_s: float
    gpus: int
    replicas: int
    requests: int
    period_s: float
    busy_kwh: float
    idle_kwh: float
    idle_share: float | None
    gpu_utilization: float
    preemptions: int
    mean_power_per_gpu_w: float | None
    ttft_s: Quantiles
    tpot_s: Quantiles
    overloaded: bool
    sustainable_rate_per_s: float | None
    method: str


def summary(r: DeploymentResult) -> OnlineSummary:
    """The `online` block of a report: energy at the rate, utilisation, idle share, latency."""
    res = r.result

    def q(x, p):
        return float(np.quantile(x, p)) if len(x) else None

    tp = r.dep.serving.tensor_parallel
    return OnlineSummary(
        rate_per_s=r.offered_rate_per_s, gpus=r.dep.gpu_count, replicas=r.dep.replicas,
        requests=res.requests, period_s=res.period_s,
        busy_kwh=res.busy_energy_j / 3.6e6, idle_kwh=res.idle_energy_j / 3.6e6,
        idle_share=res.idle_energy_j / res.energy_j if res.energy_j else None,
        gpu_utilization=res.utilization, preemptions=res.preemptions,
        mean_power_per_gpu_w=res.energy_j / (res.period_s * r.dep.replicas * tp) if res.period_s else None,
        ttft_s=Quantiles(q(res.ttft_s, 0.5), q(res.ttft_s, 0.9)), tpot_s=Quantiles(q(res.tpot_s, 0.5),
                                                                                   q(res.tpot_s, 0.9)),
        overloaded=r.overloaded, sustainable_rate_per_s=r.sustainable_rate_per_s,
        method="continuous-batching simulation (vLLM-like scheduler, chunked prefill, KV-cache limit with "
               "preemption) with step energies from the model and the measured loaded-idle power",
    )


@dataclass(frozen=True)
class RatePoint:
    """One (rate, GPU count) of a rate sweep; energy, idle share and latencies are None where it is overloaded."""

    rate_per_s: float
    gpus: int
    overloaded: bool
    energy_per_request_j: float | None
    gpu_utilization: float
    idle_share: float | None
    ttft_p90_s: float | None
    tpot_p90_s: float | None
    meets_latency: bool


@dataclass(frozen=True)
class RateSweep:
    """Energy per request at each (rate, GPU count), in the order simulated."""

    points: tuple[RatePoint, ...]

    @property
    def rates(self) -> list[float]:
        return sorted({p.rate_per_s for p in self.points})

    def best_gpus(self, rate: float) -> int | None:
        """The GPU count with the least energy per request at `rate` among those meeting the latency target."""
        ok = [p for p in self.points if p.rate_per_s == rate and p.meets_latency]
        return min(ok, key=lambda p: p.energy_per_request_j).gpus if ok else None

    def to_json(self) -> dict:
        """The points, and the energy-optimal GPU count per rate (keyed by the rate as text)."""
        return {"points": [asdict(p) for p in self.points],
                "best_gpus": {str(rate): self.best_gpus(rate) for rate in self.rates}}


def sweep_rates(w: Workload, dep: Deployment, model: EnergyModel, rates: list[float], max_gpus: int,
                ttft_p90_s: float | None = None) -> RateSweep:
    """Energy per request for each (rate, GPU count): `plan`'s evaluation of the profile's engine at 1, 2, ... engines.

    Each point is the candidate `plan` would simulate at that rate and GPU count (`plan_search.evaluate_layout`), which
    is the simulation `--rate R --gpu-count N` runs, so the three agree. A point meets the latency target where it
    keeps up and its p90 TTFT is within `ttft_p90_s`.
    """
    from energy_predict.predict.plan_search import evaluate_layout
    from energy_predict.predict.plan_types import PlanTargets

    points = []
    tp = dep.serving.tensor_parallel
    targets = PlanTargets(ttft_p90_ms=None if ttft_p90_s is None else 1000 * ttft_p90_s)
    for rate in rates:
        for e in evaluate_layout(w, dep, model, list(range(1, max_gpus // tp + 1)), targets, rate):
            r = e.result
            s = summary(r)
            ok = not r.overloaded
            points.append(RatePoint(
                rate_per_s=rate, gpus=r.dep.gpu_count, overloaded=r.overloaded,
                energy_per_request_j=r.result.energy_j / max(r.result.requests, 1) if ok else None,
                gpu_utilization=s.gpu_utilization, idle_share=s.idle_share if ok else None,
                ttft_p90_s=s.ttft_s.p90 if ok else None, tpot_p90_s=s.tpot_s.p90 if ok else None,
                meets_latency=ok and (ttft_p90_s is None or (s.ttft_s.p90 or 0) <= ttft_p90_s)))
    return RateSweep(tuple(points))

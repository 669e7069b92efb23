"""The search behind `plan`: enumerate candidates, bound them cheaply, simulate the few that can still win.

An engine configuration (GPU, TP, precision, batch cap, token budget, prefix caching, speculation, engine kind)
is a family; its candidates
differ in the number of engines (replicas). Per family: the model must answer (measured or transferred) and the
weights and KV cache must fit; then `plan_bounds` says, without simulating, which replica counts cannot meet the
headroom, a latency target (a lone request already misses it) or the power budget. Families are simulated in the
order of their optimistic energy; a candidate whose optimistic energy (at its interval's low end) is above the best
row's pessimistic energy (its interval's high end) is pruned. In a family the replica count grows until the targets
are met (energy rises with every idle engine, so more are not needed). A simulation whose batch cap and token
budget never bound answers for every cap and budget above them: it is reused, not rerun.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.fitted import EnergyModel
from energy_predict.gpus import resolve_gpu
from energy_predict.memory import check_feasible
from energy_predict.predict.estimate import workload_prefix_reuse
from energy_predict.predict.plan_bounds import EngineBounds, engine_bounds, lone_floors, optimistic_energy_j
from energy_predict.predict.plan_types import (
    DEFAULT_FRAMEWORK,
    FRAMEWORKS,
    MAX_CANDIDATES,
    PRECISIONS,
    Candidate,
    Miss,
    PlanTargets,
    framework_name,
)
from energy_predict.predict.serving import (
    Arrivals,
    DeploymentResult,
    arrivals_for,
    check_online,
    engine_for,
    simulate_deployment,
)
from energy_predict.serving import Deployment, Speculation
from energy_predict.workload import Workload


@dataclass(frozen=True)
class Family:
    """An engine configuration: a candidate without its replica count."""

    gpu: str
    tp: int
    precision: str
    batch_cap: int
    token_budget: int
    prefix_caching: bool
    speculative: Speculation | None = None
    framework: str = DEFAULT_FRAMEWORK  # a name of plan_types.FRAMEWORKS

    @property
    def label(self) -> str:
        """The engine as the notes name a refused one: GPU, TP, precision, engine kind (where not vllm), speculation."""
        engine = f" {self.framework}" if self.framework != DEFAULT_FRAMEWORK else ""
        spec = f" {self.speculative.label}" if self.speculative else ""
        return f"{self.gpu} TP{self.tp} {self.precision}{engine}{spec}"

    def candidate(self, replicas: int) -> Candidate:
        return Candidate(self.gpu, self.tp, replicas, self.precision, self.batch_cap, self.token_budget,
                         self.prefix_caching, self.speculative, self.framework)

    def deployment(self, base: Deployment, replicas: int = 1) -> Deployment:
        framework, cuda_graphs, compile_ = FRAMEWORKS[self.framework]
        serving = base.serving.with_(tensor_parallel=self.tp, quantization=PRECISIONS[self.precision],
                                     max_batch=self.batch_cap, max_num_batched_tokens=self.token_budget,
                                     prefix_caching=self.prefix_caching, speculative=self.speculative,
                                     framework=framework, cuda_graphs=cuda_graphs, compile=compile_)
        return replace(base, gpu=resolve_gpu(self.gpu), serving=serving, gpu_count=self.tp * replicas)


@dataclass(frozen=True)
class Evaluated:
    """A simulated candidate: its deployment, the simulation's result and the targets it misses."""

    candidate: Candidate
    dep: Deployment
    result: DeploymentResult
    sustainable_rate_per_s: float  # of the whole deployment (engines x the engine's bound)
    misses: tuple[Miss, ...]
    high_factor: float  # the basis's interval high end, as a multiple (for pruning)
    low_factor: float = 1.0  # its low end

    @property
    def high_j(self) -> float:
        """The pessimistic energy over the period (J): the simulated energy at the basis's high end."""
        return self.result.result.energy_j * self.high_factor

    @property
    def low_j(self) -> float:
        return self.result.result.energy_j * self.low_factor


@dataclass(frozen=True)
class BoundMiss:
    """A candidate found infeasible by a bound, without simulating it."""

    candidate: Candidate
    misses: tuple[Miss, ...]


@dataclass
class SearchResult:
    """What the search found (mutable while it runs; `plan` turns it into typed rows)."""

    evaluated: list[Evaluated]
    bound_misses: list[BoundMiss]
    refused: dict[str, str]  # family label -> why the model or memory refused it
    chosen: list[Evaluated] = field(default_factory=list)  # per family, the fewest engines that meet the targets
    candidates: int = 0
    refused_by_model: int = 0
    refused_by_memory: int = 0
    infeasible_by_bound: int = 0
    pruned_by_bound: int = 0
    not_needed: int = 0
    simulated: int = 0
    reused: int = 0


def _latency_misses(targets: PlanTargets, ttft_s: tuple, tpot_s: tuple, floor: bool) -> list[Miss]:
    """Latency targets missed by p90/p99 figures in seconds (`floor`: lone-request floors, named so)."""
    what = " (a request alone)" if floor else ""
    pairs = [("p90 TTFT ms", ttft_s[0], targets.ttft_p90_ms), ("p99 TTFT ms", ttft_s[1], targets.ttft_p99_ms),
             ("p90 TPOT ms", tpot_s[0], targets.tpot_p90_ms), ("p99 TPOT ms", tpot_s[1], targets.tpot_p99_ms)]
    return [Miss(name + what, 1000 * value, limit) for name, value, limit in pairs
            if limit is not None and value is not None and 1000 * value > limit]


def _quantiles(x: np.ndarray) -> tuple[float | None, float | None]:
    """p90 and p99 of a latency array (s), in one pass; None where it is empty."""
    if not len(x):
        return None, None
    p90, p99 = np.quantile(x, [0.9, 0.99])
    return float(p90), float(p99)


def simulated_misses(r: DeploymentResult, sustainable_rate_per_s: float, targets: PlanTargets) -> tuple[Miss, ...]:
    """The targets a simulated deployment misses: overload, headroom, latencies, peak power, GPUs."""
    misses = []
    if r.overloaded:
        misses.append(Miss("offered req/s over served req/s (while saturated)",
                           r.result.offered_while_saturated_per_s, r.sustainable_rate_per_s or 1e-9))
    utilisation = r.offered_rate_per_s / sustainable_rate_per_s if sustainable_rate_per_s else float("inf")
    if utilisation > targets.headroom:
        misses.append(Miss("utilisation (share of the sustainable rate)", utilisation, targets.headroom))
    if not r.overloaded:
        misses += _latency_misses(targets, _quantiles(r.result.ttft_s), _quantiles(r.result.tpot_s),
                                  floor=False)
    if targets.power_budget_w is not None and r.result.peak_power_w > targets.power_budget_w:
        misses.append(Miss("peak power W", r.result.peak_power_w, targets.power_budget_w))
    if targets.gpu_budget is not None and r.dep.gpu_count > targets.gpu_budget:
        misses.append(Miss("GPUs", r.dep.gpu_count, targets.gpu_budget))
    return tuple(misses)


def count_candidates(families: list[Family], max_gpus: int) -> int:
    """Candidates of the families: each with 1 .. max_gpus / TP engines."""
    return sum(max_gpus // f.tp for f in families)


def check_space(families: list[Family], max_gpus: int, requests: int = 0) -> int:
    """The number of candidates; refused (InputError) beyond MAX_CANDIDATES, with how to narrow it.

    Also refused: `requests` (a simulation's) beyond MAX_PLAN_REQUESTS, where every candidate would take minutes.
    """
    from energy_predict.predict.plan_types import MAX_PLAN_REQUESTS

    n = count_candidates(families, max_gpus)
    if n > MAX_CANDIDATES:
        raise InputError("plan", f"the search space holds {n:,} candidates, more than the bound of "
                         f"{MAX_CANDIDATES:,}", "narrow it: a lower --max-gpus, or fewer --gpu-kinds, --tp, "
                         "--precisions, --frameworks, --batch-caps or --token-budgets")
    if requests > MAX_PLAN_REQUESTS:
        raise InputError("plan", f"each candidate would simulate {requests:,} requests, more than the bound of "
                         f"{MAX_PLAN_REQUESTS:,}", "give a lower --rate or a shorter workload.period_s (the plan "
                         "holds for any period long enough to reach a steady state)")
    return n


_WORKER: dict = {}  # a pool worker's workload, model and rate (set once, by `_start_worker`)


def _start_worker(w: Workload, model: EnergyModel, rate: float | None) -> None:
    _WORKER.update(w=w, model=model, rate=rate)


def _simulate_in_worker(dep: Deployment) -> DeploymentResult:
    return simulate_deployment(_WORKER["w"], dep, _WORKER["model"], _WORKER["rate"], seed=0)


class _Simulations:
    """A candidate's simulation, run here (one worker) or fetched ahead on a process pool (`workers` above 1).

    The search decides what to simulate exactly as with one worker; the pool only runs ahead on the simulations it
    is likely to ask for next (each upcoming engine configuration at its first engine count), so the answer and
    the counts are the same for any number of workers, and a simulation fetched ahead and never asked for is lost
    work, not a different answer.
    """

    def __init__(self, w: Workload, model: EnergyModel, rate: float | None, workers: int) -> None:
        self.w, self.model, self.rate, self.workers = w, model, rate, workers
        self.pool = None
        self.ahead: dict[tuple, object] = {}  # (family, replicas) -> future
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(w, model, rate))

    def fetch_ahead(self, upcoming: list[tuple[Family, Deployment, int]]) -> None:
        """Start the simulations of these (family, one-engine deployment, engines) while the pool has room."""
        if self.pool is None:
            return
        running = sum(1 for f in self.ahead.values() if not f.done())
        for f, dep, replicas in upcoming:
            if running >= self.workers:
                break
            if (f, replicas) not in self.ahead:
                self.ahead[(f, replicas)] = self.pool.submit(_simulate_in_worker,
                                                             replace(dep, gpu_count=f.tp * replicas))
                running += 1

    def get(self, f: Family, dep: Deployment, replicas: int) -> DeploymentResult:
        future = self.ahead.pop((f, replicas), None)
        if future is not None:
            return future.result()
        return simulate_deployment(self.w, replace(dep, gpu_count=f.tp * replicas), self.model, self.rate, seed=0)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class _MemoryRefusal(EnergyPredictError):
    """The weights and KV cache do not fit, or a request exceeds the context."""


class _Reuse:
    """Simulations by layout; a cap or budget that never bound answers for others (the same steps would run)."""

    def __init__(self) -> None:
        self.done: dict[tuple, list[tuple[Family, DeploymentResult]]] = {}

    @staticmethod
    def _layout(f: Family, replicas: int) -> tuple:
        return (f.gpu, f.tp, f.precision, f.prefix_caching, f.speculative, f.framework, replicas)

    def find(self, f: Family, replicas: int) -> DeploymentResult | None:
        for g, r in self.done.get(self._layout(f, replicas), []):
            res = r.result
            if r.overloaded:
                continue
            cap_same = g.batch_cap == f.batch_cap or res.max_running < min(g.batch_cap, f.batch_cap)
            budget_same = g.token_budget == f.token_budget or (
                not res.budget_limited and res.max_step_tokens < min(g.token_budget, f.token_budget))
            if cap_same and budget_same:
                return r
        return None

    def add(self, f: Family, replicas: int, r: DeploymentResult) -> None:
        self.done.setdefault(self._layout(f, replicas), []).append((f, r))


def _engine_bounds(w: Workload, dep: Deployment, model: EnergyModel, arrivals: Arrivals, floors: dict | None = None
                   ) -> tuple[EngineBounds, float, float]:
    """One engine's bounds (`dep`: one engine, its GPU count its TP) and its basis's interval ends as multiples.

    Raises where the engine cannot serve online (HF) or the model has no basis for it, or (`_MemoryRefusal`) where
    weights and KV cache do not fit. `floors`: lone-request floors computed so far in this search, by time costs,
    token budget and cache (they do not depend on the batch cap, so the caps of an engine share them).
    """
    check_online(dep)
    try:  # first: a layout the heads do not split over, or weights that do not fit, is refused whatever the model
        check_feasible(dep, arrivals.input_tokens, arrivals.output_tokens)
    except EnergyPredictError as exc:
        raise _MemoryRefusal(str(exc)) from None
    basis = model.basis(dep)
    costs = model.step_costs(dep)
    cached = workload_prefix_reuse(w, dep).cached_tokens(arrivals.input_tokens)
    budget = dep.serving.max_num_batched_tokens
    lone = None
    if floors is not None:
        key = (costs.time, budget, np.asarray(cached).tobytes())
        if key not in floors:
            i = np.asarray(arrivals.input_tokens, float)
            floors[key] = lone_floors(costs.time, i, np.maximum(np.asarray(arrivals.output_tokens, float), 1.0),
                                      np.minimum(np.asarray(cached, float), i), budget)
        lone = floors[key]
    bounds = engine_bounds(costs.energy, costs.time, engine_for(dep, model), arrivals.input_tokens,
                           arrivals.output_tokens, cached, lone)
    lo, hi = basis.log_bounds
    return bounds, math.exp(lo), math.exp(hi)


def _family_bounds(w: Workload, base: Deployment, model: EnergyModel, f: Family, arrivals: Arrivals,
                   floors: dict | None = None) -> tuple[Deployment, EngineBounds, float, float]:
    """The family's one-engine deployment, its bounds and its basis's interval ends (raises where refused)."""
    dep = f.deployment(base)
    return (dep, *_engine_bounds(w, dep, model, arrivals, floors))


def precision_label(quantization: str | None) -> str:
    """The plan's name of a serving quantization (bf16, fp8), else the quantization's own name."""
    names = {v: k for k, v in PRECISIONS.items()}
    return names.get(quantization, str(quantization))


def evaluate_layout(w: Workload, dep: Deployment, model: EnergyModel, replicas: list[int], targets: PlanTargets,
                    rate: float | None) -> list[Evaluated]:
    """Each engine count of `dep`'s engine (its GPU, TP and serving), answered as `plan` answers a candidate.

    The same arrivals (seed 0), memory check, simulation (`simulate_deployment`, as `--rate` runs it), sustainable-rate
    bound and misses as the search, so `sweep-rate` at a rate and GPU count gives the numbers `plan` gives for that
    candidate. Raises where the model or memory refuse the engine, as the simulation would.
    """
    if not replicas:
        return []
    check_online(dep)
    tp = dep.serving.tensor_parallel
    engine = replace(dep, gpu_count=tp)
    model.step_costs(engine)  # the model's refusal first, as `--rate` says it
    b, lo, hi = _engine_bounds(w, engine, model, arrivals_for(w, rate, seed=0))
    s = engine.serving
    out = []
    for k in replicas:
        r = simulate_deployment(w, replace(engine, gpu_count=tp * k), model, rate, seed=0)
        sustainable = k * b.sustainable_rate_per_s
        candidate = Candidate(engine.gpu.name, tp, k, precision_label(s.quantization), s.max_batch,
                              s.max_num_batched_tokens, s.prefix_caching, s.speculative,
                              framework_name(s.framework, s.cuda_graphs, s.compile) or s.label)
        out.append(Evaluated(candidate, r.dep, r, sustainable, simulated_misses(r, sustainable, targets), hi, lo))
    return out


def search(w: Workload, base: Deployment, model: EnergyModel, families: list[Family], max_gpus: int,
           targets: PlanTargets, rate: float | None, workers: int = 1,
           on_progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Bound, order and simulate the candidates (see the module).

    `workers` above 1: simulations on a process pool run ahead of the search, with the same answer (`_Simulations`).
    `on_progress(done, families)`: called after each family of candidates is searched (a progress bar's).
    """
    sims = _Simulations(w, model, rate, workers)
    try:
        return _search(w, base, model, families, max_gpus, targets, rate, sims, on_progress)
    finally:
        sims.close()


def _search(w: Workload, base: Deployment, model: EnergyModel, families: list[Family], max_gpus: int,
            targets: PlanTargets, rate: float | None, sims: _Simulations,
            on_progress: Callable[[int, int], None] | None = None) -> SearchResult:
    out = SearchResult([], [], {})
    arrivals = arrivals_for(w, rate, seed=0)
    out.candidates = check_space(families, max_gpus, len(arrivals.input_tokens))
    offered = len(arrivals.input_tokens) / arrivals.period_s if arrivals.period_s else float(rate or 0.0)
    period = arrivals.period_s
    ready = []  # (optimistic energy at the first admissible count, family, dep, bounds, lo, hi, first, last)
    floors: dict = {}
    for f in families:
        counts = max_gpus // f.tp
        if counts < 1:
            continue
        try:
            dep, b, lo, hi = _family_bounds(w, base, model, f, arrivals, floors)
        except EnergyPredictError as exc:
            if isinstance(exc, _MemoryRefusal):
                out.refused_by_memory += counts
            else:
                out.refused_by_model += counts
            out.refused[f.label] = " ".join(str(exc).split())
            continue
        floor = _latency_misses(targets, b.ttft_floor_s, b.tpot_floor_s, floor=True)
        if floor:  # no number of engines mends a lone request's latency
            out.infeasible_by_bound += counts
            out.bound_misses.append(BoundMiss(f.candidate(counts), tuple(floor)))
            continue
        first = max(1, math.ceil(min(offered / (targets.headroom * b.sustainable_rate_per_s), counts + 1) - 1e-9))
        last = counts
        if targets.gpu_budget is not None:
            last = min(last, targets.gpu_budget // f.tp)
        if targets.power_budget_w is not None:  # every GPU draws at least its loaded idle
            last = min(last, int(targets.power_budget_w // b.idle_w) if b.idle_w > 0 else last)
        if first > last:
            out.infeasible_by_bound += counts
            r = max(last, 1)
            misses = [Miss("utilisation (share of the sustainable rate)",
                           offered / (r * b.sustainable_rate_per_s), targets.headroom)]
            if targets.power_budget_w is not None and first * b.idle_w > targets.power_budget_w:
                misses.append(Miss("peak power W (idle alone)", first * b.idle_w, targets.power_budget_w))
            if targets.gpu_budget is not None and first * f.tp > targets.gpu_budget:
                misses.append(Miss("GPUs", first * f.tp, targets.gpu_budget))
            out.bound_misses.append(BoundMiss(f.candidate(r), tuple(m for m in misses if m.value > m.limit)))
            continue
        out.infeasible_by_bound += (first - 1) + (counts - last)
        ready.append((optimistic_energy_j(b, first, period) * lo, f, dep, b, lo, hi, first, last))
    ready.sort(key=lambda x: (x[0], -x[1].batch_cap, -x[1].token_budget))
    reuse = _Reuse()
    best: float | None = None  # the best feasible row's pessimistic energy (J over the period)

    def run(f: Family, dep: Deployment, b: EngineBounds, lo: float, hi: float, replicas: int) -> Evaluated:
        r = reuse.find(f, replicas)
        if r is None:
            r = sims.get(f, dep, replicas)
            reuse.add(f, replicas, r)
            out.simulated += 1
        else:
            out.reused += 1
            r = DeploymentResult(replace(dep, gpu_count=f.tp * replicas), r.result, r.offered_rate_per_s,
                                 r.sustainable_rate_per_s)
        sustainable = replicas * b.sustainable_rate_per_s
        e = Evaluated(f.candidate(replicas), r.dep, r, sustainable, simulated_misses(r, sustainable, targets), hi, lo)
        out.evaluated.append(e)
        return e

    for at, (_, f, dep, b, lo, hi, first, last) in enumerate(ready):
        if on_progress is not None:
            on_progress(at, len(ready))
        sims.fetch_ahead([(g[1], g[2], g[6]) for g in ready[at:at + 4 * sims.workers]
                          if best is None or g[0] <= best])
        tried: dict[int, bool] = {}
        replicas, passing = first, None
        while replicas <= last:
            if best is not None and optimistic_energy_j(b, replicas, period, arrivals.arrival_s) * lo > best:
                break
            e = run(f, dep, b, lo, hi, replicas)
            tried[replicas] = e.misses == ()
            if tried[replicas]:
                passing = replicas
                break
            step = replicas - first + 1  # 1, 2, 4, ... engines more: the count that passes is found in log steps
            replicas = min(replicas + step, last) if replicas < last else last + 1
        if passing is not None:  # the fewest that pass, between the last failing count and this one
            lo_r = max([r for r, ok in tried.items() if not ok], default=first - 1) + 1
            hi_r = passing
            while lo_r < hi_r:
                mid = (lo_r + hi_r) // 2
                ok = mid in tried and tried[mid]
                if mid not in tried:
                    e = run(f, dep, b, lo, hi, mid)
                    tried[mid] = ok = e.misses == ()
                if ok:
                    hi_r = mid
                else:
                    lo_r = mid + 1
            passing = hi_r
            chosen = next(e for e in reversed(out.evaluated) if e.candidate == f.candidate(passing))
            out.chosen.append(chosen)
            best = chosen.high_j if best is None else min(best, chosen.high_j)
        top = passing if passing is not None else last  # counts above a passing one are not needed
        out.not_needed += sum(1 for r in range(top + 1, last + 1) if r not in tried)
        out.pruned_by_bound += sum(1 for r in range(first, top + 1) if r not in tried)
    if on_progress is not None:
        on_progress(len(ready), len(ready))
    return out

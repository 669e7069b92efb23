"""`plan`: the energy-optimal deployment of a workload under latency targets, with its interval and basis.

`plan(workload, deployment, model, space, targets)` searches GPU kind, GPUs per engine (TP), engines, precision,
engine kind (vLLM with or without CUDA graphs), batch cap, token budget, prefix caching and speculative decoding
(`plan_search`), answers every candidate it
simulates with the simulation `--rate` runs, and returns a `Plan`: the Pareto front over energy a day, p90 TTFT, p90
TPOT, GPUs and peak power; the recommended row (least energy a day among the rows that meet every target) and why;
each row's basis, interval, site figures, and whether its interval overlaps the recommended one. An infeasible search
is refused with the target that fails first and the closest candidate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.fitted import EnergyModel
from energy_predict.gpus import resolve_gpu
from energy_predict.predict.estimate import estimate_workload
from energy_predict.predict.plan_search import Evaluated, Family, SearchResult, search
from energy_predict.predict.plan_types import (
    DEFAULT_TP,
    FRAMEWORKS,
    PRECISIONS,
    Miss,
    Plan,
    PlanRow,
    PlanSpace,
    PlanTargets,
    SearchCounts,
    SiteFigures,
    framework_name,
)
from energy_predict.profile import Site
from energy_predict.serving import Deployment
from energy_predict.workload import Workload

DAY_S = 86400.0
MAX_WORKERS = 256
J_PER_KWH = 3.6e6
FLAGS = {"p90 TTFT ms": "--ttft-p90-ms", "p99 TTFT ms": "--ttft-p99-ms", "p90 TPOT ms": "--tpot-p90-ms",
         "p99 TPOT ms": "--tpot-p99-ms", "utilisation": "--headroom", "offered": "--max-gpus",
         "peak power": "--power-budget-w", "GPUs": "--gpu-budget"}


def check_workers(workers: object, field: str = "--workers") -> None:
    """Refuse a number of processes that is not a whole number from 1 to MAX_WORKERS (a bool is not one)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise InputError(field, f"{workers!r} is not a number of processes", f"give 1 to {MAX_WORKERS}")

def _flag(target: str) -> str:
    return next((flag for name, flag in FLAGS.items() if target.startswith(name)), "--max-gpus")


def precision_name(dep: Deployment) -> str:
    """The plan's name of a deployment's precision (bf16, fp8)."""
    names = {v: k for k, v in PRECISIONS.items()}
    if dep.serving.quantization not in names:
        raise InputError("serving.quantization", f"{dep.serving.quantization} is not a precision plan searches",
                         f"plan searches {', '.join(PRECISIONS)}")
    return names[dep.serving.quantization]


def _measured_frameworks(model: EnergyModel, gpus: tuple[str, ...]) -> list[str]:
    """The engines (FRAMEWORKS names) the model measured on any of these GPUs that serve online, in FRAMEWORKS order."""
    card = getattr(model, "card", None)
    if card is None:
        return []
    names = {framework_name(k.field("framework"), k.field("cuda_graphs"), k.field("compile"))
             for k in (e.key for e in card.valid.serving_configs) if k.gpu in gpus}
    return [n for n in FRAMEWORKS if n in names and FRAMEWORKS[n][0] != "hf"]


def frameworks_of(dep: Deployment, model: EnergyModel, space: PlanSpace, gpus: tuple[str, ...]) -> tuple[str, ...]:
    """The engine axis: as given (each checked), else the profile's engine and those the model measured (online)."""
    if space.frameworks is not None:
        for name in space.frameworks:
            if name not in FRAMEWORKS:
                raise InputError("--frameworks", f"{name!r} is not an engine plan searches",
                                 f"use {', '.join(FRAMEWORKS)} (vllm: with CUDA graphs; vllm-eager: without)")
        return tuple(dict.fromkeys(space.frameworks))
    s = dep.serving
    own = framework_name(s.framework, s.cuda_graphs, s.compile)
    if own is None:
        raise InputError("serving", f"{s.label} is not an engine plan searches",
                         f"set the profile's serving to one of {', '.join(FRAMEWORKS)}, or give --frameworks")
    return tuple(dict.fromkeys([own, *_measured_frameworks(model, gpus)]))


def families(w: Workload, dep: Deployment, model: EnergyModel, space: PlanSpace) -> list[Family]:
    """Every engine configuration of the space (defaults: PlanSpace's docstring)."""
    measured = list(getattr(getattr(model, "card", None), "valid", None).gpus) if hasattr(model, "card") else []
    gpus = space.gpus or tuple(dict.fromkeys([dep.gpu.name, *measured]))
    try:
        gpus = tuple(resolve_gpu(g).name for g in gpus)
    except InputError as exc:
        raise InputError("--gpu-kinds", exc.problem, exc.fix or "use a name from the GPU catalog") from None
    engines = frameworks_of(dep, model, space, gpus)
    tps = space.tp or tuple(t for t in DEFAULT_TP if t <= space.max_gpus)
    precisions = space.precisions or tuple(PRECISIONS)
    for p in precisions:
        if p not in PRECISIONS:
            raise InputError("--precisions", f"{p!r} is not a precision plan searches", f"use {', '.join(PRECISIONS)}")
    caps = space.batch_caps or (dep.serving.max_batch,)
    budgets = space.token_budgets or (dep.serving.max_num_batched_tokens,)
    reuse = w.prefix_hit_rate is not None or w.prefix_blocks is not None
    caching = space.prefix_caching or ((False, True) if reuse else (dep.serving.prefix_caching,))
    if any(caching) and not reuse:
        raise InputError("--prefix-caching", "the workload has no prefix reuse (no prefix_hit_rate, no block ids)",
                         "leave prefix caching off, or give a trace with block ids")
    specs = tuple(dict.fromkeys(space.speculative or (dep.serving.speculative,)))
    return [Family(g, t, p, c, b, pc, sp, fw) for g in gpus for t in sorted(set(tps)) for p in precisions
            for c in sorted(set(caps)) for b in sorted(set(budgets)) for pc in caching for sp in specs
            for fw in engines]


def _site(site: Site | None, energy_kwh_per_day: float, gpus: int, gpu_hour_price: float | None
          ) -> SiteFigures | None:
    if site is None and gpu_hour_price is None:
        return None
    pue = site.pue if site else 1.0
    facility = energy_kwh_per_day * pue
    return SiteFigures(
        pue=pue, facility_kwh_per_day=facility,
        co2e_kg_per_day=facility * site.carbon_g_per_kwh / 1000 if site and site.carbon_g_per_kwh is not None
        else None,
        energy_cost_per_day=facility * site.price_per_kwh if site and site.price_per_kwh is not None else None,
        gpu_cost_per_day=gpus * 24 * gpu_hour_price if gpu_hour_price is not None else None,
        currency=site.currency if site else None)


def _row(w: Workload, model: EnergyModel, e: Evaluated, site: Site | None, gpu_hour_price: float | None,
         intervals: dict | None) -> PlanRow:
    """A simulated candidate as a row, with the `--rate` report's interval.

    The busy energy carries the offline estimate's relative interval; idle the measured loaded-idle readings'
    5-95% spread, except on a GPU never measured (there the busy energy's interval). `intervals` None: a draft row
    for the Pareto front, without interval or basis (an offline estimate of the whole workload, the costliest part of
    a row, is made only for the rows shown).
    """
    res, dep = e.result.result, e.dep
    key = (dep.gpu.name, dep.serving)  # the whole serving config (frozen): every field the estimate reads
    if intervals is None:
        (lo, hi), (idle_lo, idle_hi), basis = (1.0, 1.0), (1.0, 1.0), ""
    else:
        if key not in intervals:
            est = estimate_workload(w, replace(dep, gpu_count=dep.serving.tensor_parallel), model)
            intervals[key] = (est.relative_interval, est.basis.idle_relative(est.relative_interval), est.basis_kind)
        (lo, hi), (idle_lo, idle_hi), basis = intervals[key]
    day = DAY_S / res.period_s / J_PER_KWH

    def ms(x):  # p90 and p99 in ms, in one pass
        return tuple(float(q) * 1000 for q in np.quantile(x, [0.9, 0.99])) if len(x) else (None, None)

    (ttft90, ttft99), (tpot90, tpot99) = ms(res.ttft_s), ms(res.tpot_s)
    energy = res.energy_j * day
    return PlanRow(
        candidate=e.candidate, basis=basis, energy_kwh_per_day=energy,
        low_kwh_per_day=(res.busy_energy_j * lo + res.idle_energy_j * idle_lo) * day,
        high_kwh_per_day=(res.busy_energy_j * hi + res.idle_energy_j * idle_hi) * day,
        busy_kwh_per_day=res.busy_energy_j * day, idle_kwh_per_day=res.idle_energy_j * day,
        energy_per_request_j=res.energy_j / max(res.requests, 1),
        ttft_p90_ms=ttft90, ttft_p99_ms=ttft99, tpot_p90_ms=tpot90, tpot_p99_ms=tpot99,
        peak_power_w=res.peak_power_w, mean_power_w=res.energy_j / res.period_s if res.period_s else 0.0,
        utilisation=e.result.offered_rate_per_s / e.sustainable_rate_per_s if e.sustainable_rate_per_s else 0.0,
        time_busy=res.utilization, sustainable_rate_per_s=e.sustainable_rate_per_s,
        offered_rate_per_s=e.result.offered_rate_per_s, overloaded=e.result.overloaded, misses=e.misses,
        site=_site(site, energy, e.candidate.gpus, gpu_hour_price))


def plan_row(w: Workload, model: EnergyModel, e: Evaluated, site: Site | None = None,
             gpu_hour_price: float | None = None) -> PlanRow:
    """A simulated candidate as `plan` shows it, with its interval and basis (also `compare`'s online rows)."""
    return _row(w, model, e, site, gpu_hour_price, {})


def _objectives(r: PlanRow) -> tuple:
    inf = float("inf")
    return (r.energy_kwh_per_day, r.ttft_p90_ms if r.ttft_p90_ms is not None else inf,
            r.tpot_p90_ms if r.tpot_p90_ms is not None else inf, r.candidate.gpus, r.peak_power_w)


INTERVAL_TOLERANCE = 0.01  # interval bounds this close (relative) are the same evidence: a point drawn once


def _same_point(a: PlanRow, b: PlanRow) -> bool:
    """One point of the front: equal in every objective, interval bounds within `INTERVAL_TOLERANCE`."""
    return _objectives(a) == _objectives(b) and all(
        abs(x - y) <= INTERVAL_TOLERANCE * max(abs(x), abs(y))
        for x, y in ((a.low_kwh_per_day, b.low_kwh_per_day), (a.high_kwh_per_day, b.high_kwh_per_day)))


def pareto_front(rows: list[PlanRow]) -> list[PlanRow]:
    """The rows no other row beats or equals on every objective while beating it on one (energy order)."""
    obj = [_objectives(r) for r in rows]
    front = []
    for k, a in enumerate(obj):
        if not any(all(x <= y for x, y in zip(b, a)) and b != a for j, b in enumerate(obj) if j != k):
            front.append(rows[k])
    return sorted(front, key=lambda r: r.energy_kwh_per_day)


@dataclass(frozen=True)
class LeftOff:
    """A row equal to a front row in every objective and in its interval: `kept`, with more headroom, stands for it."""

    row: PlanRow
    kept: PlanRow


@dataclass(frozen=True)
class PointsDrawn:
    """The front drawn one row a point, and the rows another row stands for."""

    rows: list[PlanRow]
    left_off: list[LeftOff]


def one_per_point(front: list[PlanRow]) -> PointsDrawn:
    """The front with rows that are one point (`_same_point`) drawn once, and the rows left off.

    A batch cap that never binds at this rate simulates exactly as a larger one: the row with the most headroom
    (highest sustainable rate; the first given on a tie) stands for them. Rows equal in every objective whose
    intervals differ by more than `INTERVAL_TOLERANCE` (one rests on more extrapolation) all stay: the evidence
    tells them apart. Takes rows with their intervals.
    """
    order = sorted(range(len(front)), key=lambda k: (-front[k].sustainable_rate_per_s, k))
    stands: dict[int, int] = {}  # row -> the kept row standing for it
    for k in order:
        stands[k] = next((j for j in order if j in stands and stands[j] == j and _same_point(front[j], front[k])), k)
    return PointsDrawn([r for k, r in enumerate(front) if stands[k] == k],
                       [LeftOff(r, front[stands[k]]) for k, r in enumerate(front) if stands[k] != k])


def front_contenders(found: SearchResult) -> list[Evaluated]:
    """The rows the front is drawn from (the rule an exhaustive search would apply).

    Per engine configuration the fewest engines that meet every target, less those whose optimistic energy (interval
    low end) is above the best row's pessimistic one (its high end). The same rows an exhaustive search gives,
    whatever the search simulated on its way (a row with more engines it passed through, a row a looser bound failed
    to prune): so the answer does not depend on how tight the bounds are (tests/unit/predict/test_plan_exhaustive.py).
    """
    if not found.chosen:
        return []
    best = min(e.high_j for e in found.chosen)
    return [e for e in found.chosen if e.low_j <= best]


def _worst(misses: tuple[Miss, ...]) -> float:
    return max((m.by for m in misses), default=0.0)


def _infeasible(found: SearchResult) -> EnergyPredictError:
    """No candidate meets the targets: the target most candidates miss, and the closest candidate."""
    if not found.evaluated and not found.bound_misses:
        why = "; ".join(f"{k}: {v}" for k, v in list(found.refused.items())[:2])
        return EnergyPredictError(f"plan: no candidate could be answered ({why}); widen --gpu-kinds, --tp, "
                                  "--precisions or --frameworks")
    tally = Counter(m.target.split(" (")[0] for e in [*found.evaluated, *found.bound_misses] for m in e.misses)
    first, count = tally.most_common(1)[0]
    pool = [(e.candidate, e.misses) for e in found.evaluated] + [(b.candidate, b.misses) for b in found.bound_misses]
    candidate, misses = min(pool, key=lambda x: _worst(x[1]))
    n = len(pool)
    return EnergyPredictError(
        f"plan: no candidate meets the targets; {first} fails first ({count} of the {n} candidates answered miss "
        f"it); closest: {candidate.label}, which misses {'; '.join(m.line for m in misses)}; relax {_flag(first)} "
        "or widen the search (--gpu-kinds, --tp, --precisions, --batch-caps, --max-gpus)")


def plan(w: Workload, dep: Deployment, model: EnergyModel, space: PlanSpace = PlanSpace(),
         targets: PlanTargets = PlanTargets(), rate: float | None = None, site: Site | None = None,
         gpu_hour_price: float | None = None, profile_name: str = "profile", workers: int = 1,
         on_progress: Callable[[int, int], None] | None = None) -> Plan:
    """The plan for a workload at `rate` (default: the workload's), see the module.

    `workers`: processes that simulate candidates ahead of the search (1: none); the plan is the same for any number.
    `on_progress(done, families)`: the families of candidates searched so far, of all (a progress bar's).
    """
    check_workers(workers)
    if not 0 < targets.headroom <= 1:
        raise InputError("--headroom", f"{targets.headroom!r} is not a share", "give a share above 0 and at most 1")
    fams = families(w, dep, model, space)
    if fams and all(FRAMEWORKS[f.framework][0] == "hf" for f in fams):  # one line, not a refusal per family
        raise InputError("--frameworks" if space.frameworks else "serving.framework",
                         "plan simulates online serving, and HF transformers `generate` serves fixed batches with no "
                         "continuous-batching server to simulate",
                         "give --frameworks vllm,vllm-eager" if space.frameworks else "use framework vllm")
    found = search(w, dep, model, fams, space.max_gpus, targets, rate, workers, on_progress)
    feasible = [e for e in found.evaluated if not e.misses]
    if not feasible:
        raise _infeasible(found)
    intervals: dict = {}
    contenders = front_contenders(found)
    drafts = [_row(w, model, e, site, gpu_hour_price, None) for e in contenders]
    source = {id(r): e for r, e in zip(drafts, contenders)}
    drawn = one_per_point([_row(w, model, source[id(r)], site, gpu_hour_price, intervals)
                           for r in pareto_front(drafts)])
    front, equal = drawn.rows, drawn.left_off
    best = min(front, key=lambda r: (r.energy_kwh_per_day, r.high_kwh_per_day - r.low_kwh_per_day))  # tie: evidence
    marked = tuple(replace(r, on_front=True, recommended=r is best,
                           distinguishable=bool(r is best or r.low_kwh_per_day > best.high_kwh_per_day
                                                or r.high_kwh_per_day < best.low_kwh_per_day)) for r in front)
    recommended = next(r for r in marked if r.recommended)
    close = sorted((e for e in found.evaluated if e.misses), key=lambda e: _worst(e.misses))[:3]
    closest = tuple(_row(w, model, e, site, gpu_hour_price, intervals) for e in close)
    tied = sum(1 for r in marked if not r.distinguishable)
    equal_energy = sum(1 for r in front if r.energy_kwh_per_day == best.energy_kwh_per_day) > 1
    tie = "; of the rows with that energy, the narrowest interval" if equal_energy else ""
    why = (f"least energy a day of the {len(feasible)} candidates that meet every target "
           f"({recommended.energy_kwh_per_day:.3g} kWh, {recommended.basis}{tie}), at "
           f"{100 * recommended.utilisation:.0f}% of its sustainable rate"
           + (f"; {tied} row(s) of the front are within its interval" if tied else ""))
    notes = [f"{e.row.candidate.label}: left off the front, equal at this rate to {e.kept.candidate.label} in "
             f"energy (interval within {INTERVAL_TOLERANCE:.0%}), latency, GPUs and peak power, with no more "
             f"headroom (sustainable rate {e.row.sustainable_rate_per_s:.3g} against "
             f"{e.kept.sustainable_rate_per_s:.3g} req/s)" for e in equal]
    notes += [f"{k}: not searched ({v.split(';')[0]})" for k, v in found.refused.items()]
    notes.append("rows with more engines than the fewest that meet the targets are not simulated: each engine adds "
                 "idle power (counted as not needed)")
    counts = SearchCounts(found.candidates, found.refused_by_model, found.refused_by_memory,
                          found.infeasible_by_bound, found.pruned_by_bound, found.not_needed, found.simulated,
                          found.reused)
    return Plan(profile_name, getattr(model, "name", "model"), recommended.offered_rate_per_s, targets, marked,
                recommended, why, counts, closest, tuple(notes),
                tuple((e.row.candidate.label, e.kept.candidate.label) for e in equal))

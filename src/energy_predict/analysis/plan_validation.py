"""Whether the planner ranks serving configurations as the GPU does (issue 27, item 6).

    python docs/make_plan_validation.py [REPLAY_DIR]    # default: artifacts/replays/plan-validation

One workload at one rate, replayed online on one GPU under several serving configurations
(`campaigns/next-plan-validation/`: `energy-predict replay --serving FILE`, one record per configuration). Each
configuration is then put to the planner exactly as `plan` evaluates a candidate (`plan_search.evaluate_layout`
and `plan.plan_row`: the same memory check, simulation, sustainable-rate bound, targets and interval), on a workload
of the very requests and arrival times the GPU served. The page compares the two rankings: Spearman's rank
correlation, top-1 agreement, whether the planner's top is the measured best or within its own interval of it,
and the measured saving of the planner's top over the default configuration.

Pure functions (`spearman`, `compare`, `render`; `predict.replays.acceptance_of_synthetic`) hold the arithmetic;
`write_page` is the edge (reads records and the model, writes the page). Without records the page says "not yet
measured".
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from energy_predict.errors import EnergyPredictError
from energy_predict.predict.replays import serving_of_replay

REPLAYS = "plan-validation"  # the campaign's folder under artifacts/replays/
PAGE = "plan-validation.md"  # under docs/
DEFAULT_CONFIG = "default"  # the configuration savings are measured against (campaign's make_configs.py)


@dataclass(frozen=True)
class Measured:
    """One configuration's replay: its mean energy per request (J) over the measured runs, and their spread."""

    config: str
    energy_per_request_j: float
    spread_pct: float | None  # (max - min) / mean of the runs, None with one run
    runs: int


@dataclass(frozen=True)
class Planned:
    """The planner's answer for one configuration at the replay's workload and rate (None + reason: refused)."""

    config: str
    energy_per_request_j: float | None
    low_j: float | None
    high_j: float | None
    basis: str | None
    feasible: bool  # meets the plan's default targets (headroom); an infeasible row is never the planner's top
    misses: str = ""
    refused: str | None = None


def measured_of(record: dict) -> Measured:
    """A replay record's energy per request (J): the mean of its runs with a reading, over its requests."""
    energies = [r["energy_j"] for r in record["runs"] if r.get("energy_j") is not None]
    if not energies:
        raise ValueError(f"{record['name']}: no run has an energy reading")
    n = len(record["requests"]["input_tokens"])
    mean = float(np.mean(energies))
    spread = 100 * (max(energies) - min(energies)) / mean if len(energies) > 1 else None
    return Measured(record["config"]["name"], mean / n, spread, len(energies))


def ranks(values: list[float]) -> np.ndarray:
    """1-based ranks, lowest first; ties share their mean rank."""
    import pandas as pd

    return pd.Series(values, dtype=float).rank(method="average").to_numpy()


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation of two equal-length lists; None with fewer than 2 values or no spread in one."""
    if len(a) != len(b):
        raise ValueError("spearman needs two lists of one length")
    if len(a) < 2:
        return None
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass(frozen=True)
class Verdict:
    """The two rankings compared over the configurations both answered."""

    configs: list[str]  # in measured order, best first
    measured_rank: dict[str, float]
    planned_rank: dict[str, float]
    rho: float | None
    measured_best: str
    planned_top: str | None  # the least predicted energy among feasible rows; None where none is feasible
    top1: bool
    within_interval: bool | None  # the planned top's measured energy within its interval of the measured best's
    gap_pct: float | None  # the planned top's measured energy over the measured best's, -1, in %
    allowed_pct: float | None  # the planned top's interval above its prediction, in %
    measured_saving_pct: float | None  # the planned top against the default configuration, measured
    planned_saving_pct: float | None  # the same, predicted
    left_out: list[str]  # configurations measured but refused by the planner, or planned but not measured


def compare(measured: list[Measured], planned: list[Planned], default: str = DEFAULT_CONFIG) -> Verdict:
    """Rank both ways and compare (see `Verdict`); only configurations measured and predicted are ranked.

    "Within its interval": the planner's top is acceptable when it is the measured best, or when its measured energy
    is above the best's by no more than its own interval allows above its prediction (high / predicted - 1).
    """
    m = {x.config: x for x in measured}
    p = {x.config: x for x in planned if x.energy_per_request_j is not None}
    both = [c for c in m if c in p]
    left_out = sorted((set(m) | {x.config for x in planned}) - set(both))
    if not both:
        raise ValueError("no configuration is both measured and predicted")
    me = [m[c].energy_per_request_j for c in both]
    pe = [p[c].energy_per_request_j for c in both]
    mr, pr = ranks(me), ranks(pe)
    best = both[int(np.argmin(me))]
    feasible = [c for c in both if p[c].feasible]
    top = min(feasible, key=lambda c: p[c].energy_per_request_j) if feasible else None
    gap = allowed = within = None
    if top is not None:
        gap = 100 * (m[top].energy_per_request_j / m[best].energy_per_request_j - 1)
        allowed = 100 * (p[top].high_j / p[top].energy_per_request_j - 1)
        within = top == best or gap <= allowed
    saving = planned_saving = None
    if top is not None and default in both:
        saving = 100 * (1 - m[top].energy_per_request_j / m[default].energy_per_request_j)
        planned_saving = 100 * (1 - p[top].energy_per_request_j / p[default].energy_per_request_j)
    order = sorted(both, key=lambda c: m[c].energy_per_request_j)
    return Verdict(order, dict(zip(both, mr.tolist())), dict(zip(both, pr.tolist())), spearman(me, pe), best, top,
                   top == best, within, gap, allowed, saving, planned_saving, left_out)


def _j(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1f}%"


def _rank(x: float) -> str:
    return f"{x:g}"


def render(measured: list[Measured], planned: list[Planned], workload: str, provenance: list[str],
           default: str = DEFAULT_CONFIG) -> list[str]:
    """The page's lines: the table of configurations and the verdict."""
    lines = ["# Validation of the planner's ranking on the GPU (issue 27, item 6)", "",
             "Made by `python docs/make_plan_validation.py` from the replay records of "
             "`campaigns/next-plan-validation/` and the default model.", ""]
    if not measured:
        return lines + ["**Not yet measured.** No replay record of the campaign is in `artifacts/replays/"
                        "plan-validation/`: run `campaigns/next-plan-validation/` on one H100 (its README), import "
                        "the records, and run this script again.", ""]
    v = compare(measured, planned, default)
    m = {x.config: x for x in measured}
    p = {x.config: x for x in planned}
    lines += [f"Workload: {workload}.", "", *provenance, "",
              "| config | measured J/request | run spread | planned J/request | planned 90% interval | basis | "
              "measured rank | planned rank | meets plan targets |", "|---|---|---|---|---|---|---|---|---|"]
    for c in v.configs:
        a, b = m[c], p[c]
        lines.append(f"| {c}{' (default)' if c == default else ''} | {_j(a.energy_per_request_j)} | "
                     f"{'-' if a.spread_pct is None else f'{a.spread_pct:.1f}%'} ({a.runs} runs) | "
                     f"{_j(b.energy_per_request_j)} | {_j(b.low_j)}-{_j(b.high_j)} | {b.basis} | "
                     f"{_rank(v.measured_rank[c])} | {_rank(v.planned_rank[c])} | "
                     f"{'yes' if b.feasible else 'no: ' + b.misses} |")
    for c in v.left_out:
        why = p[c].refused if c in p and p[c].refused else "not measured" if c not in m else "not predicted"
        lines.append(f"| {c} | {_j(m[c].energy_per_request_j) if c in m else '-'} | - | - | - | - | - | - | {why} |")
    rho = "undefined (no spread)" if v.rho is None else f"{v.rho:+.2f}"
    within = ("yes: it is the measured best" if v.top1 else
              "no planned top (no configuration meets the targets)" if v.within_interval is None else
              f"{'yes' if v.within_interval else 'no'}: measured {v.gap_pct:+.1f}% above the best, its interval "
              f"allows +{v.allowed_pct:.1f}%")
    lines += ["", f"- Spearman rank correlation (measured against planned), {len(v.configs)} configurations: {rho}.",
              f"- Planner's top: {v.planned_top or 'none'}; measured best: {v.measured_best}; top-1 agreement: "
              f"{'yes' if v.top1 else 'no'}.",
              f"- The planner's top is the measured best or within its interval of it: {within}.",
              f"- Saving of the planner's top over `{default}`: measured {_pct(v.measured_saving_pct)}, planned "
              f"{_pct(v.planned_saving_pct)}.", "",
              "The planner's figures are `plan`'s for each configuration as a candidate (one engine, the plan's "
              "default targets: 80% headroom, no latency targets) on a workload of exactly the replayed requests and "
              "arrival times; the measured figure is each record's mean over its runs. Speculative decoding is planned "
              "at the acceptance the engine's synthetic setting implies (accepted / drafted tokens).", ""]
    return lines


def plan_replay(record: dict, model) -> Planned:
    """The planner's answer for the configuration a replay ran, at its requests, arrivals and rate."""
    from energy_predict.architectures import resolve_architecture
    from energy_predict.gpus import resolve_gpu
    from energy_predict.predict.plan import plan_row
    from energy_predict.predict.plan_search import evaluate_layout
    from energy_predict.predict.plan_types import PlanTargets
    from energy_predict.serving import Deployment
    from energy_predict.workload import Workload

    name = record["config"]["name"]
    req = record["requests"]
    arrivals = np.asarray(req["arrival_s"], dtype=float)
    w = Workload(np.asarray(req["input_tokens"]), np.asarray(req["output_tokens"]), np.ones(len(arrivals)),
                 float(arrivals.max() - arrivals.min()) or None, arrivals)
    try:
        serving = serving_of_replay(record["config"])
        gpu = resolve_gpu(record["meter"]["gpus"][0]["name"])
        dep = Deployment(resolve_architecture(record["model"]), gpu, serving, serving.tensor_parallel)
        (e,) = evaluate_layout(w, dep, model, [1], PlanTargets(), record.get("rate_per_s"))
        row = plan_row(w, model, e)
    except (EnergyPredictError, ValueError) as exc:
        return Planned(name, None, None, None, None, False, refused=" ".join(str(exc).split()))
    per_day = row.energy_kwh_per_day
    scale = row.energy_per_request_j / per_day if per_day else 0.0
    return Planned(name, row.energy_per_request_j, row.low_kwh_per_day * scale, row.high_kwh_per_day * scale,
                   row.basis, not row.misses, "; ".join(m.line for m in row.misses))


def workload_line(records: list[dict]) -> str:
    """What was replayed, from the records (one trace, one rate, one request set)."""
    traces = sorted({r["trace"] for r in records})
    rates = sorted({r.get("rate_per_s") for r in records}, key=lambda x: (x is None, x))
    gpus = sorted({r["meter"]["gpus"][0]["name"] for r in records})
    n = sorted({len(r["requests"]["input_tokens"]) for r in records})
    models = sorted({r["model"] for r in records})
    return (f"{', '.join(traces)} at {', '.join(f'{x:g} req/s' for x in rates if x is not None)} "
            f"({'/'.join(map(str, n))} requests, online, trace arrivals), {', '.join(models)} on {', '.join(gpus)}")


def check_one_case(records: list[dict]) -> None:
    """One trace, one rate, one request set, online: otherwise the rankings compare unlike things (ValueError)."""
    keys = {(r["trace"], r.get("rate_per_s"), r["mode"], tuple(r["requests"]["input_tokens"])) for r in records}
    if len(keys) > 1:
        raise ValueError("the records are not one workload at one rate: " + "; ".join(
            f"{t} {rate} req/s {mode} ({len(i)} requests)" for t, rate, mode, i in sorted(keys, key=str)))
    if records[0]["mode"] != "online":
        raise ValueError("the planner plans online serving: replay with --modes online")
    names = [r["config"]["name"] for r in records]
    if len(set(names)) != len(names):
        raise ValueError(f"one record per configuration: {sorted(names)} repeats a name")


def write_page(folder: Path, page: Path, model=None) -> str:
    """Read the campaign's online records in `folder`, plan each configuration, write `page`; what was done.

    `model`: the energy model (default: the shipped one, loaded only where there are records).
    """
    from energy_predict.model.store import load_default_model
    from energy_predict.predict.replays import load_replays

    records = [r for r in load_replays(folder) if r.get("mode") == "online"] if folder.is_dir() else []
    if not records:
        page.write_text("\n".join(render([], [], "", [])))
        return f"no online replay records in {folder}: wrote {page} (not yet measured)"
    check_one_case(records)
    model = model or load_default_model()
    measured = [measured_of(r) for r in records]
    planned = [plan_replay(r, model) for r in records]
    provenance = [f"Records: `artifacts/replays/{folder.name}/` ({len(records)}: "
                  f"{', '.join(sorted(r['name'] for r in records))}); taken {min(r['taken'] for r in records)} to "
                  f"{max(r['taken'] for r in records)}; model `{model.name}`."]
    page.write_text("\n".join(render(measured, planned, workload_line(records), provenance)))
    return f"wrote {page}"


def main(argv: list[str] | None = None) -> None:
    """docs/plan-validation.md from the records in the first argument (default artifacts/replays/plan-validation)."""
    from energy_predict.analysis.paths import repository_docs
    from energy_predict.provenance import artifacts_dir

    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else artifacts_dir() / "replays" / REPLAYS
    print(write_page(folder, repository_docs() / PAGE))

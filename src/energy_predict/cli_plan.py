"""`energy-predict plan`: options in, `energy_predict.predict.plan.plan` out, as a table or JSON.

Registered from cli.py (`register`); the table is drawn with cli.py's shared helpers. Several `--profile`: one plan
each (`predict/plan_fanout.py`), printed in the order given.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer

from energy_predict.errors import InputError

TARGET_HELP = "target in ms over completed requests"


def _names(text: str) -> tuple[str, ...] | None:
    names = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    return names or None


def _ms(value: float | None, flag: str) -> float | None:
    if value is not None and not (math.isfinite(value) and 0 < value < 1e9):
        raise InputError(flag, f"{value!r} is not a time", "give milliseconds above 0")
    return value


def _bools(text: str) -> tuple[bool, ...] | None:
    values = {"on": True, "off": False}
    items = _names(text)
    if items is None:
        return None
    if any(x not in values for x in items):
        raise InputError("--prefix-caching", f"{text!r} is not a list of on/off", "write on, off or off,on")
    return tuple(values[x] for x in items)


def _speculations(text: str, profile_spec, acceptance: float | None) -> tuple | None:
    """The speculation axis from `--speculative` (None where not given).

    off; on (the profile's draft, length and acceptance); DRAFT or DRAFT:K (a draft model and its draft length: the
    profile's where not given, else 4), at `--acceptance-rate` or the profile's.
    """
    from energy_predict.architectures import resolve_architecture
    from energy_predict.serving import Speculation

    items = _names(text)
    if items is None:
        return None
    rate = acceptance if acceptance is not None else (profile_spec.acceptance_rate if profile_spec else None)
    out = []
    for item in items:
        if item == "off":
            out.append(None)
            continue
        if item == "on":
            if profile_spec is None:
                raise InputError("--speculative", "'on' takes the profile's speculation, and the profile has none",
                                 "name a draft, e.g. --speculative off,Llama-3.2-1B:4 --acceptance-rate 0.7")
            out.append(profile_spec if acceptance is None else
                       Speculation(profile_spec.draft, profile_spec.draft_tokens, acceptance))
            continue
        draft, _, k = item.partition(":")
        try:
            resolve_architecture(draft)
        except InputError as exc:
            raise InputError("--speculative", f"draft {draft!r}: {exc.problem}", exc.fix or "name a known model") \
                from None
        if k and not (k.isdigit() and 1 <= int(k) <= 16):
            raise InputError("--speculative", f"{item!r}: the draft length must be a whole number 1-16",
                             "write DRAFT:K, e.g. Llama-3.2-1B:4")
        if rate is None:
            raise InputError("--acceptance-rate", "speculative decoding needs the acceptance rate you expect "
                             "(vLLM's accepted / drafted tokens)", "give --acceptance-rate, e.g. 0.7")
        out.append(Speculation(draft, int(k) if k else (profile_spec.draft_tokens if profile_spec else 4), rate))
    return tuple(out)


def plan_view(result):
    """The front as a TableView: one row a deployment, keys as in the JSON's front rows where they match."""
    from energy_predict.formats import Column, TableView

    columns = (Column("rec", numeric=False), Column("deployment", numeric=False), Column("basis", numeric=False),
               Column("energy_kwh_per_day", "{:.4g}"), Column("low_kwh_per_day", "{:.3g}"),
               Column("high_kwh_per_day", "{:.3g}"), Column("ttft_p90_ms", "{:.4g}"), Column("tpot_p90_ms", "{:.3g}"),
               Column("gpus"), Column("peak_power_w", "{:,.0f}"), Column("utilisation", "{:.0%}"),
               Column("time_busy", "{:.0%}"), Column("energy_cost_per_day", "{:.2f}"),
               Column("co2e_kg_per_day", "{:.3g}"))
    rows = []
    for r in result.rows:
        site = r.site
        rows.append({"rec": "*" if r.recommended else ("~" if not r.distinguishable else ""),
                     "deployment": r.candidate.label, "basis": r.basis,
                     "energy_kwh_per_day": r.energy_kwh_per_day, "low_kwh_per_day": r.low_kwh_per_day,
                     "high_kwh_per_day": r.high_kwh_per_day, "ttft_p90_ms": r.ttft_p90_ms,
                     "tpot_p90_ms": r.tpot_p90_ms, "gpus": r.candidate.gpus, "peak_power_w": r.peak_power_w,
                     "utilisation": r.utilisation, "time_busy": r.time_busy,
                     "energy_cost_per_day": site.energy_cost_per_day if site else None,
                     "co2e_kg_per_day": site.co2e_kg_per_day if site else None})
    title = (f"{result.profile}: plan at {result.offered_rate_per_s:.3g} req/s, the Pareto front (* recommended; "
             "~ its interval overlaps the recommended one: not distinguishable); utilisation: share of the "
             "sustainable rate, time_busy: share of time stepping")
    return TableView(title, columns, tuple(rows), key_columns=2)


def plan_table(result, fmt: str = "table") -> None:
    """The front in the chosen format, then (as a table) the recommendation and why, and the counts."""
    from energy_predict.cli import _emit, err, out

    _emit(plan_view(result), fmt)
    if fmt != "table":
        return
    out.print(f"recommended: {result.recommended.candidate.label}: {result.why}")
    c = result.counts
    out.print(f"{c.candidates:,} candidates: {c.simulated} simulated, {c.reused} reused, {c.pruned_by_bound} pruned "
              f"by the energy bound, {c.not_needed} not needed, {c.infeasible_by_bound} infeasible by a bound, "
              f"{c.refused_by_model} refused by the model, {c.refused_by_memory} do not fit")
    for note in result.notes:
        err.print(f"note: {note}", style="yellow")


def _named(job, path: Path):
    """`job(path)`, a refusal naming the profile it is about (one of several)."""
    try:
        return job(path)
    except InputError as exc:
        if str(path) in str(exc):
            raise
        raise InputError(exc.field, f"{exc.problem} (--profile {path})", exc.fix) from None


def plans_out(sources: list[str], plans: list, fmt: str, print_json) -> None:
    """Several plans in the chosen format.

    JSON {"plans": [...]}, one CSV with a leading profile_file column, or each plan under a heading naming its profile.
    """
    import sys

    from energy_predict.formats import Column, TableView

    if fmt == "json":
        print_json({"plans": [{"profile_file": s, **p.to_dict()} for s, p in zip(sources, plans)]})
        return
    if fmt == "csv":
        from energy_predict.cli import _emit

        views = [plan_view(p) for p in plans]
        rows = tuple({"profile_file": s, **row} for s, v in zip(sources, views) for row in v.rows)
        _emit(TableView("", (Column("profile_file", numeric=False), *views[0].columns), rows, key_columns=3), fmt)
        return
    for k, (source, p) in enumerate(zip(sources, plans)):
        sys.stdout.write(("\n" if k else "") + (f"## {source}\n\n" if fmt == "markdown" else f"profile {source}\n"))
        sys.stdout.flush()
        plan_table(p, fmt)


def register(app: typer.Typer, handles_errors, load_model, print_json) -> None:
    """Add `plan` to the CLI."""
    from energy_predict.cli import _RayOptionalAddress

    @app.command("plan", cls=_RayOptionalAddress)
    @handles_errors
    def plan_cmd(
        profile: list[Path] = typer.Option(..., "--profile", "-p", help="workload profile JSON (profile from-trace); "
                                           "again for several workloads, each planned as it would be alone, one "
                                           "plan each in the order given"),
        rate: float | None = typer.Option(None, "--rate", help="requests per second, for every profile given "
                                          "(default: each profile's)"),
        gpu_kinds: str | None = typer.Option(None, "--gpu-kinds", help="GPU kinds, e.g. H100,H200 (default: the "
                                             "profile's and those the energy model measured)"),
        gpus: str | None = typer.Option(None, "--gpus", hidden=True, help="deprecated: --gpu-kinds"),
        tp: str = typer.Option("", "--tp", help="GPUs per engine, e.g. 1,2,4,8 (default 1,2,4,8)"),
        precisions: str = typer.Option("", "--precisions", help="bf16,fp8 (default both)"),
        frameworks: str = typer.Option("", "--frameworks", help="engines: vllm (vLLM with CUDA graphs), vllm-eager "
                                       "(without), hf, hf-compile (HF transformers: refused, it has no "
                                       "continuous-batching server), e.g. vllm,vllm-eager (default: the profile's and "
                                       "those the energy model measured on the GPUs searched that serve online)"),
        batch_caps: str = typer.Option("", "--batch-caps", help="max_num_seqs values (default: the profile's)"),
        token_budgets: str = typer.Option("", "--token-budgets", help="max_num_batched_tokens values (default: "
                                          "the profile's)"),
        prefix_caching: str = typer.Option("", "--prefix-caching", help="off, on or off,on (default: both where "
                                           "the workload has reuse)"),
        speculative: str = typer.Option("", "--speculative", help="off, on (the profile's), or drafts as DRAFT or "
                                        "DRAFT:K, e.g. off,on or off,Llama-3.2-1B:2,Llama-3.2-1B:4 (default: the "
                                        "profile's)"),
        acceptance_rate: float | None = typer.Option(None, "--acceptance-rate", help="share of drafted tokens "
                                                     "accepted, as vLLM reports it (default: the profile's)"),
        max_gpus: int = typer.Option(8, "--max-gpus", min=1, max=4096, help="most GPUs a deployment may use"),
        ttft_p90_ms: float | None = typer.Option(None, "--ttft-p90-ms", help=f"p90 TTFT {TARGET_HELP}"),
        ttft_p99_ms: float | None = typer.Option(None, "--ttft-p99-ms", help=f"p99 TTFT {TARGET_HELP}"),
        tpot_p90_ms: float | None = typer.Option(None, "--tpot-p90-ms", help=f"p90 TPOT {TARGET_HELP}"),
        tpot_p99_ms: float | None = typer.Option(None, "--tpot-p99-ms", help=f"p99 TPOT {TARGET_HELP}"),
        headroom: float = typer.Option(0.8, "--headroom", help="the offered rate may be at most this share of "
                                       "the sustainable rate"),
        power_budget_w: float | None = typer.Option(None, "--power-budget-w", help="peak power of the deployment"),
        gpu_budget: int | None = typer.Option(None, "--gpu-budget", min=1, help="GPUs the deployment may use"),
        gpu_hour_price: float | None = typer.Option(None, "--gpu-hour-price", help="price of a GPU-hour (the "
                                                    "site's currency)"),
        energy_model: str | None = typer.Option(None, "--energy-model", metavar="NAME", help="the fitted energy "
                                                "model: a shipped model's name or folder (default: the shipped one)"),
        model: str | None = typer.Option(None, "--model", hidden=True, help="deprecated: --energy-model"),
        fmt: str = typer.Option("table", "--format", metavar="FORMAT", help="table | markdown | json | csv"),
        as_json: bool = typer.Option(False, "--json", help="print JSON (the same as --format json)"),
        html: Path | None = typer.Option(None, "--html", help="write a self-contained HTML page: the recommendation "
                                         "and why, the front, the targets (readable offline)"),
        workers: int = typer.Option(1, "--workers", help="processes side by side: with one profile they simulate "
                                    "its candidates, with several they plan workloads (the plans are the same for "
                                    "any number; default 1)"),
        ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                       help="plan each workload as a Ray task: alone, on a Ray started here; with an "
                                            "address (auto, HOST:6379), a cluster's (`ray` extra)"),
    ) -> None:
        """The energy-optimal deployment under latency targets: a Pareto front with intervals and bases.

        Several --profile: one plan per workload, in the order given (--json: {"plans": [...]}, each plan's JSON with
        its `profile_file`; csv: one table with a leading profile_file column); --workers N plans N workloads side by
        side, --ray plans each as a Ray task. --html takes one profile.
        """
        from energy_predict.cli import (
            _check_rate,
            _deprecated,
            _energy_model_name,
            _info,
            _ints,
            _LateProgress,
            _output_file,
            _resolve_format,
        )

        fmt = _resolve_format(fmt, as_json)
        _output_file(html, "--html", (".html", ".htm"))
        many = len(profile) > 1
        if many and html is not None:
            raise InputError("--html", f"a page holds one plan, and {len(profile)} profiles were given",
                             "give one --profile with --html (run plan once per profile)")
        energy_model = _energy_model_name(model, energy_model)
        gpu_kinds = _deprecated("--gpus", "--gpu-kinds", gpus, gpu_kinds) or ""
        from energy_predict.predict.plan_fanout import PlanJob, plan_many
        from energy_predict.predict.plan_types import PlanSpace, PlanTargets
        from energy_predict.predict.run import load_case

        if rate is not None:
            _check_rate(rate, "--rate")
        from energy_predict.predict.plan import check_workers

        check_workers(workers)
        if ray is not None and workers > 1:
            raise InputError("--workers", "with --ray each workload is one Ray task, its candidates simulated one "
                             "after another", "leave --workers out with --ray")
        if not (math.isfinite(headroom) and 0 < headroom <= 1):
            raise InputError("--headroom", f"{headroom!r} is not a share", "give a share above 0 and at most 1")
        if power_budget_w is not None and not (math.isfinite(power_budget_w) and power_budget_w > 0):
            raise InputError("--power-budget-w", f"{power_budget_w!r} is not a power", "give watts above 0")
        if gpu_hour_price is not None and not (math.isfinite(gpu_hour_price) and gpu_hour_price >= 0):
            raise InputError("--gpu-hour-price", f"{gpu_hour_price!r} is not a price", "give a price of 0 or more")
        if acceptance_rate is not None and not (math.isfinite(acceptance_rate) and 0 <= acceptance_rate <= 1):
            raise InputError("--acceptance-rate", f"{acceptance_rate!r} is not a share", "give a share in 0-1")

        def job(path: Path) -> PlanJob:
            case = load_case(path)
            space = PlanSpace(gpus=_names(gpu_kinds), tp=tuple(_ints(tp, "--tp")) or None,
                              precisions=_names(precisions), frameworks=_names(frameworks),
                              batch_caps=tuple(_ints(batch_caps, "--batch-caps")) or None,
                              token_budgets=tuple(_ints(token_budgets, "--token-budgets")) or None,
                              prefix_caching=_bools(prefix_caching), max_gpus=max_gpus,
                              speculative=_speculations(speculative, case.dep.serving.speculative, acceptance_rate))
            targets = PlanTargets(_ms(ttft_p90_ms, "--ttft-p90-ms"), _ms(ttft_p99_ms, "--ttft-p99-ms"),
                                  _ms(tpot_p90_ms, "--tpot-p90-ms"), _ms(tpot_p99_ms, "--tpot-p99-ms"), headroom,
                                  power_budget_w, gpu_budget)
            if rate is None and case.workload.rate_per_s is None and case.workload.arrival_s is None:
                raise InputError("--rate", "the profile has no rate", "give --rate (req/s)")
            return PlanJob(str(path), case.workload, case.dep, space, targets, rate, case.profile.site,
                           gpu_hour_price, case.profile.name)

        # every profile is read before any is planned: a bad one refuses the command, with nothing printed
        jobs = [job(path) if not many else _named(job, path) for path in profile]
        fitted = load_model(energy_model)
        if ray is not None:
            from energy_predict.predict.plan_fanout import plan_on_ray

            plans = plan_on_ray(jobs, fitted, ray)
        else:
            with _LateProgress("planning: workloads" if many else "planning: candidate families") as on_progress:
                plans = plan_many(jobs, fitted, workers, on_progress)
        if not many:
            result = plans[0]
            if html is not None:
                from energy_predict.predict.html_report import write_plan_html

                _info(f"wrote {write_plan_html(result, html)}")
            if fmt == "json":
                print_json(result.to_dict())
                return
            plan_table(result, fmt)
            return
        plans_out([j.source for j in jobs], plans, fmt, print_json)

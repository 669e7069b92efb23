"""The physical step model (src/energy_predict/model/physics*.py, issue 25): fitted values, held-out scores, and its
answers to the published measurements beside today's model.

    python benchmarks/physics_model.py                 # fit, score, write benchmarks/results/physics_model.{md,json}
    python benchmarks/physics_model.py --published     # also add its column to benchmarks/results/published.*

Scores, each on cells the fit never saw, against the shipped model's (the card's held-out figures):
- in-domain: leave-one-input-bin-out, -output-bin-out, -batch-size-out over the whole table (a fold holds out that
  value from every configuration), median and p90 |error| of batch energy per framework;
- leave-one-model-out: each model's cells predicted from a fit without them (its departures unknown: none);
- leave-one-GPU-out between the H100 SXM and H200 SXM: fitted on one GPU's cells only, the other GPU never measured
  (its host constants, powers and idle by the stated rules, model/physics_model.py), scored on the cells the shipped
  card scores (model/fit.py `gpu_pairs`: pairs measured on both, destination cells inside the source's ranges);
- the published points and pairs (benchmarks/published.py), offline through the same seam as today's column
  (`ask_tool` -> predict_case), and the closed loop as the physical steady state of a server kept at
  min(max_num_seqs, KV capacity / the mean KV a running sequence holds over its life) sequences.
Runtime: a few minutes of CPU (about 60 fits of a few seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
OUT = REPO / "benchmarks" / "results"
SCHEMES = {"leave-one-input-bin-out": "input_tokens", "leave-one-output-bin-out": "output_tokens",
           "leave-one-batch-size-out": "batch_size"}
VLLM_TOKEN_BUDGET = 16384
OTHER_GENERATION_WIDENING = 3.0  # model/transfer.py's stated prior for another generation
UNITS = {"eff": "fraction of the datasheet peak", "_s": "s", "_w": "W", "overlap": "exponent p of smax_p",
         "link_eff": "fraction of the NVLink bandwidth per direction", "scale": "factor (1: none)"}


def unit_of(name: str) -> str:
    field = name.split("|")[0]
    for k, u in UNITS.items():
        if field.startswith(k) or field.endswith(k) or k in field:
            return u
    return ""


# ---------------------------------------------------------------- predicting cells through the EnergyModel seam

def serving_of(row) -> object:
    from energy_predict.serving import Serving

    q = row["quantization"]
    return Serving(framework=row["framework"], cuda_graphs=bool(row["cuda_graphs"]), compile=bool(row["compile"]),
                   quantization=q if isinstance(q, str) and q != "none" else None,
                   tensor_parallel=int(row["tensor_parallel"]), max_batch=4096,
                   max_num_batched_tokens=VLLM_TOKEN_BUDGET)


def predict_cells(model, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(energy J, duration s, basis kind) of each cell through model.batch_phases; NaN where it refuses."""
    from energy_predict.errors import EnergyPredictError
    from energy_predict.model.features import deployments
    from energy_predict.serving import Deployment

    energy, duration = np.full(len(table), np.nan), np.full(len(table), np.nan)
    kind = np.full(len(table), "refused", dtype=object)
    for arch, gpu, idx in deployments(table):
        sub = table.iloc[idx]
        for _, rows in sub.groupby(["config"]).indices.items():
            at = idx[rows]
            cells = table.iloc[at]
            dep = Deployment(arch, gpu, serving_of(cells.iloc[0]), int(cells["tensor_parallel"].iloc[0]))
            try:
                ph = model.batch_phases(dep, cells["batch_size"].to_numpy(), cells["input_tokens"].to_numpy(),
                                        cells["output_tokens"].to_numpy())
                kind[at] = model.basis(dep).kind
            except EnergyPredictError:
                continue
            energy[at], duration[at] = ph.energy_j, ph.duration_s
    return energy, duration, kind


def as_model(params, log_bounds=None, ranges=None, power_rule="per-op"):
    from energy_predict.model.physics_model import PhysicalModel

    bounds = log_bounds or {k: (0.0, 0.0) for k in ("measured", "other GPU", "other model", "other generation")}
    return PhysicalModel(params, bounds, ranges or {}, power_rule)


def measured_ranges(table: pd.DataFrame) -> dict[str, dict[str, tuple[int, int]]]:
    from energy_predict.model.physics_fit import deployment_key

    out = {}
    for (gpu, _config, model), g in table.groupby(["gpu", "config", "model"]):
        r = g.iloc[0]
        key = f"{gpu}|" + deployment_key(r["framework"], bool(r["cuda_graphs"]), bool(r["compile"]),
                                         r["quantization"], int(r["tensor_parallel"]), model)
        cur = out.setdefault(key, {})
        for c in ("batch_size", "input_tokens", "output_tokens"):
            lo, hi = int(g[c].min()), int(g[c].max())
            cur[c] = (min(cur.get(c, (lo, hi))[0], lo), max(cur.get(c, (lo, hi))[1], hi))
    return out


# ---------------------------------------------------------------- held-out scores

def apes(y: np.ndarray, pred: np.ndarray) -> dict:
    ok = np.isfinite(pred) & (pred > 0)
    a = np.abs(pred[ok] / y[ok] - 1)
    return {"median_ape": float(np.median(a)) if len(a) else None,
            "p90_ape": float(np.quantile(a, 0.9)) if len(a) else None, "n": int(ok.sum()), "of": int(len(y))}


def out_of_fold(table: pd.DataFrame, column: str, idle, start: dict) -> tuple[np.ndarray, np.ndarray]:
    from energy_predict.model.physics_fit import fit

    e, t = np.full(len(table), np.nan), np.full(len(table), np.nan)
    for g in table[column].unique():
        test = (table[column] == g).to_numpy()
        train = table[~test].reset_index(drop=True)
        params = fit(train, idle, start=start).parameters
        pe, pt, _ = predict_cells(as_model(params), table[test])
        e[test], t[test] = pe, pt
    return e, t


def today_out_of_fold(table: pd.DataFrame, column: str) -> np.ndarray:
    """The shipped phase model's held-out energy, as the card scores it (per framework, model/fit.py)."""
    from energy_predict.model.structured import PhaseModel
    from energy_predict.model.validation import out_of_fold as phase_out_of_fold

    pred = np.full(len(table), np.nan)
    for _, data in table.groupby("backend"):
        pred[data.index] = phase_out_of_fold(PhaseModel(), data.reset_index(drop=True), column)
    return pred


def in_domain(table: pd.DataFrame, idle, start: dict) -> tuple[dict, dict[str, np.ndarray]]:
    from energy_predict.model.validation import interval_coverage

    scores, residuals, preds = {}, [], {}
    y, yt = table["energy_j"].to_numpy(), table["duration_s"].to_numpy()
    for scheme, column in SCHEMES.items():
        e, t = out_of_fold(table, column, idle, start)
        today = today_out_of_fold(table, column)
        preds[scheme] = e
        for fw in ("vllm", "hf"):
            at = (table["framework"] == fw).to_numpy()
            ok = at & np.isfinite(e)
            both = at & np.isfinite(e) & np.isfinite(today) & (today > 0)
            scores[f"{fw}, {scheme}"] = {
                **apes(y[at], e[at]), "time": apes(yt[at], t[at]),
                "coverage_90": interval_coverage(y[ok], e[ok], table[column].to_numpy()[ok]),
                "common_cells": {"physics": apes(y[both], e[both]), "today": apes(y[both], today[both])}}
        ok = np.isfinite(e) & (e > 0)
        residuals.append(np.log(y[ok] / e[ok]))
    scores["pooled_log_residuals"] = np.concatenate(residuals)
    return scores, preds


def leave_one_model_out(table: pd.DataFrame, idle, start: dict) -> tuple[dict, np.ndarray]:
    e, t = out_of_fold(table, "model", idle, start)
    y, yt = table["energy_j"].to_numpy(), table["duration_s"].to_numpy()
    out = {}
    for fw in ("vllm", "hf"):
        at = (table["framework"] == fw).to_numpy()
        out[fw] = {**apes(y[at], e[at]), "time": apes(yt[at], t[at]),
                   "per_model_median_ape": {m: apes(y[at & (table["model"] == m).to_numpy()],
                                                    e[at & (table["model"] == m).to_numpy()])["median_ape"]
                                            for m in sorted(table.loc[at, "model"].unique())}}
    ok = np.isfinite(e) & (e > 0) & (table["framework"] == "vllm").to_numpy()
    return out, np.log(y[ok] / e[ok])


def leave_one_gpu_out(table: pd.DataFrame, idle, start: dict, power_rule: str) -> tuple[dict, np.ndarray]:
    """Fitted on one GPU's cells, the other GPU never measured; scored on the cells the shipped card scores."""
    from energy_predict.model.fit import gpu_pairs
    from energy_predict.model.physics_fit import fit

    fits = {}
    rows = []
    for _key, model, src, dst, _train, test, within in gpu_pairs(table):
        if src not in fits:
            cells = table[table["gpu"] == src].reset_index(drop=True)
            fits[src] = fit(cells, {src: idle[src]}, start=start).parameters
        if not within.any():
            continue
        cells = test[within]
        e, t, kind = predict_cells(as_model(fits[src], power_rule=power_rule), cells)
        rows.append(pd.DataFrame({"direction": f"{src} -> {dst}", "model": model, "config": cells["config"],
                                  "energy_j": cells["energy_j"], "pred_j": e, "duration_s": cells["duration_s"],
                                  "pred_s": t, "basis": kind}))
    cells = pd.concat(rows, ignore_index=True)
    y, e = cells["energy_j"].to_numpy(), cells["pred_j"].to_numpy()
    out = {"all": {**apes(y, e), "time": apes(cells["duration_s"].to_numpy(), cells["pred_s"].to_numpy()),
                   "median_error": float(np.nanmedian(e / y - 1))}}
    for d, g in cells.groupby("direction"):
        out[d] = {**apes(g["energy_j"].to_numpy(), g["pred_j"].to_numpy()),
                  "time": apes(g["duration_s"].to_numpy(), g["pred_s"].to_numpy()),
                  "median_error": float(np.nanmedian(g["pred_j"] / g["energy_j"] - 1))}
    out["by_key"] = [{"direction": d, "config": c, "model": m, **apes(g["energy_j"].to_numpy(), g["pred_j"].to_numpy()),
                      "median_error": float(np.nanmedian(g["pred_j"] / g["energy_j"] - 1))}
                     for (d, c, m), g in cells.groupby(["direction", "config", "model"])]
    ok = np.isfinite(e) & (e > 0)
    return out, np.log(y[ok] / e[ok])


# ---------------------------------------------------------------- the published measurements

def physics_ask(q, model, modes=("offline",)):
    """published.ask_tool for the offline answer; the closed loop as the physical steady state (see the doc)."""
    import published

    from energy_predict.errors import EnergyPredictError
    from energy_predict.memory import kv_token_capacity
    from energy_predict.profile import Profile
    from energy_predict.serving import deployment_from_profile

    out = published.ask_tool(q, model, ("offline",))
    if "closed-loop" not in modes:
        return out
    off = out["offline"]
    if off.refused:
        out["closed-loop"] = published.Answer(refused=off.refused)
        return {m: out[m] for m in modes}
    raw = {"name": "published", "model": q.model, "hardware": {"gpu": q.gpu, "count": q.tensor_parallel},
           "serving": {"framework": q.framework, "tensor_parallel": q.tensor_parallel, "cuda_graphs": q.cuda_graphs,
                       "compile": q.compile, "max_batch": q.max_batch,
                       "max_num_batched_tokens": q.max_num_batched_tokens, "mode": "offline", "dtype": q.dtype,
                       "quantization": q.quantization},
           "workload": {"requests": float(q.requests), "tokens": q.tokens}}
    try:
        dep = deployment_from_profile(Profile.model_validate(raw), published.DATA)
        if q.tokens["kind"] == "samples":
            i, o = q.tokens["samples"][0]
            outs, weights = np.array([float(o)]), np.array([1.0])
        else:
            i = float(q.tokens["input_mean"][0][0])
            pairs = [(m, c) for m, c in zip(q.tokens["output_mean"][0], q.tokens["counts"][0]) if m and c]
            outs, weights = np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)
        from energy_predict.model.physics import running_sequences

        running = running_sequences(kv_token_capacity(dep), q.max_batch, np.full_like(outs, float(i)), outs, weights)
        joules, seconds = model.steady_state(dep, running, float(i), outs, weights)
    except EnergyPredictError as exc:
        out["closed-loop"] = published.Answer(refused=f"closed loop: {str(exc).splitlines()[0]}")
        return {m: out[m] for m in modes}
    lo, hi = off.low_j / off.energy_j, off.high_j / off.energy_j
    out["closed-loop"] = published.Answer(joules, joules * lo, joules * hi, running, seconds, q.tensor_parallel,
                                          off.idle_w, off.basis, off.reason)
    return {m: out[m] for m in modes}


def published_column(model, name: str | None) -> tuple[dict, dict]:
    """The published benchmark's column for `model` (written into benchmarks/results/published.* when named), and
    its headline on the points and pairs today's column answered as well (a like-for-like comparison)."""
    import published

    from energy_predict.provenance import git_commit, now_iso

    started, cpu = time.perf_counter(), time.process_time()
    sources, points, ratios = published.load_data()
    col = published.run(model, points, ratios, ask=physics_ask)
    path = published.OUT / "published.json"
    results = json.loads(path.read_text())
    summary = published.summaries(col)
    if name:
        results["columns"][name] = {
            "commit": git_commit(REPO), "created": now_iso(), "runtime_s": round(time.perf_counter() - started, 1),
            "cpu_s": round(time.process_time() - cpu, 1), "summary": summary,
            "refusals": published.refusal_reasons(col), **published.asdict(col)}
        path.write_text(published.dump_results(results))
        (published.OUT / "published.md").write_text(published.render(results))
    return summary, common_subset(published, results["columns"]["today"], published.asdict(col))


def common_subset(published, today: dict, mine: dict) -> dict:
    """Headline figures of both columns on the offline points and pairs both answered."""
    def answered(rows, key):
        return {key(r): r for r in rows if r.get("refused") is None and r.get("mode") in (None, "offline")}

    def pk(r):
        return r["id"]

    def qk(r):
        return r["numerator"], r["denominator"]

    out = {}
    for label, col in (("today", today), ("physics", mine)):
        t_pts, m_pts = answered(today["points"], pk), answered(mine["points"], pk)
        t_pairs, m_pairs = answered(today["pairs"], qk), answered(mine["pairs"], qk)
        pts = [answered(col["points"], pk)[k] for k in t_pts.keys() & m_pts.keys()]
        pairs = [answered(col["pairs"], qk)[k] for k in t_pairs.keys() & m_pairs.keys()]
        named = [r for r in pairs if r["kind"] in published.NAMED_KINDS]
        measured = [r for r in pts if r["gpu"] in published.MEASURED_GPUS]
        other = [r for r in pts if r["gpu"] not in published.MEASURED_GPUS]
        out[label] = {"points": len(pts), "pairs": len(pairs),
                      "pairs_all": published.summarize_pairs(pairs),
                      "pairs_named": published.summarize_pairs(named),
                      "points_measured_gpu": published.summarize_points(measured),
                      "points_unmeasured_gpu": published.summarize_points(other),
                      **{f"pairs_{k}": published.summarize_pairs([r for r in pairs if r["kind"] == k])
                         for k in ("gpu", "moe/dense", "concurrency", "model size")}}
    return out


# ---------------------------------------------------------------- the run

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published", action="store_true", help="add the published column (benchmarks/results)")
    parser.add_argument("--column", default="after (physics candidate)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    from energy_predict.model.dataset import training_table
    from energy_predict.model.fit import measured_idle_power
    from energy_predict.model.physics_fit import fit
    from energy_predict.model.validation import conformal_bounds
    from energy_predict.provenance import git_commit, now_iso

    started, cpu = time.perf_counter(), time.process_time()
    table = training_table()
    idle = measured_idle_power(table["run_id"].unique())
    full = fit(table, idle)
    start = full.parameters.values
    e, t, _ = predict_cells(as_model(full.parameters), table)
    card = json.loads((REPO / "artifacts/models/default/card.json").read_text())
    today = {f"{r['backend']}, {r['scheme']}": {"median_ape": r["median_ape"], "p90_ape": r["p90_ape"],
                                                 "coverage_90": r["coverage_90"], "n": r["n"]}
             for r in card["held_out"]}
    y = table["energy_j"].to_numpy()
    results = {"commit": git_commit(REPO), "created": now_iso(), "cells": len(table),
               "in_sample": {fw: apes(y[at], e[at]) for fw in ("vllm", "hf")
                             for at in [(table["framework"] == fw).to_numpy()]}}
    dom, _ = in_domain(table, idle, start)
    pooled = dom.pop("pooled_log_residuals")
    results["in_domain"] = {"physics": dom, "today": {k: v for k, v in today.items() if "model" not in k}}
    lomo, lomo_res = leave_one_model_out(table, idle, start)
    results["leave_one_model_out"] = {"physics": lomo, "today": {k: {x: v[x] for x in ("median_ape", "p90_ape", "n")}
                                                                 for k, v in card["transfer"]["model"].items()}}
    logo, logo_res = {}, None
    for rule in ("per-op", "share"):
        logo[rule], res = leave_one_gpu_out(table, idle, start, rule)
        logo_res = res if rule == "per-op" else logo_res
    g = card["transfer"]["gpu"]
    results["leave_one_gpu_out"] = {"physics": logo, "today": {
        "all": {"median_ape": g["median_ape"], "p90_ape": g["p90_ape"], "n": g["n"], "median_error": g["median_error"],
                "time": {"median_ape": g["time_median_ape"], "p90_ape": g["time_p90_ape"]}},
        **{d: {"median_ape": v["median_ape"], "p90_ape": v["p90_ape"], "n": v["n"]}
           for d, v in g["directions"].items()}}}
    bounds = {"measured": conformal_bounds(pooled), "other GPU": conformal_bounds(logo_res),
              "other model": conformal_bounds(lomo_res)}
    bounds["other generation"] = tuple(OTHER_GENERATION_WIDENING * b for b in bounds["other GPU"])
    results["log_bounds"] = bounds
    results["parameters"] = [{"name": k, "value": v, "unit": unit_of(k)} for k, v in sorted(start.items())]
    results["idle_w"] = full.parameters.idle_w
    results["runtime_s"] = round(time.perf_counter() - started, 1)
    results["cpu_s"] = round(time.process_time() - cpu, 1)
    if args.published:
        for rule, name in (("per-op", args.column), ("share", None)):
            model = as_model(full.parameters, bounds, measured_ranges(table), rule)
            summary, common = published_column(model, name)
            results.setdefault("published", {})[rule] = {"headline": summary["headline"], "power": summary["power"],
                                                         "common_with_today": common}
    OUT.mkdir(exist_ok=True)
    (OUT / "physics_model.json").write_text(json.dumps(results, indent=1, default=_json) + "\n")
    (OUT / "physics_model.md").write_text(render(results))
    print(json.dumps({k: results[k] for k in ("in_sample", "log_bounds")}, default=_json))


def _json(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(type(x))


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def render(r: dict) -> str:
    lines = ["# The physical step model: fitted values and held-out scores (issue 25)", "",
             f"Generated by `python benchmarks/physics_model.py` at {r['commit'][:10]} ({r['created']}), "
             f"{r['cells']} cells, {r['cpu_s']} s of CPU. Model: src/energy_predict/model/physics.py (terms), "
             "physics_fit.py (fit), physics_model.py (rules for what was never measured).", "",
             "## In-domain held-out (batch energy; a fold holds its value out of every configuration)", "",
             "Today's figures are the card's (the cells it could predict); `common cells`: both models on the cells "
             "the shipped model predicts, refitted the card's way.", "",
             "| framework, scheme | physics: median / p90 (cells) | physics time: median / p90 | physics coverage | "
             "today (card): median / p90 (cells) | common cells, physics / today: median (p90) |",
             "|---|---|---|---|---|---|"]
    for k, v in r["in_domain"]["physics"].items():
        t = r["in_domain"]["today"].get(k, {})
        c = v["common_cells"]
        lines.append(f"| {k} | {_pct(v['median_ape'])} / {_pct(v['p90_ape'])} ({v['n']}/{v['of']}) | "
                     f"{_pct(v['time']['median_ape'])} / {_pct(v['time']['p90_ape'])} | {_pct(v['coverage_90'])} | "
                     f"{_pct(t.get('median_ape'))} / {_pct(t.get('p90_ape'))} ({t.get('n', '-')}) | "
                     f"{_pct(c['physics']['median_ape'])} ({_pct(c['physics']['p90_ape'])}) / "
                     f"{_pct(c['today']['median_ape'])} ({_pct(c['today']['p90_ape'])}), {c['today']['n']} cells |")
    lines += ["", "## Leave-one-model-out", "", "| framework | physics: median / p90 (cells) | today: median / p90 "
              "(cells) |", "|---|---|---|"]
    for fw, v in r["leave_one_model_out"]["physics"].items():
        t = r["leave_one_model_out"]["today"].get(fw, {})
        lines.append(f"| {fw} | {_pct(v['median_ape'])} / {_pct(v['p90_ape'])} ({v['n']}/{v['of']}) | "
                     f"{_pct(t.get('median_ape'))} / {_pct(t.get('p90_ape'))} ({t.get('n', '-')}) |")
    lines += ["", "Per model (physics, median): " + ", ".join(
        f"{m} {_pct(x)}" for fw in ("vllm", "hf") for m, x in r["leave_one_model_out"]["physics"][fw][
            "per_model_median_ape"].items()), "",
        "## Leave-one-GPU-out, H100 SXM <-> H200 SXM (target: median <= 5%, p90 <= 12%)", "",
        "Fitted on one GPU's cells only; the other never measured (power and idle by the stated rule). Cells: "
        "those the shipped card scores.", "",
        "| rule | direction | physics energy: median / p90 (cells) | median signed | physics time: median / p90 | "
        "today: median / p90 (cells) |", "|---|---|---|---|---|---|"]
    today = r["leave_one_gpu_out"]["today"]
    for rule, res in r["leave_one_gpu_out"]["physics"].items():
        for d, v in res.items():
            if d == "by_key":
                continue
            t = today.get(d, {})
            lines.append(f"| {rule} | {d} | {_pct(v['median_ape'])} / {_pct(v['p90_ape'])} ({v['n']}) | "
                         f"{_pct(v['median_error'])} | {_pct(v['time']['median_ape'])} / {_pct(v['time']['p90_ape'])}"
                         f" | {_pct(t.get('median_ape'))} / {_pct(t.get('p90_ape'))} ({t.get('n', '-')}) |")
    lines += ["", "By configuration and model (rule `per-op`):", "", "| direction | config | model | median / p90 | "
              "median signed |", "|---|---|---|---|---|"]
    for v in r["leave_one_gpu_out"]["physics"]["per-op"]["by_key"]:
        lines.append(f"| {v['direction']} | {v['config']} | {v['model']} | {_pct(v['median_ape'])} / "
                     f"{_pct(v['p90_ape'])} ({v['n']}) | {_pct(v['median_error'])} |")
    lines += ["", "## Interval log bounds used by the published column", "",
              *(f"- {k}: [{lo:.3f}, {hi:.3f}]" for k, (lo, hi) in r["log_bounds"].items()), "",
              "## Fitted values", "", "| parameter | value | unit |", "|---|---|---|"]
    lines += [f"| {p['name']} | {p['value']:.4g} | {p['unit']} |" for p in r["parameters"]]
    lines += ["", "Loaded idle per GPU and framework (measured, W): " + ", ".join(
        f"{k} {v:.0f}" for k, v in r["idle_w"].items())]
    if r.get("published"):
        lines += ["", "## Published (benchmarks/results/published.md has every figure of the per-op column)", "",
                  "| rule | figure | value |", "|---|---|---|"]
        for rule, v in r["published"].items():
            for k, x in v["headline"].items():
                lines.append(f"| {rule} | {k} | {_pct(x) if isinstance(x, float) else x} |")
            lines.append(f"| {rule} | mean power per GPU, predicted / published | " + ", ".join(
                f"{g} {p['median_predicted_over_published_power']:.2f}" for g, p in v["power"].items()) + " |")
        lines += ["", "Like for like: the offline points and pairs today's column answers too (rule per-op):", "",
                  "| figure | today | physics |", "|---|---|---|"]
        common = r["published"]["per-op"]["common_with_today"]
        rows = [("points / pairs", lambda c: f"{c['points']} / {c['pairs']}"),
                ("pairs: direction agreement", lambda c: _pct(c["pairs_all"]["direction_agreement"])),
                ("pairs: median abs(ratio error)", lambda c: _pct(c["pairs_all"]["median_abs_ratio_error"])),
                ("named pairs (gpu, tp, moe/dense, fp8/bf16): direction",
                 lambda c: _pct(c["pairs_named"]["direction_agreement"])),
                ("named pairs: median abs(ratio error)", lambda c: _pct(c["pairs_named"]["median_abs_ratio_error"])),
                ("gpu pairs: direction", lambda c: _pct(c["pairs_gpu"]["direction_agreement"])),
                ("gpu pairs: median abs(ratio error)", lambda c: _pct(c["pairs_gpu"]["median_abs_ratio_error"])),
                ("moe/dense pairs: direction", lambda c: _pct(c["pairs_moe/dense"]["direction_agreement"])),
                ("moe/dense pairs: median abs(ratio error)",
                 lambda c: _pct(c["pairs_moe/dense"]["median_abs_ratio_error"])),
                ("points on the H100: median abs(error)", lambda c: _pct(c["points_measured_gpu"]["median_abs_error"])),
                ("points on GPUs never measured: median abs(error)",
                 lambda c: _pct(c["points_unmeasured_gpu"]["median_abs_error"])),
                ("coverage, H100 / never measured", lambda c: f"{_pct(c['points_measured_gpu']['coverage'])} / "
                                                             f"{_pct(c['points_unmeasured_gpu']['coverage'])}")]
        for label, f in rows:
            lines.append(f"| {label} | {f(common['today'])} | {f(common['physics'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

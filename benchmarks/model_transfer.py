"""Models never measured: leave-one-model-out per configuration and family, and what calibrating a new one costs.

    python benchmarks/model_transfer.py     # writes benchmarks/results/model_transfer.{json,md}

1. Leave-one-model-out with the shipped phase model (each fit key's dense models share coefficients, its mixtures
   of experts share theirs): every vLLM model is predicted from the others, per (GPU, configuration) and per
   family, with median and p90 error and interval coverage. `wide` keeps the fit keys where two or more other
   models of the family were measured (what an unmeasured model gets there).
2. Calibration cost: each dense model the families campaign measured on one H100 (vLLM CUDA graphs) is held out,
   then given k of its cells in the order the campaign measured them (its records' timestamps), and its other
   cells are predicted from the transferred phases rescaled on those k cells (one factor for k = 1, prefill and
   decode factors from k = 2). GPU-minutes are the campaign's own: from the engine's launch (the previous engine
   on that GPU ending) to the k-th cell's last repetition, engine start-up included. The campaign is the one
   `energy_predict.analysis.subject.FAMILY_CAMPAIGN` names, its run found by the lease each run.json records.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.analysis.runs import campaign_runs
from energy_predict.analysis.subject import FAMILY_CAMPAIGN
from energy_predict.datasets import run_dirs
from energy_predict.model.dataset import training_table
from energy_predict.model.features import config_keys
from energy_predict.model.scoring import lomo_scores
from energy_predict.model.structured import PhaseModel
from energy_predict.model.validation import interval_coverage, out_of_fold
from energy_predict.provenance import artifacts_dir, git_commit, now_iso

OUT = Path(__file__).parent / "results"
CELL = ["batch_size", "input_tokens", "output_tokens"]
TARGET = {"median_ape": 0.05, "gpu_minutes": 10.0}


def scores(y, pred, groups) -> dict:
    """The card's leave-one-model-out scores (`fit.lomo_scores`); n = 0 where too few cells were predicted.

    `answered_coverage_90`: as `coverage_90` (each model's cells inside the interval built from the other models'
    residuals), with that interval widened to the others' p90 error as an answer's is (model/resolve.py).
    """
    scored = lomo_scores(y, pred, groups)
    if not scored:
        return {"n": 0}
    ok = np.isfinite(pred) & (pred > 0)
    return {**scored.to_json(), "answered_coverage_90": interval_coverage(y[ok], pred[ok], groups[ok], cover_p90=True)}


def lomo(table: pd.DataFrame) -> dict:
    v = table[table["backend"] == "vllm"].reset_index(drop=True)
    pred = out_of_fold(PhaseModel(), v, "model")
    y, models = v["energy_j"].to_numpy(), v["model"].to_numpy()
    moe = (v["num_experts"] > 0).to_numpy()
    keys = config_keys(v).map(lambda k: f"{k[0]} {v.loc[0, 'backend']} tp{k[5]}{' fp8' if k[4] else ''}"
                              f"{' graphs' if k[2] else ' eager'}").to_numpy()
    out = {"per_family": {}, "per_config": {}, "per_model": {}}
    for family, mask in (("dense", ~moe), ("moe", moe)):
        others = pd.Series(np.where(mask, models, None)).groupby(keys).transform("nunique").to_numpy() - 1
        out["per_family"][family] = {"all": scores(y[mask], pred[mask], models[mask]),
                                     "wide": scores(y[mask & (others >= 2)], pred[mask & (others >= 2)],
                                                    models[mask & (others >= 2)])}
        for key in sorted(set(keys[mask])):
            m = mask & (keys == key)
            out["per_config"][f"{key} {family}"] = {**scores(y[m], pred[m], models[m]),
                                                    "models": sorted(set(models[m]))}
    for model in sorted(set(models)):
        m = models == model
        out["per_model"][model] = {**scores(y[m], pred[m], models[m]), "family": "moe" if moe[m][0] else "dense"}
    return out


def family_run() -> str:
    """The run of the families campaign (one `calibrate --ray` command, so one run)."""
    runs = campaign_runs({run.name: json.loads((run / "run.json").read_text()) for run in run_dirs()},
                         FAMILY_CAMPAIGN)
    if len(runs) != 1:
        raise SystemExit(f"expected one run of campaign {FAMILY_CAMPAIGN}, found {sorted(runs) or 'none'}")
    return runs.pop()


def new_dense_models(table: pd.DataFrame, run: str) -> list[str]:
    """Dense models `run` measured with vLLM on one H100 that no other run measured there (the new ones)."""
    v = table[(table["backend"] == "vllm") & (table["gpu"] == "H100-SXM-80GB") & (table["tensor_parallel"] == 1)
              & ~(table["num_experts"] > 0)]
    mine, others = set(v.loc[v["run_id"] == run, "model"]), set(v.loc[v["run_id"] != run, "model"])
    return sorted(mine - others)


def campaign_minutes(run: str) -> pd.DataFrame:
    """Per record of the Ray campaign `run`: GPU-minutes from its engine's launch to that record (start-up included)."""
    r = pd.read_parquet(artifacts_dir() / "calibration" / run / "records.parquet")
    r["t"] = pd.to_datetime(r["timestamp"])
    start = pd.to_datetime(json.loads((artifacts_dir() / "calibration" / run / "run.json").read_text())["started"])
    free = {}  # GPU index -> when its last engine ended
    spans = []
    engines = r.groupby(["model", "config"], sort=False)
    for _, g in sorted(engines, key=lambda kv: kv[1]["t"].min()):
        gpus = list(g["gpu_indices"].iloc[0])
        launch = max([free.get(i, start) for i in gpus])
        for i in gpus:
            free[i] = g["t"].max()
        spans.append(g.assign(launch=launch, gpus=len(gpus)))
    out = pd.concat(spans)
    out["gpu_minutes"] = (out["t"] - out["launch"]).dt.total_seconds() / 60 * out["gpus"]
    return out


def calibration_curve(table: pd.DataFrame) -> dict:
    run = family_run()
    minutes = campaign_minutes(run)
    v = table[(table["backend"] == "vllm") & (table["gpu"] == "H100-SXM-80GB")].reset_index(drop=True)
    out = {}
    for model in new_dense_models(table, run):
        rows = minutes[minutes["model"] == model]
        order = rows.groupby(CELL, sort=False)["gpu_minutes"].max().reset_index()  # measurement order
        train = v[v["model"] != model]
        fitted = PhaseModel().fit(train, train["energy_j"])
        mine = v[(v["model"] == model)].set_index(CELL).loc[[tuple(x) for x in order[CELL].to_numpy()]].reset_index()
        phases = fitted.predict_phases(mine)
        p, d, y = phases["prefill_j"].to_numpy(), phases["decode_j"].to_numpy(), mine["energy_j"].to_numpy()
        curve = []
        for k in range(0, len(mine) - 1):
            used, rest = np.arange(k), np.arange(k, len(mine))
            if k == 0:
                a = b = 1.0
            elif k == 1:
                a = b = y[0] / (p[0] + d[0])
            else:
                from scipy.optimize import nnls

                A = np.column_stack([p[used], d[used]]) / y[used, None]
                a, b = nnls(A, np.ones(k))[0]
                if a == 0 or b == 0:  # a phase the k cells do not see: one factor for both
                    a = b = float(np.exp(np.mean(np.log(y[used] / (p[used] + d[used])))))
            pred = a * p[rest] + b * d[rest]
            ape = np.abs(pred / y[rest] - 1)
            curve.append({"cells": k, "gpu_minutes": float(order["gpu_minutes"].iloc[k - 1]) if k else 0.0,
                          "median_ape": float(np.median(ape)), "p90_ape": float(np.quantile(ape, 0.9)),
                          "held_out_cells": int(len(rest))})
        out[model] = {"engine_start_minutes": float(rows["gpu_minutes"].min()), "curve": curve}
    return out


def main() -> None:
    table = training_table()
    result = {"created": now_iso(), "commit": git_commit(), "lomo": lomo(table),
              "calibration_cost": calibration_curve(table), "target": TARGET}
    OUT.mkdir(exist_ok=True)
    (OUT / "model_transfer.json").write_text(json.dumps(result, indent=1) + "\n")
    lo = result["lomo"]

    def pct(s, k):
        return f"{100 * s[k]:.1f}%" if s.get(k) is not None else "-"

    lines = ["# Models never measured (vLLM): leave-one-model-out, and the cost of calibrating a new one", "",
             f"Made by `python benchmarks/model_transfer.py` ({result['created']}, commit {result['commit']}).", "",
             "## Leave-one-model-out per family", "",
             "| family | where | median | p90 | coverage (90%) | coverage as answered | cells |",
             "|---|---|---|---|---|---|---|"]
    for fam, s in lo["per_family"].items():
        for where, t in s.items():
            label = "every fit key with another model of the family" if where == "all" else \
                "fit keys with two or more other models of the family"
            lines.append(f"| {fam} | {label} | {pct(t, 'median_ape')} | {pct(t, 'p90_ape')} | "
                         f"{pct(t, 'coverage_90')} | {pct(t, 'answered_coverage_90')} | {t['n']} |")
    lines += ["", "Issue 16's bar for dense models (median <= 8%, p90 <= 20%) is read on the second row: an "
              "unmeasured model gets that interval where two or more peers were measured, the first row's elsewhere.",
              "Coverage: each model's cells inside the 90% interval built from the other models' held-out errors; "
              "as answered: that interval widened to the other models' p90 error, as an answer's is "
              "(model/resolve.py).",
              "", "## Per configuration", "",
              "| configuration | models | median | p90 | coverage (90%) | coverage as answered | cells |",
              "|---|---|---|---|---|---|---|"]
    for key, s in lo["per_config"].items():
        if s["n"]:
            lines.append(f"| {key} | {', '.join(s['models'])} | {pct(s, 'median_ape')} | {pct(s, 'p90_ape')} | "
                         f"{pct(s, 'coverage_90')} | {pct(s, 'answered_coverage_90')} | {s['n']} |")
    lines += ["", "## Per model held out", "", "| model | family | median | p90 | cells |", "|---|---|---|---|---|"]
    for m, s in lo["per_model"].items():
        if s["n"]:
            lines.append(f"| {m} | {s['family']} | {pct(s, 'median_ape')} | {pct(s, 'p90_ape')} | {s['n']} |")
    lines += ["", "## Calibration cost: held-out error against GPU-minutes (H100, vLLM CUDA graphs)", "",
              "| model | cells measured | GPU-minutes (start-up included) | median | p90 | cells held out |",
              "|---|---|---|---|---|---|"]
    met = []
    for m, c in result["calibration_cost"].items():
        for row in c["curve"]:
            lines.append(f"| {m} | {row['cells']} | {row['gpu_minutes']:.1f} | {100 * row['median_ape']:.1f}% | "
                         f"{100 * row['p90_ape']:.1f}% | {row['held_out_cells']} |")
        ok = [r for r in c["curve"] if r["median_ape"] <= TARGET["median_ape"]]
        met.append((m, ok[0] if ok else None))
    said = [f"{m}: met at {r['cells']} cells, {r['gpu_minutes']:.1f} GPU-min" if r else f"{m}: not met within its cells"
            for m, r in met]
    note = ("Target: a new dense model on a calibrated GPU and configuration at <= 5% median held-out error in <= 10 "
            "GPU-minutes. " + "; ".join(said) + " (0 cells: the transfer from its peers alone). Its whole eight-cell "
            "grid took 2.6-2.9 GPU-minutes; the engine's start-up (about 2 minutes: compile and CUDA graphs) is most "
            "of the cost of the first cells. With random weights a softmax router of a mixture of experts spreads "
            "tokens evenly (a sigmoid router with a per-expert bias does not: Moonlight-16B-A3B's 2026-12-07 cells "
            "read 6 experts whatever the batch and are not fitted); real routing skew concentrates tokens on fewer "
            "experts, which reads fewer expert weights per step at small batches (cheaper decode) and leaves some "
            "experts' kernels fuller at large ones.")
    lines += ["", note, ""]
    (OUT / "model_transfer.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

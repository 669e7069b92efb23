"""Fit, score and store the default model: the estimator with the lowest held-out error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.errors import EnergyPredictError
from energy_predict.model.dataset import training_table
from energy_predict.model.features import config_keys, tp_family
from energy_predict.model.learners import ESTIMATORS, make_estimator
from energy_predict.model.option_fit import fit_options
from energy_predict.model.padding import TERMS as PADDING_TERMS
from energy_predict.model.store import MeasuredModel, library_versions, table_hash
from energy_predict.model.structured import TERMS, PhaseModel
from energy_predict.model.validation import SCHEMES, conformal_bounds, interval_coverage, out_of_fold, score
from energy_predict.provenance import artifacts_dir, git_commit, now_iso
from energy_predict.serving import KEY_FIELDS

SELECTION_SCHEMES = ("leave-one-input-bin-out", "leave-one-batch-size-out")
# the interval pools every within-domain hold-out, the worst (output bins) included, not only the selection's
INTERVAL_SCHEMES = ("leave-one-input-bin-out", "leave-one-output-bin-out", "leave-one-batch-size-out")


def accuracy_table(table: pd.DataFrame, estimators=ESTIMATORS, on_row=None) -> pd.DataFrame:
    """Held-out scores: backend x estimator x scheme -> median, p90 APE and interval coverage."""
    rows = []
    for backend, data in table.groupby("backend"):
        data = data.reset_index(drop=True)
        for name in estimators:
            for scheme in SCHEMES:
                s = score(make_estimator(name), data, scheme)
                rows.append({"backend": backend, "estimator": name, "scheme": scheme, "median_ape": s.median_ape,
                             "p90_ape": s.p90_ape, "coverage_90": s.coverage, "n": s.n})
                if on_row:
                    on_row(rows[-1])
    return pd.DataFrame(rows)


def choose_estimator(scores: pd.DataFrame) -> str:
    """Lowest mean held-out median APE over the selection schemes and both backends (never training error)."""
    sel = scores[scores["scheme"].isin(SELECTION_SCHEMES)]
    return sel.groupby("estimator")["median_ape"].mean().idxmin()


def measured_idle_power(run_ids) -> dict[str, dict[str, float]]:
    """Median idle power of one GPU, per GPU kind: empty, and holding a loaded engine (per framework).

    Runs over several GPUs record each GPU's reading (`idle_power_per_gpu_w`); their sums are not one GPU's. A
    loaded reading (`loaded:<model>:<config>`) counts for the framework of that config, as the run recorded it.
    """
    import json

    from energy_predict.datasets import calibration_dir
    from energy_predict.serving_spec import serving_of_record

    readings: dict[str, dict[str, list[float]]] = {}
    for rid in run_ids:
        meta = json.loads((calibration_dir() / rid / "run.json").read_text())
        per_gpu = meta.get("idle_power_per_gpu_w") or {k: [v] for k, v in meta.get("idle_power_w", {}).items()}
        gpu = readings.setdefault(meta["gpu"], {"empty": [], "loaded_hf": [], "loaded_vllm": []})
        for key, watts in per_gpu.items():
            watts = [w for w in (watts or []) if w is not None]
            if key == "before":
                gpu["empty"].extend(watts)
            elif key.startswith("loaded:"):
                framework = serving_of_record(meta["configs"][key.rsplit(":", 1)[-1]]).framework
                gpu.setdefault(f"loaded_{framework}", []).extend(watts)
    return {g: {k: float(np.median(v)) for k, v in r.items() if v} for g, r in sorted(readings.items())}


PADDING_FIT = "2026-11-27-x1b-hf-padding.fit.json"


def padding_dir() -> Path:
    """The committed HF padding inputs."""
    return artifacts_dir() / "padding"


def hf_padding(folder: Path | None = None) -> dict:
    """Coefficients of the HF left-padding overhead, from the committed padding fit (artifacts/padding/).

    The raw A/B rows behind it were never committed and are lost; the fit file says so and carries the
    coefficients the shipped card recorded, so a refit reproduces that card from committed files.
    """
    path = (folder or padding_dir()) / PADDING_FIT
    try:
        fit = json.loads(path.read_text())
        coef = [float(c) for c in fit["coef"]]
        if fit["terms"] != PADDING_TERMS or len(coef) != len(PADDING_TERMS) \
                or not all(np.isfinite(c) and c >= 0 for c in coef):
            raise ValueError(f"terms must be {PADDING_TERMS} with finite non-negative coefficients")
        measured = str(fit["model_measured"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise EnergyPredictError(f"model fit: the HF padding input {path} is missing or unreadable "
                                 f"({type(exc).__name__}); restore it with 'git checkout -- "
                                 f"artifacts/padding/{PADDING_FIT}' before fitting") from None
    return {"coef": coef, "terms": PADDING_TERMS, "model_measured": measured, "sources": [PADDING_FIT],
            "method": "model/padding.py: NNLS on padded minus unpadded energy; coefficients from the committed "
                      "fit (its raw A/B rows were never committed and are lost)"}


def fit_inputs(run_ids) -> list[Path]:
    """The files a card fitted on these runs cites: each training run's run.json and records.parquet, the padding fit.

    Raises EnergyPredictError naming the first that is missing (a run known only by its journal, records.jsonl,
    is not a committed input).
    """
    from energy_predict.datasets import calibration_dir

    paths = [calibration_dir() / run / f for run in sorted(run_ids)
             for f in ("run.json", "records.parquet")] + [padding_dir() / PADDING_FIT]
    for path in paths:
        if not path.is_file():
            raise EnergyPredictError(f"model fit: {path} is missing, and the card would cite it; restore or "
                                     "commit it (a run still going has only records.jsonl: let it finish) "
                                     "before fitting")
    return paths


def uncommitted(paths: list[Path]) -> list[Path]:
    """Those of `paths` that git does not track, outside the checkout included (empty outside a git checkout)."""
    import subprocess

    root = artifacts_dir().parent.resolve()
    inside = [p for p in paths if Path(p).resolve().is_relative_to(root)]
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *(str(Path(p).resolve().relative_to(root))
                                                              for p in inside)],
                             cwd=root, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    tracked = {root / f for f in out.stdout.decode().split("\0") if f}
    return [p for p in paths if Path(p).resolve() not in tracked]


def _key_dict(key: tuple) -> dict:
    """A fit key (GPU, *serving key) as the card stores it."""
    return {"gpu": key[0], "serving": dict(zip(KEY_FIELDS, key[1:]))}


def lomo_scores(y: np.ndarray, pred: np.ndarray, models: np.ndarray) -> dict | None:
    """Leave-one-model-out scores of held-out predictions (None where fewer than 6 cells were predicted)."""
    ok = np.isfinite(pred) & (pred > 0)
    if ok.sum() < 6:
        return None
    ape = np.abs(pred[ok] / y[ok] - 1)
    return {"log_bounds": list(conformal_bounds(np.log(y[ok] / pred[ok]))), "median_ape": float(np.median(ape)),
            "p90_ape": float(np.quantile(ape, 0.9)), "coverage_90": interval_coverage(y[ok], pred[ok], models[ok]),
            "n": int(ok.sum()), "models": sorted(set(models[ok])),
            "per_model_median_ape": {m: float(np.median(ape[models[ok] == m])) for m in sorted(set(models[ok]))}}


def model_transfer(table: pd.DataFrame) -> dict[str, dict]:
    """Per framework and family (dense, or mixtures of experts as `<framework>-moe`): predicting an unmeasured model.

    Leave-one-model-out: each measured model is predicted from the others (its family's coefficients of each fit
    key). Scored over every fit key where another model of the family was measured (`log_bounds` etc.), over the
    fit keys where at least two others were (`wide`), and per fit key (`by_key`): an unmeasured model gets its fit
    key's score, and is refused where there is none or it is too large (model/store.py).
    """
    out = {}
    for backend, data in table.groupby("backend"):
        data = data.reset_index(drop=True)
        if data["model"].nunique() < 2:
            continue
        pred = out_of_fold(PhaseModel(), data, SCHEMES["leave-one-model-out"])
        moe = (data["num_experts"] > 0).to_numpy()
        tuples = config_keys(data)
        keys = tuples.map(str).to_numpy()
        y, models = data["energy_j"].to_numpy(), data["model"].to_numpy()
        for family, in_family in (("dense", ~moe), ("moe", moe)):
            others = pd.Series(data["model"].where(in_family)).groupby(keys).transform("nunique").to_numpy() - 1
            base = lomo_scores(y[in_family], pred[in_family], models[in_family])
            if base is None:
                continue
            wide = in_family & (others >= 2)
            name = backend if family == "dense" else f"{backend}-moe"
            by_key = []
            for key in sorted(set(keys[in_family])):
                at = in_family & (keys == key)
                scored = lomo_scores(y[at], pred[at], models[at])
                if scored is not None and len(scored["models"]) >= 2:  # two models: each predicted from another
                    by_key.append({**_key_dict(tuples[at].iloc[0]), **scored})
            out[name] = {"scheme": "leave-one-model-out", "family": family, **base,
                         "wide": lomo_scores(y[wide], pred[wide], models[wide]), "by_key": by_key}
    return out


def extrapolation(table: pd.DataFrame, held_out: dict[str, np.ndarray]) -> dict:
    """The held-out error of predicting beyond the measured lengths or batches.

    Leave-one-input-bin-out, leave-one-output-bin-out and leave-one-batch-size-out, scoring only the folds that
    hold out the smallest or largest value of their configuration: those cells were predicted from the inside,
    as a request beyond the measured range is. A request outside the ranges gets this interval.
    `held_out`: each scheme's out-of-fold predictions of the table (computed once, for the in-domain interval too).
    """
    log_res, ape = [], []
    for scheme in INTERVAL_SCHEMES:
        column, pred = SCHEMES[scheme], held_out[scheme]
        lo = table.groupby("config")[column].transform("min")
        hi = table.groupby("config")[column].transform("max")
        edge = ((table[column] == lo) | (table[column] == hi)).to_numpy() & np.isfinite(pred) & (pred > 0)
        y = table["energy_j"].to_numpy()[edge]
        log_res.append(np.log(y / pred[edge]))
        ape.append(np.abs(pred[edge] / y - 1))
    r, a = np.concatenate(log_res), np.concatenate(ape)
    return {"schemes": "edge folds of leave-one-{input-bin,output-bin,batch-size}-out",
            "log_bounds": list(conformal_bounds(r)), "median_ape": float(np.median(a)),
            "p90_ape": float(np.quantile(a, 0.9)), "n": int(len(a))}


RANGE_COLUMNS = ("batch_size", "input_tokens", "output_tokens")


def _transfer_scores(y: np.ndarray, pred: np.ndarray, yt: np.ndarray, pt: np.ndarray) -> dict:
    """Energy and time errors of transferred predictions: median and p90 APE, median signed error, n."""
    ape, err, tape = np.abs(pred / y - 1), pred / y - 1, np.abs(pt / yt - 1)
    return {"median_ape": float(np.median(ape)), "p90_ape": float(np.quantile(ape, 0.9)),
            "median_error": float(np.median(err)), "time_median_ape": float(np.median(tape)),
            "time_p90_ape": float(np.quantile(tape, 0.9)), "time_median_error": float(np.median(pt / yt - 1)),
            "n": int(len(ape))}


def gpu_pairs(table: pd.DataFrame) -> Iterator[tuple[tuple, str, str, str, pd.DataFrame, pd.DataFrame, np.ndarray]]:
    """(fit key, model, source GPU, destination GPU, source cells, destination cells, inside the source's ranges).

    One per ordered pair of GPUs that measured a (configuration, model), the source with enough cells to fit;
    `inside`: each destination cell within the source's measured batch, input and output ranges.
    """
    tuples = config_keys(table)
    table = table.assign(_key=tuples.map(lambda k: str(k[1:])))
    for (_key, model), group in table.groupby(["_key", "model"]):
        kinds = sorted(group["gpu"].unique())
        for src in kinds:
            for dst in kinds:
                train, test = group[group["gpu"] == src], group[group["gpu"] == dst]
                if src == dst or len(train) < PhaseModel().min_cells or not len(test):
                    continue
                inside = np.ones(len(test), bool)
                for c in RANGE_COLUMNS:
                    inside &= test[c].between(train[c].min(), train[c].max()).to_numpy()
                yield tuples[test.index[0]], model, src, dst, train, test, inside


def gpu_transfer(table: pd.DataFrame) -> dict | None:
    """Leave-one-GPU-out: each GPU's cells predicted from another GPU's coefficients (model/transfer.py).

    Only (configuration, model) pairs measured on two GPUs are scored, and only the destination cells inside the
    source GPU's measured batch, input and output ranges of that pair: beyond them the error is shape
    extrapolation, scored apart (`extrapolation`), and a transferred answer beyond the ranges adds that interval
    (model/store.py). The cells outside are reported (`outside_ranges`), unused. Both directions are pooled for the
    interval (`log_bounds`) and reported apart (`directions`, keyed `src -> dst`) and per configuration and model
    (`by_key`). `coverage_90`: the share of each direction's cells inside the interval built from the other
    direction's residuals alone (the pooled interval covers its own cells by construction). The result is the
    interval a transferred GPU's answer carries, and the GPUs it was shown between (the only ones it may reach).
    """
    from energy_predict.gpus import resolve_gpu
    from energy_predict.model.transfer import transfer_coefficients

    inside, outside, by_key, gpus = [], [], [], set()
    for key, model, src, dst, train, test, within in gpu_pairs(table):
        gpus |= {src, dst}
        pred = {}
        for target in ("energy_j", "duration_s"):
            fitted = PhaseModel().fit(train, train[target]).fitted()
            pred[target] = transfer_coefficients(fitted, resolve_gpu(src), resolve_gpu(dst)).predict(test)
        direction = f"{src} -> {dst}"
        for mask, rows in ((within, inside), (~within, outside)):
            if mask.any():
                rows.append((direction, test["energy_j"].to_numpy()[mask], pred["energy_j"][mask],
                             test["duration_s"].to_numpy()[mask], pred["duration_s"][mask]))
        if within.any():
            by_key.append({"direction": direction, "source_gpu": src, **_key_dict((dst, *key[1:])),
                           "model": model, **_transfer_scores(*inside[-1][1:]),
                           "source_ranges": {c: [int(train[c].min()), int(train[c].max())]
                                             for c in RANGE_COLUMNS}, "outside_ranges": int((~within).sum())})
    if not inside:
        return None

    def pooled(rows):
        return [np.concatenate(v) for v in list(zip(*rows))[1:]]

    y, pred, yt, pt = pooled(inside)
    dirs = np.concatenate([[row[0]] * len(row[1]) for row in inside])
    log_r = np.log(y / pred)
    directions = {}
    for d in sorted(set(dirs)):
        at = dirs == d
        directions[d] = {**_transfer_scores(y[at], pred[at], yt[at], pt[at]),
                         "log_bounds": list(conformal_bounds(log_r[at]))}
    out = {"scheme": "leave-one-gpu-out", "gpus": sorted(gpus), "log_bounds": list(conformal_bounds(log_r)),
           **_transfer_scores(y, pred, yt, pt), "coverage_90": interval_coverage(y, pred, dirs),
           "directions": directions, "by_key": by_key,
           "cells": "destination cells inside the source GPU's measured batch, input and output ranges of the "
                    "(configuration, model)",
           "method": "model/transfer.py: coefficients of the measured GPU, byte terms x bandwidth ratio"}
    if outside:
        out["outside_ranges"] = _transfer_scores(*pooled(outside))
    return out


def tp_laws(table: pd.DataFrame, idle: dict[str, dict[str, float]]) -> list[dict]:
    """The tensor-parallel law of each family with two or more measured degrees, and its held-out error.

    A family is a GPU kind and a serving configuration whatever its degree; the law is fitted on every dense cell.

    The law answers only for degrees above 1 that were not measured, so its error is scored on the degrees above
    1 held out (each from the others, TP1 always among them); the TP1 fold is reported beside it, unused.
    """
    from energy_predict.model.tp import fit_law, leave_one_degree_out

    dense = table[table["num_experts"] == 0].reset_index(drop=True)
    keys = config_keys(dense).map(tp_family)
    out = []
    for family in dict.fromkeys(keys):
        cells = dense[(keys == family).to_numpy()].reset_index(drop=True)
        degrees = sorted(int(d) for d in cells["tensor_parallel"].unique())
        if len(degrees) < 2 or 1 not in degrees:
            continue
        idle_w = idle.get(family[0], {}).get(f"loaded_{cells['backend'].iloc[0]}") or 0.0
        law = {**_key_dict(family), "degrees": degrees, "models": sorted(cells["model"].unique()),
               **fit_law(cells, cells["energy_j"], cells["duration_s"], idle_w),
               "method": "model/tp.py: shared work once, per-GPU share of FLOPs and bytes in time, all-reduce ops "
                         "and bytes, every GPU's loaded idle over the time"}
        loto = leave_one_degree_out(cells, cells["energy_j"], cells["duration_s"], idle_w, skip=(1,))
        law.update({k: v for k, v in loto.items() if k != "degrees"})
        out.append(law)
    return out


def option_records(runs=None) -> pd.DataFrame:
    """The records of every shipped run (or of `runs`), each with its run id: what the options are fitted on."""
    from energy_predict.datasets import load_records, run_dirs

    frames = [load_records(run).assign(run_id=run.name) for run in (run_dirs() if runs is None else runs)]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def fit_default(table: pd.DataFrame | None = None, scores: pd.DataFrame | None = None, name: str = "default",
                options: pd.DataFrame | None = None):
    """Fit the phase model on all cells, with intervals from held-out residuals, and its card.

    `options`: the records the serving options (decoding, speculative decoding) are fitted on; by default every
    shipped run's when the table is the shipped one, none for a table given.
    """
    padding = hf_padding()
    if table is None:
        from energy_predict.datasets import calibration_dir, run_dirs

        runs = run_dirs()
        if not runs:
            raise EnergyPredictError(f"model fit: no calibration runs under {calibration_dir()}; restore them from "
                                     "git (or measure with 'energy-predict calibrate') before fitting")
        fit_inputs([run.name for run in runs])
        table = training_table()
        options = option_records(runs) if options is None else options
    fit_inputs(table["run_id"].unique())
    scores = accuracy_table(table, ("phase",)) if scores is None else scores
    chosen = choose_estimator(scores)
    if chosen != "phase":
        raise RuntimeError(f"held-out selection chose {chosen}; only the phase model ships with phase splits")
    held_out = {scheme: out_of_fold(PhaseModel(), table, SCHEMES[scheme]) for scheme in INTERVAL_SCHEMES}
    residuals = []
    for pred in held_out.values():
        ok = np.isfinite(pred) & (pred > 0)
        residuals.append(np.log(table["energy_j"].to_numpy()[ok] / pred[ok]))
    bounds = conformal_bounds(np.concatenate(residuals))
    energy = PhaseModel().fit(table, table["energy_j"]).fitted()
    duration = PhaseModel().fit(table, table["duration_s"]).fitted()
    keys = config_keys(table)
    cells_per_config = {k: int(n) for k, n in zip(*np.unique(keys.map(str), return_counts=True))}
    by_str = dict(zip(keys.map(str), keys))
    per_model = table.assign(key=keys.map(str)).groupby(["key", "model"]).size()
    valid = {
        "gpus": sorted(table["gpu"].unique()),
        "serving_configs": [_key_dict(by_str[k]) for k in sorted(cells_per_config) if by_str[k] in energy.coef_],
        "too_few_cells": [{**_key_dict(by_str[k]), "cells": n} for k, n in sorted(cells_per_config.items())
                          if by_str[k] not in energy.coef_],
        "min_cells_per_config": energy.min_cells,
        "models_measured": sorted(table["model"].unique()),
        "measured_models": [{**_key_dict(by_str[k]), "model": m} for (k, m), n in per_model.items()
                            if n >= energy.min_cells and by_str[k] in energy.coef_],
        "moe_measured": bool((table["num_experts"] > 0).any()),
        "moe_models": sorted(table.loc[table["num_experts"] > 0, "model"].unique()),
        "ranges": [{**_key_dict(by_str[k]), **{c: [int(g[c].min()), int(g[c].max())]
                                               for c in ("batch_size", "input_tokens", "output_tokens")}}
                   for k, g in table.assign(key=keys.map(str)).groupby("key") if by_str[k] in energy.coef_],
        "batch_size": [int(table["batch_size"].min()), int(table["batch_size"].max())],
        "input_tokens": [int(table["input_tokens"].min()), int(table["input_tokens"].max())],
        "output_tokens": [int(table["output_tokens"].min()), int(table["output_tokens"].max())],
    }
    idle = measured_idle_power(table["run_id"].unique())
    card = {
        "idle_power_w": idle,
        "name": name, "estimator": "phase", "kind": "measured", "created": now_iso(), "commit": git_commit(),
        "command": "energy-predict model fit",
        "training": {"runs": sorted(table["run_id"].unique()), "cells": int(len(table)),
                     "table_sha256_16": table_hash(table), "configs": sorted(table["config"].unique())},
        "features": TERMS, "target": "energy_j of one batch (median of repetitions)",
        "interval": {"level": 0.9, "method": "split conformal on held-out log residuals "
                     f"({', '.join(INTERVAL_SCHEMES)})", "log_bounds": list(bounds)},
        "versions": library_versions(), "valid": valid, "hf_padding": padding,
        "transfer": {"model": model_transfer(table), "gpu": gpu_transfer(table), "tp": tp_laws(table, idle)},
        "extrapolation": extrapolation(table, held_out),
        "held_out": scores[scores["estimator"] == "phase"].to_dict("records"),
    }
    model = MeasuredModel(energy, duration, bounds, card)
    if options is not None and len(options):
        card["options"] = fit_options(options, model)
        cited = {r for group in card["options"].values() for o in group for r in o["runs"]}
        fit_inputs(cited)
        card["training"]["option_runs"] = sorted(cited)
    return model

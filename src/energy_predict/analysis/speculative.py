"""Speculative decoding against greedy: the measured configs, the default model's answer, the findings row.

Acceptance is vLLM's count, accepted over drafted tokens; random weights have no natural acceptance, so the engine
accepts drafted position j with probability p^j (`synthetic_acceptance`), or never (a random 1B-shaped draft).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_predict.analysis.cells import matched_ratio
from energy_predict.analysis.markdown import effect_ratio, pct
from energy_predict.analysis.reference import PENDING, quote
from energy_predict.analysis.subject import H100, LLAMA8, VLLM_GRAPHS, card_json
from energy_predict.errors import EnergyPredictError
from energy_predict.predict.whatif import option_effect
from energy_predict.serving import Deployment, Serving, Speculation


def speculative_configs(records: pd.DataFrame) -> list[str]:
    """Configs of speculative-decoding runs: a `speculative_model` in their records, or a name 'vllm-spec...'."""
    named = {c for c in records["config"].unique() if str(c).startswith("vllm-spec")}
    if "speculative_model" in records:
        named |= set(records.loc[records["speculative_model"].notna(), "config"].unique())
    return sorted(named)


SPEC_DRAFT, SPEC_K = "Llama-3.2-1B", 4  # the study's draft model and draft length (gamma)
SPEC_RATES = (0.6, 0.8, 1.0)  # acceptance rates (vLLM's accepted / drafted tokens) the model's numbers assume
SPEC_LARGE = 128  # the study's large batch


def first_value(frame: pd.DataFrame, column: str):
    """The first non-null value of `column` in `frame`, None where it has none (or no such column)."""
    return frame[column].dropna().iloc[0] if column in frame and frame[column].notna().any() else None


def speculative_measured(records: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """One row per speculative config of Llama-3.1-8B: draft, draft length, acceptance, energy over greedy.

    The energy is over vLLM graphs' on the same cells, per batch size (median over the matched cells of that batch
    size). Acceptance is vLLM's count, accepted over drafted tokens: the median of the config's records
    (`acceptance`), its lowest and highest median over batch sizes, and its median at batch 1; NaN without the
    counters.
    """
    rows = []
    for config in speculative_configs(records):
        r = records[(records["config"] == config) & (records["model"] == LLAMA8.name) & (records["status"] == "ok")]
        matched = matched_ratio(cells[cells["model"] == LLAMA8.name], VLLM_GRAPHS, config)
        by_batch = (1 - matched.groupby("batch_size")["saving_pct"].median() / 100).sort_index()
        if {"counter_accepted_tokens", "counter_draft_tokens"} <= set(r.columns):
            rate = r["counter_accepted_tokens"] / r["counter_draft_tokens"]
            per_batch = rate.groupby(r["batch_size"]).median().dropna()
        else:
            rate, per_batch = pd.Series(dtype=float), pd.Series(dtype=float)
        nan = float("nan")
        k, setting = first_value(r, "num_speculative_tokens"), first_value(r, "synthetic_acceptance")
        rows.append({"config": config, "draft": first_value(r, "speculative_model"),
                     "k": int(k) if k is not None else None, "setting": float(setting) if setting is not None else None,
                     "acceptance": float(rate.median()) if rate.notna().any() else nan,
                     "acc_lo": float(per_batch.min()) if len(per_batch) else nan,
                     "acc_hi": float(per_batch.max()) if len(per_batch) else nan,
                     "acc_b1": float(per_batch[1]) if 1 in per_batch.index else nan,
                     "cells": len(matched), "by_batch": by_batch})
    return pd.DataFrame(rows, columns=["config", "draft", "k", "setting", "acceptance", "acc_lo", "acc_hi", "acc_b1",
                                       "cells", "by_batch"])


def crossover(by_batch: pd.Series) -> str:
    """Where speculation stops paying, from its energy factor over greedy per batch size."""
    costs = by_batch[by_batch >= 1]
    if not len(costs):
        return f"no crossover up to batch {int(by_batch.index.max())}"
    if costs.index[0] == by_batch.index[0]:
        return f"costs from batch {int(costs.index[0])}"
    before = int(by_batch[by_batch.index < costs.index[0]].index.max())
    return f"crossover between batch {before} and {int(costs.index[0])}"


def acceptance_label(lo: float, hi: float) -> str:
    """'0', '1', '0.54-0.59': a measured acceptance (range over batch sizes)."""
    if np.isnan(lo):
        return "acceptance not counted"
    lo_s, hi_s = (f"{a:.2f}".rstrip("0").rstrip(".") for a in (lo, hi))
    return f"acceptance {lo_s}" if lo_s == hi_s else f"acceptance {lo_s}-{hi_s}"


def speculative_batches(model) -> np.ndarray:
    """Batch sizes 1 to the largest the model's speculative cells measured (its card), else to 256."""
    options = card_json(model).get("options", {}).get("speculative") or []
    top = max((int(o["batch_size"][1]) for o in options if o.get("draft") == SPEC_DRAFT), default=256)
    return np.arange(1, top + 1)


def speculative_model_effect(model, rate: float, batches=None, k: int = SPEC_K, i: int = 512,
                             o: int = 128) -> pd.Series:
    """The default model's energy factor of speculative decoding over greedy, per batch size.

    The study's draft, `k` tokens, acceptance `rate`; Llama-3.1-8B on one H100 with vLLM graphs; batch sizes
    `batches` (default: `speculative_batches`).
    """
    batches = speculative_batches(model) if batches is None else np.asarray(batches)
    spec = Serving(speculative=Speculation(SPEC_DRAFT, k, rate))
    ratio = option_effect(model, Deployment(LLAMA8, H100, spec), batches, i, o)
    return pd.Series(np.asarray(ratio, dtype=float), index=batches)


def speculative_match(model, target: float | None = None) -> tuple[float, pd.Series] | None:
    """(acceptance, energy factor per batch) where the default model's batch-1 change reaches the study's.

    The lowest acceptance (0.01 steps) at which the model's batch-1 change reaches the study's (-29%), draft length
    4; None where the model does not answer or never reaches it.
    """
    target = quote("speculative")[1][0] if target is None else target
    try:
        for rate in np.round(np.arange(0.0, 1.001, 0.01), 2):
            f = speculative_model_effect(model, float(rate))
            if f[1] <= target:
                return float(rate), f
    except EnergyPredictError:
        return None
    return None


def speculative_check(model, measured: pd.DataFrame) -> tuple[float, float, float] | None:
    """(acceptance, model factor, measured factor) at batch 1 of the highest measured middle point at draft length 4.

    That is the measured cell nearest the model's numbers in the table, beside the model's answer at its acceptance.
    """
    mids = measured[(measured["draft"] == SPEC_DRAFT) & (measured["k"] == SPEC_K)
                    & measured["acc_b1"].between(0.0, 1.0, inclusive="neither")
                    & measured["by_batch"].map(lambda b: 1 in b.index)]
    if model is None or not len(mids):
        return None
    top = mids.loc[mids["acc_b1"].idxmax()]
    try:
        f = speculative_model_effect(model, float(top["acc_b1"]), batches=[1])
    except EnergyPredictError:
        return None
    return float(top["acc_b1"]), float(f[1]), float(top["by_batch"][1])


def speculative_why(option: dict | None, measured: pd.DataFrame, match: tuple[float, pd.Series] | None,
                    check: tuple[float, float, float] | None = None) -> str:
    """The speculative row's reason: what acceptance means here, what was measured, how well the model holds out."""
    text = ("Random weights have no natural acceptance: the engine accepts drafted position j with probability p^j "
            "(a run of matches, as a real draft's), and the acceptance quoted is vLLM's count, accepted over drafted "
            "tokens.")
    if len(measured):
        draft = measured[measured["draft"] == SPEC_DRAFT]
        ks = draft["k"].dropna()
        ends = draft[draft["acceptance"].isin([0.0, 1.0])]
        middle = draft[draft["setting"].between(0.0, 1.0, inclusive="neither")]
        mids, others = middle[middle["k"] == SPEC_K], middle[middle["k"] != SPEC_K]
        text += (f" Measured with the {SPEC_DRAFT}-shaped draft: the ends (acceptance 0 and 1; {len(ends)} configs, "
                 f"draft lengths {int(ks.min())}-{int(ks.max())})" if len(ks) else " Measured: the ends")
        if len(mids):
            text += (" and middle points at p = " + "/".join(f"{x:g}" for x in sorted(mids["setting"])) + " (counted "
                     + "/".join(acceptance_label(r.acc_lo, r.acc_hi).removeprefix("acceptance ")
                                for r in mids.sort_values("setting").itertuples()) + f" at draft length {SPEC_K})")
        for setting, g in others.groupby("setting"):
            text += f", p = {setting:g} at draft lengths " + ", ".join(str(int(k)) for k in sorted(g["k"]))
        text += "."
    if option:
        h = option["held_out"]
        text += (f" The default model's step-cost fit ({option['fit']['all']['n']} cells, median error "
                 f"{100 * option['fit']['all']['median_ape']:.1f}%) predicts the middle cells from the ends alone "
                 f"within a median {100 * h['middle_from_ends']['median_ape']:.1f}% "
                 f"(p90 {100 * h['middle_from_ends']['p90_ape']:.1f}%), "
                 f"a held-out draft length within {100 * h['leave_one_k_out']['median_ape']:.1f}%, a held-out batch "
                 f"size within {100 * h['leave_one_batch_out']['median_ape']:.1f}%.")
    if check:
        text += (f" At the highest measured middle point (acceptance {check[0]:.2f} at batch 1) the model says "
                 f"{pct(check[1])} against {pct(check[2])} measured.")
    b1_ref, large_ref = quote("speculative")[1]
    text += " The study does not state its real draft's acceptance"
    if match:
        rate, f = match
        stops = f[f >= 1]
        text += (f"; at acceptance {rate:.2f}, where the model's batch-1 change is the study's {pct(b1_ref)}, ours is "
                 f"{pct(f[SPEC_LARGE])} at batch {SPEC_LARGE} (the study's {pct(large_ref)}) and "
                 + (f"stops paying from batch {int(stops.index[0])}" if len(stops)
                    else f"pays at every batch up to {int(f.index.max())}")
                 + " (the study's 8-16): in the model, speculation pays to larger batches here than in the study")
    return text + "."


def speculative_row(records: pd.DataFrame, cells: pd.DataFrame, model=None) -> tuple[str, str]:
    """(ours, ratio) of the speculative-decoding finding.

    Where `model` answers for speculative decoding: its change over greedy at batch 1 and 128 and where it stops
    paying, at draft length 4 and each acceptance of SPEC_RATES (512 -> 128), the ratio against the study's from
    these. Beside it what was measured at draft length 4 (each config against vLLM graphs on the same cells). Without
    a model, the measured configs alone give the ratio.
    """
    measured = speculative_measured(records, cells)
    if not len(measured):
        return PENDING, "-"
    b1_ref, large_ref = quote("speculative")[1]
    ours, ratios = [], []
    effects = {}
    if model is not None:
        try:
            effects = {rate: speculative_model_effect(model, rate) for rate in SPEC_RATES}
        except EnergyPredictError:
            effects = {}
    if effects:
        parts = []
        for rate, f in effects.items():
            stops = f[f >= 1]
            where = (f"stops paying from batch {int(stops.index[0])}" if len(stops)
                     else f"pays at every batch up to {int(f.index.max())}")
            parts.append(f"acceptance {rate:g}: batch 1 {pct(f[1])}, batch {SPEC_LARGE} {pct(f[SPEC_LARGE])}, {where}")
            ratios.append(f"acceptance {rate:g}: batch 1 {effect_ratio(f[1], b1_ref)}, batch {SPEC_LARGE} "
                          f"{effect_ratio(f[SPEC_LARGE], large_ref)}")
        ours.append(f"default model, {SPEC_DRAFT} draft, draft length {SPEC_K}, 512 -> 128: " + "; ".join(parts))
    usable = measured[measured["by_batch"].map(lambda b: 1 in b.index and len(b) >= 3)]
    thin = measured[~measured["config"].isin(usable["config"])]
    same_k = usable[(usable["k"] == SPEC_K) | usable["k"].isna()]
    if len(same_k):
        parts = []
        order = same_k.assign(other=same_k["draft"] != SPEC_DRAFT).sort_values(
            ["other", "acceptance"], ascending=[True, False], na_position="last")
        for r in order.itertuples():
            top = SPEC_LARGE if SPEC_LARGE in r.by_batch.index else int(r.by_batch.index.max())
            who = f"{r.draft} drafting for itself, " if r.draft == LLAMA8.name else ""
            parts.append(f"{who}{acceptance_label(r.acc_lo, r.acc_hi)} ({r.cells} cells): "
                         f"batch 1 {pct(r.by_batch[1])}, batch {top} {pct(r.by_batch[top])}, {crossover(r.by_batch)}")
            if not effects:
                ratios.append(f"{r.config}: batch 1 {effect_ratio(r.by_batch[1], b1_ref)}"
                              + (f", batch {SPEC_LARGE} {effect_ratio(r.by_batch[SPEC_LARGE], large_ref)}"
                                 if top == SPEC_LARGE else ""))
        ks = measured["k"].dropna()
        lengths = f", draft lengths {int(ks.min())}-{int(ks.max())}" if len(ks) and ks.min() != ks.max() else ""
        ours.append(f"measured ({int(measured['cells'].sum())} cells of {len(measured)} configs{lengths}, each against "
                    f"vLLM graphs on the same cells), at draft length {SPEC_K}: " + "; ".join(parts))
    if len(thin):
        ours.append("too thin: " + ", ".join(f"{r.config} ({r.cells} cells matched by vllm-graphs over "
                                             f"{len(r.by_batch)} batch sizes)" for r in thin.itertuples())
                    + "; batch 1 and at least 3 batch sizes needed")
    return "; ".join(ours) + ("" if effects else " (no model answer)"), "; ".join(ratios) or "-"


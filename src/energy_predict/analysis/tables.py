"""The findings page's tables, each computed from the measured cells or the training table (no I/O)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_predict.analysis.cells import SHAPE
from energy_predict.analysis.subject import FAMILY_CONFIGS, H100, HF_OPTIONS, LLAMA8, TP_CONFIGS, VLLM_FP8, VLLM_GRAPHS
from energy_predict.architectures import REGISTRY
from energy_predict.model.analytic import FlopsTdpEstimator

# The cells every new model was measured on that the families table shows: (batch, input, output).
FAMILY_CELLS = [(1, 128, 128), (8, 128, 128), (64, 128, 128), (256, 128, 128), (64, 512, 32)]
# Pairs of models the page compares on the family cells: a mixture of experts and a dense peer.
MOE_PAIRS = (("OLMoE-1B-7B", "OLMo-1B"), ("OLMoE-1B-7B", "OLMo-7B"), ("Qwen3-30B-A3B", "Qwen2.5-7B"),
             ("Qwen3-30B-A3B", "Qwen2.5-32B"))


def fp8_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Energy of vLLM CUDA graphs in fp8 against bf16 on the cells both measured: energies and their ratio."""
    key = ["model", *SHAPE]
    bf16 = cells[cells["config"] == VLLM_GRAPHS].set_index(key)
    fp8 = cells[cells["config"] == VLLM_FP8].set_index(key)
    both = fp8[["energy_j"]].merge(bf16[["energy_j"]], left_index=True, right_index=True,
                                   suffixes=("_fp8", "_bf16")).reset_index()
    both["fp8_over_bf16"] = both["energy_j_fp8"] / both["energy_j_bf16"]
    return both[key + ["energy_j_bf16", "energy_j_fp8", "fp8_over_bf16"]]


def hf_options_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Energy per batch (J) of each HF option of `HF_OPTIONS` on Llama-3.1-8B, 512 -> 128, batch 1 and 8."""
    opts = cells[(cells["model"] == LLAMA8.name) & (cells["input_tokens"] == 512) & (cells["output_tokens"] == 128)
                 & cells["batch_size"].isin([1, 8])].pivot_table(index="batch_size", columns="config",
                                                                 values="energy_j")
    return opts[[c for c in HF_OPTIONS if c in opts]]


def flops_tdp_ratio(table: pd.DataFrame) -> np.ndarray:
    """Measured batch energy over the reference study's FLOPs/TDP estimate, per cell of the training table."""
    return table["energy_j"].to_numpy() / FlopsTdpEstimator().predict(table)


def tensor_parallel_table(table: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Each degree against TP1 on the same cells (Llama-3.1-8B, vLLM graphs, H100), from the training table."""
    tp = table[table["config"].isin(TP_CONFIGS)]
    tp = tp[(tp["model"] == LLAMA8.name) & (tp["gpu"] == H100.name)]
    one, two, four = (tp[tp["tensor_parallel"] == n].set_index(SHAPE) for n in (1, 2, 4))
    both = one[["energy_j", "duration_s"]].add_suffix("_tp1").join(
        four[["energy_j", "duration_s"]].add_suffix("_tp4"), how="inner").join(
        two[["energy_j", "duration_s"]].add_suffix("_tp2"), how="left")
    tokens = both.index.get_level_values("batch_size") * both.index.get_level_values("output_tokens")
    for t in (1, 2, 4):
        both[f"J/token TP{t}"] = both[f"energy_j_tp{t}"] / tokens
    for t in (2, 4):
        both[f"energy TP{t}/TP1"] = both[f"energy_j_tp{t}"] / both["energy_j_tp1"]
        both[f"latency TP{t}/TP1"] = both[f"duration_s_tp{t}"] / both["duration_s_tp1"]
    out = both[["J/token TP1", "J/token TP2", "J/token TP4", "energy TP2/TP1", "latency TP2/TP1", "energy TP4/TP1",
                "latency TP4/TP1"]].reset_index()
    b1 = out[out["batch_size"] == 1]
    summary = {"gpu": H100.name, "n4": int(out["energy TP4/TP1"].notna().sum()),
               "n2": int(out["energy TP2/TP1"].notna().sum()),
               **{f"{w}{t}": out[f"{w} TP{t}/TP1"].median() for w in ("energy", "latency") for t in (2, 4)},
               **{f"b1_{w}{t}": b1[f"{w} TP{t}/TP1"].median() for w in ("energy", "latency") for t in (2, 4)}}
    return out, summary


def families(table: pd.DataFrame, family_runs: set[str]) -> tuple[pd.DataFrame, dict]:
    """Energy per output token of every measured model on the new-model cells (H100, vLLM graphs, one engine each).

    `family_runs`: the runs of the campaign that measured the new models (`subject.FAMILY_CAMPAIGN`); Llama-3.1-8B
    comes from every run of vLLM graphs on one GPU.
    """
    new = table[(table["gpu"] == H100.name) & table["run_id"].isin(family_runs)]
    new = new[new["config"].isin(FAMILY_CONFIGS)]
    new = new[new["model"] != LLAMA8.name]
    old = table[(table["gpu"] == H100.name) & (table["model"] == LLAMA8.name) & (table["config"] == VLLM_GRAPHS)]
    frame = pd.concat([new, old])
    frame = frame.assign(jpt=frame["energy_j"] / (frame["batch_size"] * frame["output_tokens"]))
    rows = []
    for (model, tp), g in frame.groupby(["model", "tensor_parallel"]):
        arch = REGISTRY[model]
        g = g.set_index(SHAPE)
        rows.append({"model": model, "GPUs": int(tp), "total B": round(arch.total_params / 1e9, 1),
                     "active B": round(arch.active_params / 1e9, 1), "experts": arch.num_experts or "-",
                     **{f"J/tok b{b} {i}->{o}": (round(float(g.loc[(b, i, o), "jpt"]), 3)
                                                 if (b, i, o) in g.index else None) for b, i, o in FAMILY_CELLS}})
    out = pd.DataFrame(rows).sort_values(["experts", "active B"], key=lambda c: c.astype(str)).reset_index(drop=True)

    def ratio(a, b, cell):
        col = f"J/tok b{cell[0]} {cell[1]}->{cell[2]}"
        va, vb = (out.loc[out["model"] == m, col].iloc[0] for m in (a, b))
        return va / vb if va and vb else float("nan")

    summary = {f"{a}/{b} b{c[0]}": ratio(a, b, c) for a, b in MOE_PAIRS for c in FAMILY_CELLS[:4]}
    return out, summary

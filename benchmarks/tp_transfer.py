"""Tensor parallelism, measured and transferred: what TP2 costs against TP1, and how well TP1 predicts TP2.

    python benchmarks/tp_transfer.py     # writes benchmarks/results/tp_transfer.{json,md}

Data: the H200 TP campaign (Llama-3.1-8B, vLLM CUDA graphs, the same 18 cells at TP1 and TP2). Two questions:
1. The measured cost of TP2 over TP1, cell by cell (energy of both GPUs, latency of the batch).
2. Leave-one-TP-degree-out: the phase model fitted at one degree predicts the other under a parameter-free prior
   (the per-step and per-layer constants run on every GPU of the group, so their energy is multiplied by the degree
   and their time is not divided; FLOPs and bytes are split, so their energy is kept and their time divided). With
   only two degrees measured, nothing can be fitted across degrees without seeing the held-out one.
"""

import json
from pathlib import Path

import numpy as np

from energy_predict.model.dataset import training_table
from energy_predict.model.phases import TERMS, PhaseCoefficients
from energy_predict.model.structured import PhaseModel
from energy_predict.provenance import git_commit, now_iso
from energy_predict.serving import KEY_FIELDS

OUT = Path(__file__).parent / "results"
CONFIGS = ("vllm-graphs-tp1", "vllm-graphs-tp2-noarfusion")
REPLICATED = {"batch", "prefill_layers", "steps", "step_layers"}
TP_AT = 1 + KEY_FIELDS.index("tensor_parallel")  # position in the fit key (GPU, *serving key)


def moved(pm: PhaseModel, src: int, dst: int, target: str) -> PhaseCoefficients:
    coef = {}
    for key, c in pm.coef_.items():
        c = c.copy()
        for j, term in enumerate(TERMS):
            if target == "energy_j" and term in REPLICATED:
                c[j] *= dst / src
            if target == "duration_s" and term not in REPLICATED:
                c[j] *= src / dst
        config, model = key if isinstance(key[0], tuple) else (key, None)
        config = (*config[:TP_AT], dst, *config[TP_AT + 1:])
        coef[config if model is None else (config, model)] = c
    return PhaseCoefficients(coef, pm.scale_.to_numpy(), pm.min_cells, pm.min_cells_per_model)


def main() -> None:
    table = training_table(configs=CONFIGS)
    table = table[table["model"] == "Llama-3.1-8B"]
    cells = ["batch_size", "input_tokens", "output_tokens"]
    one, two = (table[table["tensor_parallel"] == n].set_index(cells) for n in (1, 2))
    both = one.join(two, lsuffix="_1", rsuffix="_2", how="inner")
    e_ratio = both["energy_j_2"] / both["energy_j_1"]
    t_ratio = both["duration_s_2"] / both["duration_s_1"]
    b1 = both.xs(1, level="batch_size")
    result = {
        "created": now_iso(), "commit": git_commit(), "gpu": sorted(table["gpu"].unique()), "cells": int(len(both)),
        "measured_tp2_over_tp1": {
            "energy": {"median": float(e_ratio.median()), "min": float(e_ratio.min()), "max": float(e_ratio.max())},
            "latency": {"median": float(t_ratio.median()), "min": float(t_ratio.min()), "max": float(t_ratio.max())},
            "batch_1": {f"{i}->{o}": {"energy": float(r["energy_j_2"] / r["energy_j_1"]),
                                      "latency": float(r["duration_s_2"] / r["duration_s_1"])}
                        for (i, o), r in b1.iterrows()},
        },
        "reference_study_batch_1": {"tp2_energy": 1.29, "tp2_latency": 0.60, "tp4_energy": 1.55, "tp4_latency": 0.39,
                                    "setting": "A100/A6000-class GPUs, Llama-3.1-8B, vLLM (Fernandez et al. 2025)"},
        "leave_one_tp_out": {},
    }
    for target in ("energy_j", "duration_s"):
        errors = []
        for src, dst in ((1, 2), (2, 1)):
            train, test = table[table["tensor_parallel"] == src], table[table["tensor_parallel"] == dst]
            pred = moved(PhaseModel().fit(train, train[target]), src, dst, target).predict(test)
            errors.extend(np.abs(pred / test[target].to_numpy() - 1))
        result["leave_one_tp_out"][target] = {"median_ape": float(np.median(errors)),
                                              "p90_ape": float(np.quantile(errors, 0.9)), "n": len(errors)}
    OUT.mkdir(exist_ok=True)
    (OUT / "tp_transfer.json").write_text(json.dumps(result, indent=1) + "\n")
    m, lo = result["measured_tp2_over_tp1"], result["leave_one_tp_out"]
    lines = [
        "# Tensor parallelism on the H200 (Llama-3.1-8B, vLLM CUDA graphs)", "",
        f"Made by `python benchmarks/tp_transfer.py` ({result['created']}, commit {result['commit']}).", "",
        f"TP2 over TP1 on the same {result['cells']} cells: energy x{m['energy']['median']:.2f} "
        f"(x{m['energy']['min']:.2f}-x{m['energy']['max']:.2f}), latency x{m['latency']['median']:.2f} "
        f"(x{m['latency']['min']:.2f}-x{m['latency']['max']:.2f}). The reference study at batch 1: energy x1.29, "
        "latency x0.60.", "",
        "| batch 1 cell | TP2 energy / TP1 | TP2 latency / TP1 |", "|---|---|---|",
        *[f"| {k} | {v['energy']:.2f} | {v['latency']:.2f} |" for k, v in m["batch_1"].items()], "",
        "Leave-one-TP-degree-out (TP1 predicts TP2 and TP2 predicts TP1 under the replicated-constants prior): "
        f"energy median {100 * lo['energy_j']['median_ape']:.1f}%, p90 {100 * lo['energy_j']['p90_ape']:.1f}%; "
        f"time median {100 * lo['duration_s']['median_ape']:.1f}%, p90 {100 * lo['duration_s']['p90_ape']:.1f}%. "
        "That misses the 10% target, so the shipped model does not transfer across TP degrees: TP1 and TP2 are "
        "measured configurations (on the H100 they are transferred from the H200 like any configuration, see the "
        "card), and a degree measured on no GPU is refused.", "",
    ]
    (OUT / "tp_transfer.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

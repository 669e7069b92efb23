"""Speculative decoding on the H100, measured and modelled (issue 17).

    python benchmarks/speculative.py     # writes benchmarks/results/speculative.{json,md}

Data: the 4-GPU H100 lease's speculative cells (artifacts/calibration/*x4i17*): Llama-3.1-8B target, Llama-3.2-1B
-shaped draft, k = 4 drafted tokens a step, 512 -> 128 at batch 1-128, at acceptance 0 (the draft's own greedy
proposals: random weights agree with the target on nothing, as the engine's counters show) and acceptance 1
(vLLM's synthetic rejection sampler accepting every drafted token); the baseline without speculation is the
default model (vLLM graphs, measured), checked against the same lease's baseline cells at batch 1-16.
1. Each cell's step cost (energy above the target's prefill, over the steps the engine counted), fitted as
   model/speculative.py's StepCost on both ends, and leave-one-batch-size-out (both ends of one batch predicted
   from the other batches): the held-out error of the model.
2. Energy per output token against acceptance for each batch, beside the baseline: where speculation pays.
No middle acceptance and no other k was measured (the lease ended first), so the model's shape between the ends
is the fitted line in accepted tokens, not a checked one.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.architectures import REGISTRY
from energy_predict.datasets import load_records, run_dirs
from energy_predict.gpus import CATALOG
from energy_predict.model.speculative import StepCost, decode_energy
from energy_predict.model.store import load_default_model
from energy_predict.provenance import git_commit, now_iso
from energy_predict.serving import Deployment, Serving

OUT = Path(__file__).parent / "results"
K, INPUT, OUTPUT = 4, 512, 128
REFERENCE = {"batch_1": -0.29, "batch_128": +0.26, "crossover": "batch 8-16",
             "setting": "Llama-3.1-8B with a Llama-3.2-1B draft, gamma 4 (issue 17)"}
ACCEPTANCE = [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def measured_cells() -> pd.DataFrame:
    """Speculative cells (median of repetitions) with the engine's counters, and the same lease's baseline."""
    frames = []
    for run in run_dirs():
        r = load_records(run)
        r = r[(r["status"] == "ok") & (r["model"] == "Llama-3.1-8B") & (r["input_tokens"] == INPUT)
              & (r["output_tokens"] == OUTPUT)]
        spec = r[r["speculative_model"].notna()] if "speculative_model" in r else r.iloc[:0]
        base = r[(r["config"] == "vllm-graphs") & run.name.startswith("2026-11-27-x4i17")]
        for part in (spec, base):
            if len(part):
                frames.append(part.assign(run_id=run.name))
    cells = pd.concat(frames).groupby(["config", "batch_size"]).agg(
        energy_j=("energy_j", "median"), duration_s=("duration_s", "median"),
        drafts=("counter_drafts", "median"), accepted=("counter_accepted_tokens", "median"),
        run_id=("run_id", "first")).reset_index()
    return cells


def main() -> None:
    model = load_default_model()
    dep = Deployment(REGISTRY["Llama-3.1-8B"], CATALOG["H100-SXM-80GB"], Serving())
    cells = measured_cells()
    base_cells = cells[cells["config"] == "vllm-graphs"]
    spec = cells[cells["config"] != "vllm-graphs"].copy()
    b = spec["batch_size"].to_numpy(float)
    spec["steps"] = spec["drafts"] / b
    spec["accepted_per_step"] = spec["accepted"] / spec["drafts"]
    spec["acceptance"] = spec["accepted"] / (spec["drafts"] * K)
    base = model.batch_phases(dep, b, INPUT, OUTPUT)
    spec["prefill_j"] = base.prefill_j
    spec["step_j"] = (spec["energy_j"] - spec["prefill_j"]) / spec["steps"]

    cost = StepCost.fit(b, spec["accepted_per_step"], spec["step_j"])
    spec["fitted_j"] = spec["prefill_j"] + spec["steps"] * cost(b, spec["accepted_per_step"])
    held = np.zeros(len(spec))
    for batch in sorted(spec["batch_size"].unique()):
        out = (spec["batch_size"] == batch).to_numpy()
        c = StepCost.fit(b[~out], spec["accepted_per_step"][~out], spec["step_j"][~out])
        held[out] = spec["prefill_j"][out] + spec["steps"][out] * c(b[out], spec["accepted_per_step"][out])
    spec["held_out_j"] = held
    spec["fit_error"] = spec["fitted_j"] / spec["energy_j"] - 1
    spec["held_out_error"] = spec["held_out_j"] / spec["energy_j"] - 1

    batches = np.array(sorted(spec["batch_size"].unique()))
    baseline = model.batch_phases(dep, batches, INPUT, OUTPUT)
    base_j = baseline.energy_j
    measured_base = dict(zip(base_cells["batch_size"], base_cells["energy_j"]))
    curves = {}
    for batch, prefill, whole in zip(batches, baseline.prefill_j, base_j):
        spec_j = prefill + decode_energy(cost, batch, OUTPUT, np.array(ACCEPTANCE), K)
        curves[int(batch)] = {"baseline_j": float(whole), "measured_baseline_j": measured_base.get(batch),
                              "speculative_j": dict(zip(map(str, ACCEPTANCE), map(float, spec_j))),
                              "change": dict(zip(map(str, ACCEPTANCE), map(float, spec_j / whole - 1)))}
        grid = np.linspace(0, 1, 1001)
        change = prefill + decode_energy(cost, batch, OUTPUT, grid, K) - whole
        pays = grid[change < 0]
        curves[int(batch)]["pays_from_acceptance"] = float(pays.min()) if len(pays) else None

    result = {"made": now_iso(), "commit": git_commit(), "gpu": "H100-SXM-80GB", "k": K, "cell": [INPUT, OUTPUT],
              "reference": REFERENCE, "step_cost_coef_j": cost.coef,
              "fit": {"median_abs_error": float(spec["fit_error"].abs().median()),
                      "max_abs_error": float(spec["fit_error"].abs().max())},
              "held_out": {"scheme": "leave-one-batch-size-out (both ends of a batch from the other batches)",
                           "median_abs_error": float(spec["held_out_error"].abs().median()),
                           "max_abs_error": float(spec["held_out_error"].abs().max())},
              "cells": spec.drop(columns=["run_id"]).to_dict("records"), "curves": curves}
    OUT.mkdir(exist_ok=True)
    (OUT / "speculative.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    (OUT / "speculative.md").write_text(render(result, spec))
    print((OUT / "speculative.md").read_text())


def render(result: dict, spec: pd.DataFrame) -> str:
    lines = ["# Speculative decoding on the H100: measured ends and the step-cost model", "",
             "Made by `python benchmarks/speculative.py` (its docstring says what and how). Llama-3.1-8B target, "
             f"Llama-3.2-1B-shaped draft, k = {K}, {INPUT} -> {OUTPUT} tokens, vLLM 0.26 with CUDA graphs, random "
             "weights.", "",
             "## Measured cells and the model", "",
             "Acceptance is the engine's own count (accepted / drafted tokens). The model is fitted on all ten "
             "cells; held out: each batch size's two cells predicted from the other batch sizes.", "",
             "| config | batch | acceptance | steps | measured J | fitted J | error | held-out J | held-out error |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in spec.sort_values(["config", "batch_size"]).itertuples():
        lines.append(f"| {r.config} | {r.batch_size} | {r.acceptance:.3f} | {r.steps:.0f} | {r.energy_j:.0f} | "
                     f"{r.fitted_j:.0f} | {100 * r.fit_error:+.1f}% | {r.held_out_j:.0f} | "
                     f"{100 * r.held_out_error:+.1f}% |")
    f, h = result["fit"], result["held_out"]
    lines += ["", f"Fit: median {100 * f['median_abs_error']:.1f}%, max {100 * f['max_abs_error']:.1f}%. Held out: "
              f"median {100 * h['median_abs_error']:.1f}%, max {100 * h['max_abs_error']:.1f}%.", "",
              "## Energy of a batch against no speculation", "",
              "Change in the batch's energy (prefill + decode) against the default model's vLLM-graphs prediction "
              "of the same cell (the same lease's measured baseline beside it where measured).", "",
              "| batch | baseline J (model) | baseline J (measured) | "
              + " | ".join(f"a = {a:g}" for a in ACCEPTANCE) + " | pays from acceptance |",
              "|---|---|---|" + "---|" * len(ACCEPTANCE) + "---|"]
    for batch, c in result["curves"].items():
        m = c["measured_baseline_j"]
        pays = c["pays_from_acceptance"]
        lines.append(f"| {batch} | {c['baseline_j']:.0f} | {f'{m:.0f}' if m else '-'} | "
                     + " | ".join(f"{100 * c['change'][str(a)]:+.0f}%" for a in ACCEPTANCE)
                     + f" | {f'{pays:.2f}' if pays is not None else 'never'} |")
    ref = result["reference"]
    lines += ["", f"Reference study ({ref['setting']}): {100 * ref['batch_1']:+.0f}% at batch 1, "
              f"{100 * ref['batch_128']:+.0f}% at batch 128, crossover near {ref['crossover']}, with its real "
              "draft's partial acceptance. Here the acceptance a real draft reaches is not measured (random "
              "weights): read the row of the acceptance your draft has.", "",
              "Not measured: a middle acceptance (the synthetic 0.6 run did not start before the lease's "
              "deadline), other k, other drafts; the model is not used by predictions yet.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

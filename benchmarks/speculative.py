"""Speculative decoding on the H100, measured and modelled (issue 17).

    python benchmarks/speculative.py     # writes benchmarks/results/speculative.{json,md}

Data: the two 4-GPU H100 leases' speculative cells (artifacts/calibration/*x4i17*): Llama-3.1-8B target, Llama-3.2-1B
-shaped draft, draft lengths k = 2-5, 512 -> 128 at batch 1-128, and one H100's cells at five other shapes
(artifacts/calibration/*x1sl*, k = 4, both acceptance ends), at acceptance 0 (the draft's own greedy proposals:
random weights agree with the target on nothing, as the engine's counters show), 1 and middle points (vLLM's
synthetic rejection sampler; the acceptance used is always the engine's own count, accepted / drafted tokens).
The model is the shipped card's `options.speculative` (model/speculative.py's step cost, fitted by
model/option_fit.py on every cell over the default model's greedy prefill and KV read).
1. Each cell: measured, fitted, and four held-out predictions: the middle acceptances from the ends alone
   (acceptance 0 and 1), leave-one-draft-length-out, leave-one-batch-size-out, leave-one-shape-out.
2. The change in a batch's energy against greedy decoding without speculation (the default model) by batch size,
   acceptance and draft length: where speculation pays, beside the reference study's -29% / +26%.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.architectures import REGISTRY
from energy_predict.gpus import CATALOG
from energy_predict.model.inputs import option_records
from energy_predict.model.option_fit import _held_out, option_cells, speculative_frame, speculative_held_out
from energy_predict.model.store import load_default_model
from energy_predict.predict.whatif import option_effect
from energy_predict.provenance import git_commit, now_iso
from energy_predict.serving import Deployment, Serving, Speculation

OUT = Path(__file__).parent / "results"
INPUT, OUTPUT, DRAFT = 512, 128, "Llama-3.2-1B"
REFERENCE = {"batch_1": -0.29, "batch_128": +0.26, "crossover": "batch 8-16",
             "setting": "Llama-3.1-8B with a Llama-3.2-1B draft, gamma 4 (issue 17)"}
RATES = [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
BATCHES = [1, 4, 8, 16, 32, 64, 128]


def cells(model) -> pd.DataFrame:
    """The fitted option's cells with their fitted and held-out predictions."""
    option = model.card.to_json()["options"]["speculative"][0]
    frame = speculative_frame(option_cells(option_records()), model)
    frame = frame[(frame["speculative_model"] == option["draft"]) & (frame["model"] == option["model"])
                  & (frame["gpu"] == option["gpu"])]
    frame = frame.reset_index(drop=True)
    held = speculative_held_out(frame)
    arch, gpu = REGISTRY[option["model"]], CATALOG[option["gpu"]]
    fitted = [float(model.batch_phases(Deployment(arch, gpu, Serving(speculative=Speculation(
        option["draft"], int(r.k), r.accepted / r.k))), np.array([r.batch_size]), r.input_tokens,
        r.output_tokens).energy_j[0]) for r in frame.itertuples()]
    return frame.assign(acceptance=frame["accepted"] / frame["k"], fitted_j=fitted,
                        middle_from_ends_j=held["middle_from_ends"], leave_one_k_out_j=held["leave_one_k_out"],
                        leave_one_batch_out_j=held["leave_one_batch_out"],
                        leave_one_shape_out_j=held["leave_one_shape_out"], end=held["ends"])


def change_vs_greedy(model, k: int) -> dict[int, dict]:
    """Per batch: the change in energy against greedy at each acceptance rate, and the rate from which it pays."""
    arch, gpu, batches = REGISTRY["Llama-3.1-8B"], CATALOG["H100-SXM-80GB"], np.array(BATCHES)
    greedy = model.batch_phases(Deployment(arch, gpu, Serving()), batches, INPUT, OUTPUT).energy_j

    def ratio(rate: float) -> np.ndarray:
        dep = Deployment(arch, gpu, Serving(speculative=Speculation(DRAFT, k, float(rate))))
        return option_effect(model, dep, batches, INPUT, OUTPUT)

    grid = np.linspace(0, 1, 201)
    pays = np.array([ratio(r) < 1 for r in grid])  # (rate, batch)
    at = {r: ratio(r) for r in RATES}
    return {int(b): {"greedy_j": float(greedy[j]), "change": {str(r): float(at[r][j] - 1) for r in RATES},
                     "pays_from_acceptance": float(grid[pays[:, j]].min()) if pays[:, j].any() else None}
            for j, b in enumerate(batches)}


def _score(measured, predicted) -> dict:
    """The card's score (option_fit._held_out) of the cells that have a prediction."""
    ok = np.isfinite(predicted)
    return _held_out(measured[ok], predicted[ok])


def main() -> None:
    model = load_default_model()
    option = model.card.to_json()["options"]["speculative"][0]
    frame = cells(model)
    y = frame["energy_j"].to_numpy()
    ends = frame["end"].to_numpy()
    k4 = (frame["k"] == 4).to_numpy() & (frame["input_tokens"] == INPUT).to_numpy()
    scores = {"fit_all": _score(y, frame["fitted_j"].to_numpy()),
              "fit_ends": _score(y[ends], frame["fitted_j"].to_numpy()[ends]),
              "fit_ends_k4": _score(y[ends & k4], frame["fitted_j"].to_numpy()[ends & k4]),
              "fit_middle": _score(y[~ends], frame["fitted_j"].to_numpy()[~ends]),
              **{name: _score(y, frame[f"{name}_j"].to_numpy())
                 for name in ("middle_from_ends", "leave_one_k_out", "leave_one_batch_out", "leave_one_shape_out")}}
    curves = {k: change_vs_greedy(model, k) for k in (2, 3, 4, 5)}
    result = {"made": now_iso(), "commit": git_commit(), "gpu": option["gpu"], "model": option["model"],
              "draft": option["draft"], "cell": [INPUT, OUTPUT], "reference": REFERENCE,
              "energy_coef": option["energy_coef"], "scores": scores,
              "cells": frame.drop(columns=["run_id"]).to_dict("records"),
              "change_vs_greedy": {str(k): {str(b): c for b, c in v.items()} for k, v in curves.items()}}
    OUT.mkdir(exist_ok=True)
    (OUT / "speculative.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    (OUT / "speculative.md").write_text(render(result, frame, curves))
    print((OUT / "speculative.md").read_text())


def _pct(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{100 * x:+.1f}%"


def render(result: dict, frame: pd.DataFrame, curves: dict) -> str:
    s = result["scores"]
    lines = ["# Speculative decoding on the H100: measured cells and the step-cost model", "",
             "Made by `python benchmarks/speculative.py` (its docstring says what and how). Llama-3.1-8B target, "
             f"{result['draft']}-shaped draft, {INPUT} -> {OUTPUT} tokens at k = 2-5 and five other shapes at k = 4, "
             "vLLM 0.26 with CUDA graphs, random weights; "
             "acceptance is the engine's own count (accepted / drafted tokens). Model: the shipped card's "
             "`options.speculative`: the target's and the draft's greedy prefill, then steps; a step of batch B "
             "with draft length k accepting acc tokens per sequence costs p0 + p1 B + k (r0 + r1 B) + acc (q0 + q1 B),"
             " plus the KV-cache reads (the target's once, the draft's k times, per context token, from the greedy "
             "model). 'fitted' is the tool's answer (power bounded), the held-out columns the card's fits.", "",
             "## How well it predicts", "",
             "| check | cells | median error | max error |", "|---|---|---|---|"]
    names = {"fit_all": "fitted, every cell",
             "fit_ends": "fitted, both ends (acceptance 0 and 1), k 2-5, every shape",
             "fit_ends_k4": "fitted, both ends at k = 4 and 512 -> 128 (the reference's setting)",
             "fit_middle": "fitted, middle acceptances",
             "middle_from_ends": "held out: middle acceptances predicted from the ends alone",
             "leave_one_k_out": "held out: each draft length from the others",
             "leave_one_batch_out": "held out: each batch size from the others",
             "leave_one_shape_out": "held out: each (input, output) shape other than 512 -> 128 from the rest"}
    for key, label in names.items():
        lines.append(f"| {label} | {s[key]['n']} | {100 * s[key]['median_ape']:.1f}% | "
                     f"{100 * s[key]['max_ape']:.1f}% |")
    lines += ["", "## Measured cells", "",
              "| k | acceptance | batch | input -> output | measured J | fitted | middle from ends | leave one k out | "
              "leave one batch out | leave one shape out |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in frame.sort_values(["k", "acceptance", "input_tokens", "output_tokens", "batch_size"]).itertuples():
        lines.append(f"| {int(r.k)} | {r.acceptance:.3f} | {r.batch_size} | {r.input_tokens} -> {r.output_tokens} | "
                     f"{r.energy_j:.0f} | "
                     f"{_pct(r.fitted_j / r.energy_j - 1)} | {_pct(r.middle_from_ends_j / r.energy_j - 1)} | "
                     f"{_pct(r.leave_one_k_out_j / r.energy_j - 1)} | "
                     f"{_pct(r.leave_one_batch_out_j / r.energy_j - 1)} | "
                     f"{_pct(r.leave_one_shape_out_j / r.energy_j - 1)} |")
    lines += ["", "## Energy of a batch against greedy decoding without speculation", "",
              "Change in the batch's energy (prefill + decode) against the default model's vLLM-graphs greedy "
              "prediction of the same cell, by the acceptance rate of the draft.", ""]
    for k, curve in curves.items():
        lines += [f"### draft length k = {k}", "",
                  "| batch | greedy J | " + " | ".join(f"a = {a:g}" for a in RATES) + " | pays from acceptance |",
                  "|---|---|" + "---|" * len(RATES) + "---|"]
        for b, c in curve.items():
            pays = c["pays_from_acceptance"]
            lines.append(f"| {b} | {c['greedy_j']:.0f} | "
                         + " | ".join(f"{100 * c['change'][str(a)]:+.0f}%" for a in RATES)
                         + f" | {f'{pays:.2f}' if pays is not None else 'never'} |")
        lines.append("")
    ref = result["reference"]
    k4 = curves[4]
    crossover = next((b for b in BATCHES if k4[b]["change"]["0.8"] > 0), None)
    # the acceptance at which batch 128 costs what the reference measured there, and batch 1 at that acceptance
    match = min(RATES, key=lambda a: abs(k4[128]["change"][str(a)] - ref["batch_128"]))
    lines += [f"Reference study ({ref['setting']}): {100 * ref['batch_1']:+.0f}% at batch 1, "
              f"{100 * ref['batch_128']:+.0f}% at batch 128, crossover near {ref['crossover']}, with its real draft's "
              "partial acceptance. Here, at k = 4 and acceptance 0.8: "
              f"{100 * k4[1]['change']['0.8']:+.0f}% at batch 1, "
              f"{100 * k4[128]['change']['0.8']:+.0f}% at batch 128, no longer paying from batch "
              f"{crossover if crossover else 'never'}. At acceptance {match:g}, where batch 128 costs about what the "
              f"reference measured there ({100 * k4[128]['change'][str(match)]:+.0f}%), batch 1 changes by "
              f"{100 * k4[1]['change'][str(match)]:+.0f}% (reference -29%). The acceptance a real draft reaches is not "
              "measured here (random weights): read the row of the acceptance your draft has.", "",
              "Not measured: other drafts and targets, other GPUs, lengths beyond the measured ones (input 256-4096, "
              "output 64-256: answered as extrapolated), online serving (refused).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

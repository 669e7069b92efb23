"""Leave-one-length-out at the long-context edge (issue 26: "leave-one-length-out at the longest measured length
<= 8% median").

For each input length measured at 16,384 tokens or more (Llama-3.1-8B, vLLM graphs, H100), the phase model is
fitted on every shipped cell except that length's and predicts the held-out cells (energy and time), exactly as
`energy-predict model fit` fits the default model. Writes benchmarks/results/long_context.{json,md}.

Run from the repository root: python benchmarks/long_context.py
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sklearn.base import clone

from energy_predict.model.dataset import training_table
from energy_predict.model.structured import PhaseModel

OUT = Path(__file__).parent / "results"
EDGE_TOKENS = 16384  # the lengths beyond the old measured domain (8,192)


def long_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The long-context cells: H100, vLLM with CUDA graphs, Llama-3.1-8B, input >= EDGE_TOKENS."""
    return table[(table["gpu"] == "H100-SXM-80GB") & (table["model"] == "Llama-3.1-8B")
                 & (table["input_tokens"] >= EDGE_TOKENS) & table["config"].str.startswith("vllm-graphs")]


def leave_length_out(table: pd.DataFrame, length: int, target: str) -> pd.DataFrame:
    """Cells of `length` predicted from a fit on all other cells (the held-out length is never seen)."""
    test = long_cells(table)
    test = test[test["input_tokens"] == length]
    train = table.drop(index=test.index)
    model = clone(PhaseModel(target=target)).fit(train, train[target].to_numpy())
    pred = model.predict(test)
    return pd.DataFrame({"input_tokens": length, "batch_size": test["batch_size"].to_numpy(),
                         "output_tokens": test["output_tokens"].to_numpy(), "target": target,
                         "measured": test[target].to_numpy(), "predicted": pred})


def main() -> None:
    t0, c0 = time.time(), time.process_time()
    table = training_table()
    lengths = sorted(long_cells(table)["input_tokens"].unique())
    rows = pd.concat([leave_length_out(table, int(n), target) for n in lengths
                      for target in ("energy_j", "duration_s")], ignore_index=True)
    rows["error"] = rows["predicted"] / rows["measured"] - 1
    summary = (rows.assign(abs_error=rows["error"].abs())
               .groupby(["target", "input_tokens"])
               .agg(cells=("error", "size"), median_abs=("abs_error", "median"), max_abs=("abs_error", "max"),
                    median_signed=("error", "median")).reset_index())
    longest = int(max(lengths))
    edge = summary[(summary["target"] == "energy_j") & (summary["input_tokens"] == longest)].iloc[0]
    commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {"commit": commit, "created": datetime.now(UTC).isoformat(timespec="seconds"),
              "runtime_s": {"wall": round(time.time() - t0, 1), "cpu": round(time.process_time() - c0, 1)},
              "longest_input_tokens": longest, "target_median_abs": 0.08,
              "longest_energy_median_abs": float(edge["median_abs"]),
              "summary": summary.to_dict("records"), "cells": rows.to_dict("records")}
    OUT.mkdir(exist_ok=True)
    (OUT / "long_context.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    lines = ["# Leave-one-length-out at the long-context edge (issue 26)", "",
             f"Made by `python benchmarks/long_context.py` at {commit} ({result['created']}; "
             f"{result['runtime_s']['wall']} s wall). Llama-3.1-8B, vLLM with CUDA graphs, H100 SXM: each input "
             f"length from {EDGE_TOKENS:,} tokens held out in turn; the phase model (as `model fit` fits it) on every "
             "other shipped cell predicts it. Error = predicted / measured - 1.", "",
             f"**Longest measured length ({longest:,} tokens): energy median abs(error) "
             f"{edge['median_abs']:.1%} (target <= 8%: {'met' if edge['median_abs'] <= 0.08 else 'missed'}).**", "",
             "| target | input tokens | cells | median abs(error) | max abs(error) | median signed |",
             "|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        lines.append(f"| {r.target} | {r.input_tokens:,} | {r.cells} | {r.median_abs:.1%} | {r.max_abs:.1%} | "
                     f"{r.median_signed:+.1%} |")
    (OUT / "long_context.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

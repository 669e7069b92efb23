"""Held-out check: the installed model's answer for each long-context cell of 2026-12-07-h100lc-long-context.

Run from the repository root: python campaigns/2026-12-07-h100-long-context/heldout_check.py [extra estimate options]
Each cell (batch b, input I, output O) is answered by `energy-predict estimate` as one offline batch of b requests
(`--requests b --max-batch b`); the interval is the answer's 90% interval. Before the cells were fitted this is a
held-out check of the extrapolation beyond 8,192 input tokens (heldout-before-refit.md).
"""

import json
import subprocess
import sys

import pandas as pd

RUN = "artifacts/calibration/2026-12-07-h100lc-long-context/records.parquet"


def answer(batch: int, input_tokens: int, output_tokens: int, extra: list[str]) -> dict | str:
    """The CLI's JSON report for one cell, or its one-line refusal."""
    out = subprocess.run(["energy-predict", "estimate", "--model", "Llama-3.1-8B", "--gpu", "H100-SXM-80GB",
                          "--input", str(input_tokens), "--output", str(output_tokens), "--requests", str(batch),
                          "--max-batch", str(batch), "--json", *extra], capture_output=True, text=True)
    return out.stderr.strip() if out.returncode else json.loads(out.stdout)


def main(extra: list[str]) -> None:
    records = pd.read_parquet(RUN)
    cells = (records[records.status == "ok"].groupby(["batch_size", "input_tokens", "output_tokens"])
             .agg(measured_j=("energy_j", "median")).reset_index())
    rows = []
    for cell in cells.itertuples():
        r = answer(int(cell.batch_size), int(cell.input_tokens), int(cell.output_tokens), extra)
        if isinstance(r, str):
            rows.append({"batch": cell.batch_size, "input": cell.input_tokens, "output": cell.output_tokens,
                         "measured_j": cell.measured_j, "refused": r[:120]})
            continue
        e = {k: v * 3.6e6 for k, v in r["energy_kwh"].items()}
        rows.append({"batch": cell.batch_size, "input": cell.input_tokens, "output": cell.output_tokens,
                     "measured_j": cell.measured_j, "predicted_j": e["estimate"],
                     "interval_j": f"{e['low']:.0f}-{e['high']:.0f}", "inside": e["low"] <= cell.measured_j <= e["high"],
                     "basis": r["basis"]["kind"], "measured_over_predicted": cell.measured_j / e["estimate"]})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if "predicted_j" in table:
        err = (table.measured_over_predicted - 1).abs()
        print(f"median abs(error) {err.median():.3f}, max {err.max():.3f}, interval coverage {table.inside.mean():.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])

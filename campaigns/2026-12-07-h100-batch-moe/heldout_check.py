"""Held-out check: the installed model's answer for each cell this lease measured, before the cells are fitted.

Run from the repository root: python campaigns/2026-12-07-h100-batch-moe/heldout_check.py RUN [RUN ...]
(RUN: a folder under artifacts/calibration). Each cell (batch b, input I, output O) is answered by
`energy-predict estimate` as one offline batch of b requests (`--requests b --max-batch b`) on the run's GPU, the
engine's `max_num_seqs` as the batch cap; the interval is the answer's 90% interval.
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

GPU = {"H100-SXM-80GB": "H100-SXM-80GB", "H200-SXM-141GB": "H200-SXM-141GB"}


def answer(model: str, gpu: str, batch: int, input_tokens: int, output_tokens: int) -> dict | str:
    """The CLI's JSON report for one cell, or its one-line refusal."""
    out = subprocess.run(["energy-predict", "estimate", "--model", model, "--gpu", gpu, "--input", str(input_tokens),
                          "--output", str(output_tokens), "--requests", str(batch), "--max-batch", str(batch),
                          "--json"], capture_output=True, text=True)
    return out.stderr.strip() if out.returncode else json.loads(out.stdout)


def check(run: Path) -> pd.DataFrame:
    records = pd.read_parquet(run / "records.parquet")
    ok = records[records.status == "ok"]
    cells = (ok.groupby(["model", "gpu", "batch_size", "input_tokens", "output_tokens"])
             .agg(measured_j=("energy_j", "median"), measured_s=("duration_s", "median")).reset_index())
    rows = []
    for c in cells.itertuples():
        r = answer(c.model, GPU[c.gpu], int(c.batch_size), int(c.input_tokens), int(c.output_tokens))
        row = {"run": run.name, "model": c.model, "batch": c.batch_size, "input": c.input_tokens,
               "output": c.output_tokens, "measured_j": round(c.measured_j, 1)}
        if isinstance(r, str):
            rows.append({**row, "refused": r[:160]})
            continue
        e = {k: v * 3.6e6 for k, v in r["energy_kwh"].items()}
        rows.append({**row, "predicted_j": round(e["estimate"], 1), "interval_j": f"{e['low']:.0f}-{e['high']:.0f}",
                     "inside": bool(e["low"] <= c.measured_j <= e["high"]), "basis": r["basis"]["kind"],
                     "measured_over_predicted": round(c.measured_j / e["estimate"], 3)})
    return pd.DataFrame(rows)


def main(runs: list[str]) -> None:
    table = pd.concat([check(Path(r)) for r in runs], ignore_index=True)
    print(table.to_string(index=False))
    if "predicted_j" in table:
        for run, part in table.dropna(subset=["predicted_j"]).groupby("run"):
            err = (part.measured_over_predicted - 1).abs()
            print(f"\n{run}: median abs(error) {err.median():.1%}, max {err.max():.1%}, "
                  f"interval coverage {part.inside.mean():.0%} ({len(part)} cells)")


if __name__ == "__main__":
    main(sys.argv[1:])

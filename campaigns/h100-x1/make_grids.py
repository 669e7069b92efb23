"""Grids for the follow-up lease: cells the 4-GPU lease did not reach, and cells whose repetitions
spread more than 3% (re-measured one process at a time). Run from the repository root."""

import json
from pathlib import Path

import pandas as pd

from energy_predict.calibrate.followup import follow_up_grid
from energy_predict.calibrate.grid import load_grid
from energy_predict.datasets import load_records

ART = Path("artifacts/calibration")
X4 = Path("campaigns/h100-x4")
HERE = Path("campaigns/h100-x1")


def write(name: str, grid_files: list[str], runs: list[str], **kwargs) -> None:
    grid = follow_up_grid(name, [load_grid(X4 / f) for f in grid_files],
                          pd.concat([load_records(ART / r) for r in runs]), **kwargs)
    (HERE / f"{name}.json").write_text(json.dumps(grid, indent=1))
    print(name, len(grid["blocks"]), "cells")


HF_RUNS = ["2026-11-27-x4-hf-llama8b-eager", "2026-11-27-x4-hf-mixed"]
write("hf-missing", ["hf-8b-eager.json", "hf-mixed.json"], HF_RUNS, first=[("Llama-3.1-8B", "hf-eager", 1, 512, 128)],
      noisy=False)
write("hf-noisy", ["hf-8b-eager.json", "hf-mixed.json"], HF_RUNS, missing=False)
write("vllm-8b-graphs", ["vllm-8b-graphs.json"], ["2026-11-27-x4-vllm-llama8b-graphs"], noisy=False)
write("vllm-1b-graphs", ["vllm-1b-graphs.json"], ["2026-11-27-x4-vllm-llama1b-graphs"], noisy=False)

"""Grids for the follow-up lease: cells the 4-GPU lease did not reach, and cells whose repetitions
spread more than 3% (re-measured one process at a time). Run from the repository root."""

import json
from pathlib import Path

import pandas as pd

from energy_predict.calibrate.grid import expand_grid, load_grid
from energy_predict.datasets import cell_stats, load_records

ART = Path("artifacts/calibration")
X4 = Path("calibrate/campaigns/h100-x4")
HERE = Path("calibrate/campaigns/h100-x1")
NOISY_CV = 0.03


def cell_blocks(cells) -> list[dict]:
    return [{"batch_sizes": [c[2]], "input_tokens": [c[3]], "output_tokens": [c[4]], "models": [c[0]],
             "configs": [c[1]]} for c in cells]


def follow_up(name: str, grid_files: list[str], runs: list[str], first: list[tuple] = (), noisy_only: bool = False,
              missing_only: bool = False) -> None:
    grids = [load_grid(X4 / f) for f in grid_files]
    measured = pd.concat([load_records(ART / r) for r in runs])
    stats = cell_stats(measured)
    done = {tuple(r) for r in stats[["model", "config", "batch_size", "input_tokens", "output_tokens"]].values}
    worst_first = stats[stats.cv > NOISY_CV].sort_values("cv", ascending=False)
    noisy = [] if missing_only else [tuple(r) for r in worst_first[["model", "config", "batch_size", "input_tokens",
                                                                    "output_tokens"]].values]
    missing = [] if noisy_only else [c.key for g in grids for c in expand_grid(g) if c.key not in done]
    cells = list(dict.fromkeys([*first, *missing, *noisy]))
    configs = {c.name: c.model_dump() for g in grids for c in g.configs}
    models = list(dict.fromkeys(m for g in grids for m in g.models))
    used = sorted({c[1] for c in cells})
    grid = {**grids[0].model_dump(), "name": name, "models": models, "configs": [configs[c] for c in used],
            "blocks": cell_blocks(cells)}
    (HERE / f"{name}.json").write_text(json.dumps(grid, indent=1))
    print(name, "missing", len(missing), "noisy", len(noisy), "cells", len(cells))


HF_RUNS = ["2026-11-27-x4-hf-llama8b-eager", "2026-11-27-x4-hf-mixed"]
follow_up("hf-missing", ["hf-8b-eager.json", "hf-mixed.json"], HF_RUNS, first=[("Llama-3.1-8B", "hf-eager", 1, 512, 128)],
          missing_only=True)
follow_up("hf-noisy", ["hf-8b-eager.json", "hf-mixed.json"], HF_RUNS, noisy_only=True)
follow_up("vllm-8b-graphs", ["vllm-8b-graphs.json"], ["2026-11-27-x4-vllm-llama8b-graphs"], missing_only=True)
follow_up("vllm-1b-graphs", ["vllm-1b-graphs.json"], ["2026-11-27-x4-vllm-llama1b-graphs"], missing_only=True)

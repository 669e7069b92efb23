"""Write the multi-GPU campaign's grids (issue 30): one `calibrate GRID --ray` command per lease kind.

Run from the repository root: python campaigns/next-multi-gpu/make_grids.py
Blocks are in priority order (calibrate --ray starts engines in the blocks' order, none overtaking one waiting for
GPUs), so a lease cut short still holds what matters most. Cells line up with earlier leases
(energy_predict.calibrate.grid_builders), so each new degree or model is scored on cells measured before.

- x8 (nvidia-h100-x8, or nvidia-h200-x8): TP8, the degree the tensor-parallel law extrapolates to today:
  Llama-3.1-8B on the 18 cells measured at TP1/2/4, Llama-3.1-70B bf16 on the six large-model cells measured at
  TP4, then a Qwen3-235B-A22B-shaped MoE in fp8 (235 GB of fp8 weights: 29 GB a GPU) on the new-model cells.
- x4 (nvidia-h100-x4, nvidia-h200-x4): MoE and a second dense model at TP2/TP4, so a model never measured at those
  degrees is transferred with a measured leave-one-model-out error: Qwen3-30B-A3B at TP2 and TP4, a Qwen3-32B-shaped
  dense at TP2 (config from benchmarks/data/published/configs), Mixtral-8x7B at TP4; on an H200 machine also
  Llama-3.1-8B at TP2/TP4 on the H100's TP cells (H100<->H200 transfer at TP > 1).
- x2 (nvidia-h100-x2, nvidia-h200-x2): the part of x4 that fits two GPUs (TP2 only).
"""

from __future__ import annotations

import sys
from pathlib import Path

from energy_predict.calibrate.grid_builders import (
    BIG_MODEL_CELLS,
    NEW_MODEL_CELLS,
    NO_AR_FUSION,
    NO_TP_PASSES,
    TP_CELLS_8B,
    Part,
    campaign_grid,
    vllm_config,
    write_grids,
)

HERE = Path(__file__).parent
QWEN3_32B = "benchmarks/data/published/configs/Qwen3-32B/config.json"
QWEN3_235B = "benchmarks/data/published/configs/Qwen3-235B-A22B/config.json"

CONFIGS = {c["name"]: c for c in [
    vllm_config("vllm-graphs-tp8-notppasses", tensor_parallel=8, compilation_config=NO_TP_PASSES),
    vllm_config("vllm-graphs-tp8-noarfusion", tensor_parallel=8, compilation_config=NO_AR_FUSION),
    vllm_config("vllm-graphs-fp8-tp8-notppasses", tensor_parallel=8, quantization="fp8",
                compilation_config=NO_TP_PASSES),
    vllm_config("vllm-graphs-tp4-noarfusion", tensor_parallel=4, compilation_config=NO_AR_FUSION),
    vllm_config("vllm-graphs-tp4-notppasses", tensor_parallel=4, compilation_config=NO_TP_PASSES),
    vllm_config("vllm-graphs-tp2-noarfusion", tensor_parallel=2, compilation_config=NO_AR_FUSION),
]}


def x8_parts() -> list[Part]:
    return [
        ("Llama-3.1-8B", "vllm-graphs-tp8-noarfusion", TP_CELLS_8B),
        ("Llama-3.1-70B", "vllm-graphs-tp8-notppasses", BIG_MODEL_CELLS),
        (QWEN3_235B, "vllm-graphs-fp8-tp8-notppasses", NEW_MODEL_CELLS),
    ]


def x4_parts(card: str) -> list[Part]:
    parts: list[Part] = [
        ("Qwen3-30B-A3B", "vllm-graphs-tp2-noarfusion", NEW_MODEL_CELLS),
        (QWEN3_32B, "vllm-graphs-tp2-noarfusion", NEW_MODEL_CELLS),
        ("Qwen3-30B-A3B", "vllm-graphs-tp4-noarfusion", NEW_MODEL_CELLS),
        ("Mixtral-8x7B", "vllm-graphs-tp4-noarfusion", NEW_MODEL_CELLS),
    ]
    if card == "h200":
        parts += [("Llama-3.1-8B", "vllm-graphs-tp2-noarfusion", TP_CELLS_8B[:12]),
                  ("Llama-3.1-8B", "vllm-graphs-tp4-noarfusion", TP_CELLS_8B)]
    return parts


def grids() -> dict[str, dict]:
    out = {}
    for card in ("h100", "h200"):
        out[f"x8-{card}"] = campaign_grid(f"multi-gpu-x8-{card}", x8_parts(), CONFIGS)
        out[f"x4-{card}"] = campaign_grid(f"multi-gpu-x4-{card}", x4_parts(card), CONFIGS)
        out[f"x2-{card}"] = campaign_grid(
            f"multi-gpu-x2-{card}", [p for p in x4_parts(card) if "tp2" in p[1]], CONFIGS)
    return out


if __name__ == "__main__":
    for path in write_grids(HERE, grids()):
        print(path)
    sys.exit(0)

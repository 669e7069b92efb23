"""Grid builders for campaigns: pure functions that return a grid file's JSON structure, and the shared cell sets.

A campaign's grids are data (`campaigns/<lease>/*.json`, read by `calibrate.grid.load_grid`); a campaign writes
them with these builders, so that cells line up between leases and no campaign imports another's script. Key order
is the files' order: `grid_text(grid)` of a built grid is the committed file, byte for byte
(tests/unit/calibrate/test_grid_builders.py rebuilds the committed grids).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

Shape = tuple[int, int, int]  # (batch size, input tokens, output tokens)
Part = tuple[str, str, list[Shape]]  # (model, config name, shapes): one engine's cells in a campaign grid

# The cells later campaigns line up with, most important first.
# Llama-3.1-8B's tensor-parallel cells (the TP1/TP2 campaign, then TP4): batch 1 to 256, prompts to 8 K.
TP_CELLS_8B: list[Shape] = [
    (1, 128, 128), (1, 512, 256), (1, 128, 32), (1, 2048, 128), (1, 8192, 32), (8, 128, 128), (64, 128, 128),
    (256, 128, 128), (16, 1024, 64), (8, 2048, 32), (64, 512, 32), (128, 256, 64), (16, 256, 8), (256, 512, 32),
    (8, 8192, 32), (64, 2048, 32), (32, 128, 512), (1, 128, 1024),
]
# A large model's six cells (70B, 32B at TP2 and TP4).
BIG_MODEL_CELLS: list[Shape] = [(1, 128, 128), (1, 512, 256), (8, 128, 128), (64, 512, 32), (16, 1024, 64),
                                (256, 128, 128)]
# A new model's grid: batch 1 to 256, prefill-heavy and decode-heavy, contexts to 2 K (OLMo's limit is 4 K).
NEW_MODEL_CELLS: list[Shape] = [(1, 128, 128), (1, 2048, 32), (8, 128, 128), (8, 2048, 32), (16, 1024, 64),
                                (64, 512, 32), (64, 128, 128), (256, 128, 128)]
# HF eager cells of Llama-3.1-8B whose first repetitions spread most (re-measured on the H100 and the H200).
HF_NOISY_CELLS: list[Shape] = [(1, 128, 128), (1, 512, 128), (1, 2048, 128), (1, 128, 32), (1, 512, 32),
                               (1, 2048, 32), (4, 512, 128), (16, 512, 128)]
# Five (input, output) splits of 640 tokens: one static cache length per batch for HF torch.compile.
COMPILE_SPLITS: list[tuple[int, int]] = [(128, 512), (320, 320), (512, 128), (576, 64), (608, 32)]
# Speculative decoding against greedy: 512 -> 128 at batch 1 to 128.
SPEC_CELLS: list[Shape] = [(b, 512, 128) for b in (1, 4, 16, 64, 128)]
# Decoding strategies (sampling, beam search) against greedy.
DECODING_CELLS: list[Shape] = [(2, 512, 128), (8, 512, 128), (32, 512, 128), (1, 2048, 128), (4, 128, 256),
                               (16, 1024, 64)]
# Prefix caching at a chosen hit rate.
PREFIX_CELLS: list[Shape] = [(1, 4096, 32), (16, 2048, 32), (64, 1024, 32), (8, 2048, 128)]

# vLLM 0.26's -O2 turns on FlashInfer's all-reduce + RMSNorm fusion for TP > 1, which needs NVLink multicast (off
# on the lent machines); for hidden size >= 8192 also sequence parallelism and async TP.
# docs/measurements/2026-11-27-tp-startup.md
NO_AR_FUSION = {"pass_config": {"fuse_allreduce_rms": False}}
NO_TP_PASSES = {"pass_config": {"fuse_allreduce_rms": False, "enable_sp": False, "fuse_gemm_comms": False}}


def hf_config(name: str, **extra) -> dict:
    """An HF transformers serving config (eager unless `compile=True`; `decoding`, `beam_width` as given)."""
    return {"name": name, "backend": "hf", **extra}


def vllm_config(name: str, *, cuda_graphs: bool = True, tensor_parallel: int | None = None, max_num_seqs: int = 256,
                **extra) -> dict:
    """A vLLM serving config, prefix caching off; `tensor_parallel` is written only where given."""
    tp = {} if tensor_parallel is None else {"tensor_parallel": tensor_parallel}
    return {"name": name, "backend": "vllm", "cuda_graphs": cuda_graphs, **tp, "max_num_seqs": max_num_seqs,
            "enable_prefix_caching": False, **extra}


def speculative_config(name: str, draft: str, draft_tokens: int, acceptance: float | None = None) -> dict:
    """A vLLM config with speculative decoding: `draft` proposes `draft_tokens` per step.

    `acceptance`: vLLM's synthetic acceptance (drafted position j accepted with probability p^j); None keeps the
    draft's own, which for random weights is about 0. The engine's counters are logged (`log_stats`).
    """
    return vllm_config(name, speculative_model=draft, num_speculative_tokens=draft_tokens,
                       synthetic_acceptance=acceptance, log_stats=True)


def cell_blocks(shapes: Iterable[Shape], model: str | None = None, config: str | None = None) -> list[dict]:
    """One block per cell, in the given order; a block names its model and config where they are given."""
    blocks = []
    for b, i, o in shapes:
        block = {"batch_sizes": [b], "input_tokens": [i], "output_tokens": [o]}
        if model is not None:
            block["models"] = [model]
        if config is not None:
            block["configs"] = [config]
        blocks.append(block)
    return blocks


def grid(name: str, configs: list[dict], blocks: list[dict], models: list[str] | None = None,
         repetitions: int = 3, min_window_s: float = 2.0, warmup_runs: int = 1, idle_seconds: float = 3.0) -> dict:
    """A grid: `models` default to the blocks' models in order of first appearance."""
    if models is None:
        models = list(dict.fromkeys(m for b in blocks for m in b.get("models", [])))
    return {"name": name, "models": models, "configs": configs, "blocks": blocks, "repetitions": repetitions,
            "min_window_s": min_window_s, "warmup_runs": warmup_runs, "idle_seconds": idle_seconds}


def campaign_grid(name: str, parts: list[Part], configs: Mapping[str, dict] | Iterable[dict]) -> dict:
    """One grid of several engines, one after another in the parts' order (calibrate --ray starts them so).

    `configs`: the configs by name (or a list of them); the grid holds those the parts use, in order of first use.
    """
    by_name = configs if isinstance(configs, Mapping) else {c["name"]: c for c in configs}
    used = list(dict.fromkeys(c for _, c, _ in parts))
    unknown = [c for c in used if c not in by_name]
    if unknown:
        raise ValueError(f"parts use configs that are not given: {', '.join(unknown)}")
    return grid(name, [by_name[c] for c in used],
                [b for model, config, shapes in parts for b in cell_blocks(shapes, model, config)])


def grid_text(g: dict) -> str:
    """A grid as its file holds it (JSON, one-space indent, trailing newline)."""
    return json.dumps(g, indent=1) + "\n"


def write_grids(folder: Path, grids: Mapping[str, dict]) -> list[Path]:
    """Each grid to folder/<name>.json; the paths written."""
    paths = []
    for name, g in grids.items():
        path = folder / f"{name}.json"
        path.write_text(grid_text(g))
        paths.append(path)
    return paths

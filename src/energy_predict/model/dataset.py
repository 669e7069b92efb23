"""The training table: one row per measured cell (median of its repetitions), from the shipped runs.

A cell measured in several runs (re-measured because its first repetitions spread) keeps its latest run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from energy_predict.architectures import resolve_architecture
from energy_predict.datasets import cell_stats, load_records, run_dirs
from energy_predict.gpus import resolve_gpu
from energy_predict.model.features import cell_frame
from energy_predict.serving import Serving

# The serving configurations the shipped models cover; other measured configs (sampling, beam search,
# eager attention) are findings, not training data.
MODELED_CONFIGS = ("hf-eager", "hf-compile", "vllm-graphs", "vllm-eager", "vllm-graphs-fp8",
                   # the H200 tensor-parallel campaign (docs/measurements/2026-11-27-tp-startup.md)
                   "vllm-graphs-tp1", "vllm-graphs-tp2-noarfusion", "vllm-graphs-fp8-tp2-notppasses",
                   # the 4-GPU H100 campaign (campaigns/x4-tp4-families): TP4, and vLLM's default
                   # memory share raised to 0.95 for Qwen3-30B-A3B's 61 GB of weights (same serving key)
                   "vllm-graphs-tp4-noarfusion", "vllm-graphs-tp4-notppasses", "vllm-graphs-mem95")


def serving_of(records: pd.DataFrame) -> Serving:
    """The serving configuration of a group of records of one config."""
    row = records.iloc[0]
    quantization = row.get("quantization")
    tp = row.get("tensor_parallel")
    return Serving(framework=row["backend"], cuda_graphs=bool(row.get("cuda_graphs", False)),
                   compile=bool(row.get("compile", False)),
                   quantization=None if quantization in (None, "none") else str(quantization),
                   tensor_parallel=int(tp) if tp is not None and tp == tp else 1)


def training_table(root: Path | None = None, configs: tuple[str, ...] = MODELED_CONFIGS) -> pd.DataFrame:
    """Cells x (features of the shared vocabulary, energy_j, duration_s, cv, n, run_id)."""
    frames = []
    for run in run_dirs(root):
        meta = json.loads((run / "run.json").read_text())
        records = load_records(run)
        records = records[records["config"].isin(configs) & (records["status"] == "ok")]
        for (model, config), group in records.groupby(["model", "config"]):
            stats = cell_stats(group)
            if not len(stats):
                continue
            frame = cell_frame(resolve_architecture(model), resolve_gpu(group["gpu"].iloc[0]), serving_of(group),
                               stats["batch_size"], stats["input_tokens"], stats["output_tokens"])
            frame["config"] = config
            for col in ("energy_j", "duration_s", "cv", "n"):
                frame[col] = stats[col].to_numpy()
            frame["run_id"] = run.name
            frame["started"] = meta.get("started", "")
            frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    key = ["model", "gpu", "config", "batch_size", "input_tokens", "output_tokens"]
    table = table.sort_values("started").drop_duplicates(key, keep="last")
    return table.sort_values(key).reset_index(drop=True)

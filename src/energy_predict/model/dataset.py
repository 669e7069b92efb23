"""The training table: one row per measured cell (median of its repetitions), from the shipped runs.

Which measured configurations are training data is a rule on what they ran (`not_training`), read from each run's
configurations (run.json, where the engine knobs are; the records where a run has none), never from their names:
a configuration measured under a new name, or in a new precision of the precision table, enters as it is measured.
A cell measured in several runs (re-measured because its first repetitions spread) keeps its latest run.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

import pandas as pd

from energy_predict.architectures import resolve_architecture
from energy_predict.datasets import cell_stats, load_records, run_dirs
from energy_predict.gpus import resolve_gpu
from energy_predict.model.features import cell_frame
from energy_predict.precision import KEY_DTYPE
from energy_predict.serving_spec import ServingConfig, config_of_record


def not_training(config: ServingConfig) -> str | None:
    """Why a measured configuration is not training data of the phase model; None where it is.

    Training data are the greedy configurations the serving key tells apart (framework, CUDA graphs, compile,
    precision, tensor parallelism), run as the engine runs by default. Engine knobs that change no kernel a batch
    runs (memory share, context length, compilation passes such as the all-reduce fusions, stat logging) do not
    keep a configuration out.
    """
    s = config.serving
    if s != s.base:
        return ("a serving option (decoding strategy, speculative decoding): fitted on top of the greedy model "
                "(model/option_fit.py)")
    if s.dtype != KEY_DTYPE:
        return f"measured in {s.dtype}: a serving key stands for {KEY_DTYPE} only (energy_predict/precision.py)"
    if config.engine.attn_implementation != "sdpa":
        return "HF eager attention: a finding on attention kernels, not a configuration the model offers"
    if s.prefix_caching:
        return "prefix caching: cells with cached prefixes measure the cache (energy_predict/prefix.py)"
    if config.max_num_batched_tokens is not None or config.engine.enable_chunked_prefill is not None:
        return "a token budget or chunked prefill of its own: a finding on scheduling, not the engine's default steps"
    return None


def run_configs(run: Path, records: pd.DataFrame) -> dict[str, ServingConfig]:
    """Each configuration a run measured, by name: from its run.json, else from its first record."""
    meta = json.loads((run / "run.json").read_text())
    stored = meta.get("configs") or {}
    return {name: config_of_record(stored[name] if name in stored else group.iloc[0])
            for name, group in records.groupby("config")}


def training_table(root: Path | None = None, configs: Collection[str] | None = None) -> pd.DataFrame:
    """Cells x (features of the shared vocabulary, energy_j, duration_s, cv, n, run_id).

    `configs`: keep only the training configurations of these names (an analysis of some of them).
    """
    frames = []
    for run in run_dirs(root):
        meta = json.loads((run / "run.json").read_text())
        if meta.get("not_training"):
            continue
        records = load_records(run)
        records = records[records["status"] == "ok"]
        measured = run_configs(run, records)
        keep = [name for name, config in measured.items()
                if not_training(config) is None and (configs is None or name in configs)]
        records = records[records["config"].isin(keep)]
        for (model, config), group in records.groupby(["model", "config"]):
            stats = cell_stats(group)
            if not len(stats):
                continue
            frame = cell_frame(resolve_architecture(model), resolve_gpu(group["gpu"].iloc[0]),
                               measured[config].serving, stats["batch_size"], stats["input_tokens"],
                               stats["output_tokens"])
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

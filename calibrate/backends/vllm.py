"""vLLM backend: offline `LLM.generate` on dummy (random) weights from a folder holding only `config.json`.

Token-id prompts, no tokenizer, `ignore_eos` and min_tokens = max_tokens = O, no detokenisation.
Prefix caching is off unless asked for: with it on, every repetition after the first would skip prefill
(replays that turn it on empty the cache before each measured run).
The pure helpers (engine arguments, prompts, output counting) are tested on CPU without vLLM.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from energy_predict.architectures import Architecture, to_hf_config
from energy_predict.calibrate.backends.base import CellInfeasible
from energy_predict.calibrate.grid import Cell, ServingConfig


def engine_kwargs(config: ServingConfig, model_dir: str, max_model_len: int) -> dict[str, Any]:
    """Arguments for `vllm.LLM` from a serving config."""
    kwargs: dict[str, Any] = {
        "model": model_dir,
        "load_format": "dummy",
        "skip_tokenizer_init": True,
        "dtype": config.dtype,
        "enforce_eager": not config.cuda_graphs,
        "max_num_seqs": config.max_num_seqs,
        "enable_prefix_caching": config.enable_prefix_caching,
        "disable_log_stats": not config.log_stats,
        "gpu_memory_utilization": config.gpu_memory_utilization,
        "tensor_parallel_size": config.tensor_parallel,
        "max_model_len": config.max_model_len or max_model_len,
        "seed": 0,
    }
    if config.quantization:
        kwargs["quantization"] = config.quantization
    if config.max_num_batched_tokens:
        kwargs["max_num_batched_tokens"] = config.max_num_batched_tokens
    if config.enable_chunked_prefill is not None:
        kwargs["enable_chunked_prefill"] = config.enable_chunked_prefill
    if config.compilation_config:
        kwargs["compilation_config"] = config.compilation_config
    if config.disable_custom_all_reduce:
        kwargs["disable_custom_all_reduce"] = True
    return kwargs


def make_prompts(cell: Cell, vocab_size: int, seed: int = 0) -> list[dict[str, list[int]]]:
    """B token-id prompts of I tokens each, distinct so no two share a prefix."""
    import random

    rng = random.Random(seed * 1_000_003 + cell.batch_size * 7919 + cell.input_tokens)
    n = max(cell.input_tokens, 1)
    return [{"prompt_token_ids": [rng.randrange(3, vocab_size - 1) for _ in range(n)]}
            for _ in range(cell.batch_size)]


PREFIX_COUNTERS = {"queries_tokens": "vllm:prefix_cache_queries", "hits_tokens": "vllm:prefix_cache_hits"}


def prefix_counters(metrics: Sequence[Any]) -> dict:
    """Prefix-cache queries and hits (tokens, summed over engines) from `LLM.get_metrics()`; None + reason if absent."""
    found: dict[str, int] = {}
    for m in metrics:
        for key, name in PREFIX_COUNTERS.items():
            if getattr(m, "name", None) == name and isinstance(getattr(m, "value", None), (int, float)):
                found[key] = found.get(key, 0) + int(m.value)
    if len(found) < len(PREFIX_COUNTERS):
        return {"queries_tokens": None, "hits_tokens": None,
                "null_reason": "vLLM reported no prefix-cache counters (vllm:prefix_cache_queries/hits)"}
    return {**found, "null_reason": None}


def generated_tokens(outputs: Sequence[Any]) -> list[int]:
    """Tokens generated per request, from `RequestOutput`s."""
    return [len(o.outputs[0].token_ids) for o in outputs]


def write_model_dir(arch: Architecture, max_model_len: int) -> str:
    """A temporary folder holding only the architecture's config.json."""
    folder = tempfile.mkdtemp(prefix=f"ep-{arch.name}-")
    config = to_hf_config(arch, max_position_embeddings=max(max_model_len, 8192))
    (Path(folder) / "config.json").write_text(json.dumps(config))
    return folder


class VLLMBackend:
    name = "vllm"

    def __init__(self) -> None:
        self.llm = None
        self.vocab_size = 0
        self.max_model_len = 16384

    def load(self, arch: Architecture, config: ServingConfig) -> None:
        from vllm import LLM

        if config.max_model_len:
            self.max_model_len = config.max_model_len
        folder = write_model_dir(arch, self.max_model_len)
        self.llm = LLM(**engine_kwargs(config, folder, self.max_model_len))
        self.vocab_size = arch.vocab_size

    def prepare(self, cell: Cell) -> Callable[[], int]:
        from vllm import SamplingParams

        if cell.input_tokens + cell.output_tokens > self.max_model_len:
            total = cell.input_tokens + cell.output_tokens
            raise CellInfeasible(f"I + O = {total} > max_model_len {self.max_model_len}")
        prompts = make_prompts(cell, self.vocab_size)
        params = SamplingParams(temperature=0.0, ignore_eos=True, min_tokens=cell.output_tokens,
                                max_tokens=cell.output_tokens, detokenize=False)
        llm = self.llm

        def run() -> int:
            try:
                outputs = llm.generate(prompts, params, use_tqdm=False)
            except Exception as exc:  # vLLM wraps CUDA OOM in its own errors
                if "out of memory" in str(exc).lower():
                    raise CellInfeasible(f"out of memory: {str(exc).splitlines()[0]}") from None
                raise
            counts = generated_tokens(outputs)
            return min(counts) if counts else 0

        return run

    def reset_prefix_cache(self) -> None:
        """Empty the prefix cache (between measured runs, so one run's prompts are not the next one's hits)."""
        if not self.llm.reset_prefix_cache():
            raise RuntimeError("vLLM did not empty its prefix cache (requests still running?)")

    def prefix_cache_counters(self) -> dict:
        """The engine's prefix-cache counters (tokens), or None + reason when its stat logging is off."""
        try:
            metrics = self.llm.get_metrics()
        except AssertionError:  # LLMEngine.get_metrics asserts log_stats
            return {"queries_tokens": None, "hits_tokens": None,
                    "null_reason": "vLLM's stat logging is off (disable_log_stats)"}
        return prefix_counters(metrics)

    def synchronize(self) -> None:
        """Nothing to wait for: `generate` returns when the engine is done.

        Touching CUDA here would initialise it in this process and force vLLM's workers to spawn, not fork.
        """

    def close(self) -> None:
        import gc

        if self.llm is not None:
            try:
                self.llm.llm_engine.engine_core.shutdown()
            except Exception:  # noqa: BLE001 - best effort: the process may exit anyway
                pass
        self.llm = None
        gc.collect()

    def versions(self) -> dict[str, str]:
        import torch
        import vllm

        return {"vllm": vllm.__version__, "torch": torch.__version__, "cuda": str(torch.version.cuda)}

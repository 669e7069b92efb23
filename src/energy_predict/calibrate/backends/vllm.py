"""vLLM backend: offline `LLM.generate` on dummy (random) weights from a folder holding only `config.json`.

Token-id prompts, no tokenizer, `ignore_eos` and min_tokens = max_tokens = O, no detokenisation.
Prefix caching is off unless asked for: with it on, every repetition after the first would skip prefill
(replays that turn it on empty the cache before each measured run).
The pure helpers (engine arguments, prompts, output counting) are tested on CPU without vLLM.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from energy_predict.architectures import Architecture, calibration_config
from energy_predict.calibrate.backends.base import CellInfeasible, Request
from energy_predict.calibrate.grid import Cell, ServingConfig

_REQUEST_IDS = itertools.count()  # request ids unique across every run of the process


def engine_kwargs(config: ServingConfig, model_dir: str, max_model_len: int,
                  draft_dir: str | None = None) -> dict[str, Any]:
    """Arguments for `vllm.LLM` from a serving config."""
    kwargs: dict[str, Any] = {
        "model": model_dir,
        "load_format": "dummy",
        "skip_tokenizer_init": True,
        "dtype": config.dtype,
        "enforce_eager": not config.cuda_graphs,
        "max_num_seqs": config.max_batch,
        "enable_prefix_caching": config.prefix_caching,
        "disable_log_stats": not config.engine.log_stats,
        "gpu_memory_utilization": config.engine.gpu_memory_utilization,
        "tensor_parallel_size": config.tensor_parallel,
        "max_model_len": config.engine.max_model_len or max_model_len,
        "seed": 0,
    }
    if config.quantization:
        kwargs["quantization"] = config.quantization
    if config.max_num_batched_tokens:
        kwargs["max_num_batched_tokens"] = config.max_num_batched_tokens
    if config.engine.enable_chunked_prefill is not None:
        kwargs["enable_chunked_prefill"] = config.engine.enable_chunked_prefill
    if config.engine.compilation_config:
        kwargs["compilation_config"] = config.engine.compilation_config
    if config.engine.disable_custom_all_reduce:
        kwargs["disable_custom_all_reduce"] = True
    if config.speculative:
        kwargs["speculative_config"] = speculative_config(config, draft_dir or "")
    return kwargs


def speculative_config(config: ServingConfig, draft_dir: str) -> dict[str, Any]:
    """VLLM's speculative_config: a draft model drafting k tokens a step, optionally accepted at a synthetic rate.

    vLLM's synthetic rates are per position and unconditional (position i: all of the first i+1 accepted), so an
    independent per-token acceptance a gives a^(i+1).
    """
    k = config.speculative.draft_tokens
    spec: dict[str, Any] = {"model": draft_dir, "method": "draft_model", "num_speculative_tokens": k}
    if config.speculative.synthetic_acceptance is not None:
        a = config.speculative.synthetic_acceptance
        spec["rejection_sample_method"] = "synthetic"
        spec["synthetic_acceptance_rates"] = [a ** (i + 1) for i in range(k)]
    return spec


def make_prompts(cell: Cell, vocab_size: int, seed: int = 0) -> list[dict[str, list[int]]]:
    """B token-id prompts of I tokens each, distinct so no two share a prefix."""
    import random

    rng = random.Random(seed * 1_000_003 + cell.batch_size * 7919 + cell.input_tokens)
    n = max(cell.input_tokens, 1)
    return [{"prompt_token_ids": [rng.randrange(3, vocab_size - 1) for _ in range(n)]}
            for _ in range(cell.batch_size)]


def shared_prefix_prompts(cell: Cell, vocab_size: int, hit_rate: float, seed: int = 0
                          ) -> Callable[[int], list[dict[str, list[int]]]]:
    """Prompts for run k with a share `hit_rate` of each prompt cached.

    The first round(hit_rate x I) tokens are one prefix common to every request and run (cached once warmed up);
    the rest is new in each run and request, never a hit.
    """
    import numpy as np

    n = max(cell.input_tokens, 1)
    shared = int(round(hit_rate * n))
    rng = np.random.default_rng(seed * 1_000_003 + cell.batch_size * 7919 + n)
    prefix = rng.integers(3, vocab_size - 1, shared).tolist()
    rest = rng.integers(0, vocab_size - 4, (cell.batch_size, n - shared))

    def prompts(k: int) -> list[dict[str, list[int]]]:
        fresh = (rest + (k + 1) * 104_729) % (vocab_size - 4) + 3  # a different suffix each run, cheaply
        return [{"prompt_token_ids": prefix + row} for row in fresh.tolist()]

    return prompts


PREFIX_COUNTERS = {"queries_tokens": "vllm:prefix_cache_queries", "hits_tokens": "vllm:prefix_cache_hits"}
SPEC_COUNTERS = {"drafts": "vllm:spec_decode_num_drafts", "draft_tokens": "vllm:spec_decode_num_draft_tokens",
                 "accepted_tokens": "vllm:spec_decode_num_accepted_tokens"}


def engine_counters(metrics: Sequence[Any]) -> dict[str, int]:
    """VLLM's prefix-cache and speculative-decoding counters (summed over engines) that are present."""
    names = {**{v: k for k, v in PREFIX_COUNTERS.items()}, **{v: k for k, v in SPEC_COUNTERS.items()}}
    found: dict[str, int] = {}
    for m in metrics:
        key = names.get(getattr(m, "name", None))
        if key and isinstance(getattr(m, "value", None), (int, float)):
            found[key] = found.get(key, 0) + int(m.value)
    return found


def prefix_counters(metrics: Sequence[Any]) -> dict:
    """Prefix-cache queries and hits (tokens, summed over engines) from `LLM.get_metrics()`; None + reason if absent."""
    found = engine_counters(metrics)
    if any(key not in found for key in PREFIX_COUNTERS):
        return {"queries_tokens": None, "hits_tokens": None,
                "null_reason": "vLLM reported no prefix-cache counters (vllm:prefix_cache_queries/hits)"}
    return {**{key: found[key] for key in PREFIX_COUNTERS}, "null_reason": None}


def generated_tokens(outputs: Sequence[Any]) -> list[int]:
    """Tokens generated per request, from `RequestOutput`s."""
    return [len(o.outputs[0].token_ids) for o in outputs]


def write_model_dir(arch: Architecture, max_model_len: int, router_overrides: dict[str, Any] | None = None) -> str:
    """A temporary folder holding only the architecture's config.json (routing fields overridden where given)."""
    folder = tempfile.mkdtemp(prefix=f"ep-{arch.name.replace('/', '--')}-")  # a Hugging Face id holds a '/'
    config = {**calibration_config(arch, max_position_embeddings=max(max_model_len, 8192)), **(router_overrides or {})}
    (Path(folder) / "config.json").write_text(json.dumps(config))
    return folder


class VLLMBackend:
    name = "vllm"

    def __init__(self) -> None:
        self.llm = None
        self.vocab_size = 0
        self.max_model_len = 16384
        self.config: ServingConfig | None = None

    def load(self, arch: Architecture, config: ServingConfig) -> None:
        # vLLM forks its engine core unless told otherwise, and a fork fails once this process has touched CUDA
        # ("Cannot re-initialize CUDA in forked subprocess", seen on the 2026-12-07 batch/MoE lease)
        os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
        from vllm import LLM

        if config.engine.max_model_len:
            self.max_model_len = config.engine.max_model_len
        folder = write_model_dir(arch, self.max_model_len, config.engine.router_overrides)
        draft = None
        if config.speculative:
            from energy_predict.architectures import resolve_architecture

            draft = write_model_dir(resolve_architecture(config.speculative.draft), self.max_model_len)
        self.llm = LLM(**engine_kwargs(config, folder, self.max_model_len, draft))
        self.vocab_size = arch.vocab_size
        self.config = config

    def reconfigure(self, config: ServingConfig) -> None:
        """Serve the next configs' cells on the loaded engine (their engine fields are equal; grid.engine_fields)."""
        self.config = config

    def counters(self) -> dict[str, int] | None:
        """The engine's prefix-cache and speculative-decoding counters so far; None when its stat logging is off."""
        if not self.config or not self.config.engine.log_stats:
            return None
        return engine_counters(self.llm.get_metrics())

    def watch_running(self) -> Callable[[], dict]:
        """Start collecting vLLM's running/waiting counts; the returned function stops and gives the record fields.

        With stat logging off there is nothing to collect: the fields are null with that reason.
        """
        from energy_predict.calibrate.vllm_stats import RunningSummary, summarize, watch_logger

        if not self.config or not self.config.engine.log_stats:
            off = RunningSummary(0, None, None, None, None, null_reason="vLLM's stat logging is off (log_stats false)")
            return off.record_fields
        stop = watch_logger("vllm")
        return lambda: summarize(stop()).record_fields()

    def prepare(self, cell: Cell) -> Callable[[], int]:
        from vllm import SamplingParams

        if cell.input_tokens + cell.output_tokens > self.max_model_len:
            total = cell.input_tokens + cell.output_tokens
            raise CellInfeasible(f"I + O = {total} > max_model_len {self.max_model_len}")
        config = self.config
        sampling = {"temperature": 1.0, "top_p": 0.95} if config.decoding == "sampling" else \
            {"temperature": 0.0}
        params = SamplingParams(**sampling, ignore_eos=True, min_tokens=cell.output_tokens,
                                max_tokens=cell.output_tokens, detokenize=False)
        if config.prefix_hit_rate is not None:
            prompts_of = shared_prefix_prompts(cell, self.vocab_size, config.prefix_hit_rate)
        else:
            fixed = make_prompts(cell, self.vocab_size)
            prompts_of = lambda k: fixed  # noqa: E731
        llm, runs = self.llm, itertools.count()

        def run() -> int:
            prompts = prompts_of(next(runs))
            try:
                outputs = llm.generate(prompts, params, use_tqdm=False)
            except Exception as exc:  # vLLM wraps CUDA OOM in its own errors
                if "out of memory" in str(exc).lower():
                    raise CellInfeasible(f"out of memory: {str(exc).splitlines()[0]}") from None
                raise
            counts = generated_tokens(outputs)
            return min(counts) if counts else 0

        return run

    def _requests(self, requests: Sequence[Request]) -> tuple[list[dict[str, list[int]]], list[Any]]:
        """Token-id prompts and greedy sampling parameters for exactly each request's output tokens."""
        from vllm import SamplingParams

        prompts = [{"prompt_token_ids": list(r.prompt_token_ids)} for r in requests]
        params = [SamplingParams(temperature=0.0, ignore_eos=True, min_tokens=r.output_tokens,
                                 max_tokens=r.output_tokens, detokenize=False) for r in requests]
        return prompts, params

    def prepare_batch(self, requests: Sequence[Request]) -> Callable[[], None]:
        """Every request submitted at once: vLLM batches them continuously (max_num_seqs, the token budget)."""
        prompts, params = self._requests(requests)
        llm = self.llm

        def run() -> None:
            llm.generate(prompts, params, use_tqdm=False)

        return run

    def prepare_serve(self, requests: Sequence[Request], arrival_s: Sequence[float]) -> Callable[[], None]:
        """Requests added to the engine at their arrival times, stepped until every one is done.

        Between arrivals with nothing to run the loop sleeps (at most 50 ms at a time), so the GPU idles as a
        service's would.
        """
        prompts, params = self._requests(requests)
        arrivals = [float(a) for a in arrival_s]
        order = sorted(range(len(arrivals)), key=arrivals.__getitem__)  # stable: ties keep the request order
        llm = self.llm

        def run() -> None:
            engine = llm.llm_engine
            t0 = time.perf_counter()
            k = 0
            while k < len(order) or engine.has_unfinished_requests():
                now = time.perf_counter() - t0
                while k < len(order) and arrivals[order[k]] <= now:
                    j = order[k]
                    engine.add_request(f"r{next(_REQUEST_IDS)}", prompts[j], params[j])
                    k += 1
                if engine.has_unfinished_requests():
                    engine.step()
                elif k < len(order):
                    time.sleep(min(max(arrivals[order[k]] - now, 0.0), 0.05))

        return run

    def reset_prefix_cache(self) -> None:
        """Empty the prefix cache (between measured runs, so one run's prompts are not the next one's hits)."""
        if not self.llm.reset_prefix_cache():
            raise RuntimeError("vLLM did not empty its prefix cache (requests still running?)")

    def prefix_cache_counters(self) -> dict:
        """The engine's prefix-cache counters (tokens), or None + reason when its stat logging is off."""
        if not self.config or not self.config.engine.log_stats:  # LLMEngine.get_metrics asserts log_stats
            return {"queries_tokens": None, "hits_tokens": None,
                    "null_reason": "vLLM's stat logging is off (disable_log_stats)"}
        return prefix_counters(self.llm.get_metrics())

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

"""Replays: real trace requests run on the GPU as a service would run them, metered whole.

- offline: every request submitted at once. vLLM batches continuously (max_num_seqs); HF serves fixed
  batches of `batch_size` in arrival order, padded to the batch's longest input and run for its longest output.
- online (vLLM): requests enter the engine at their arrival times, either the trace's own gaps scaled to a rate
  or Poisson arrivals at a rate; the window includes the idle gaps between them, which is the point.
The vLLM engine's token budget per step (`max_num_batched_tokens`) is set explicitly and recorded, so the
simulator that predicts the replay schedules with the same budget.
An offline replay is warmed up on its request set, then measured `repetitions` times; an online one is
measured without a warm-up of its own (it would take the whole arrival span).
A trace with prefix blocks (Mooncake's `hash_ids`) is replayed with prompts built from its blocks, so requests
share exactly the prefixes they share in the trace (energy_predict/prefix.py); with prefix caching on, the
cache is emptied before every measured run (outside the window), so each run sees the trace's reuse, not the
previous run's, and the engine's own hit counters are read around each run.

One command is one engine configuration and its replays (`plan_replays`). Here they run one after another
on one engine (`run_replays`); over Ray (`run_replays_on_ray`) each replay is an actor that loads its own
engine on `tensor_parallel` GPUs of one node, so the replays of one command run side by side, and each
record is written on the driver as it comes back, with the node, GPUs and versions it ran with.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.architectures import Architecture
from energy_predict.calibrate.backends.base import Backend, make_backend
from energy_predict.calibrate.environment import host_info, now_iso
from energy_predict.calibrate.fanout import (
    _cause,
    _check_fits,
    _connect,
    _worker_died,
    claim_gpus,
    import_ray,
    wait_until_empty,
    worker_provenance,
)
from energy_predict.calibrate.grid import ServingConfig
from energy_predict.calibrate.meter import measure_idle_w, open_meter
from energy_predict.prefix import BLOCK_TOKENS, block_prompt, clip_blocks, conversation_rows, trace_hit_rate

_REQUEST_IDS = itertools.count()  # unique across every replay of the process


@dataclass(frozen=True)
class ReplaySet:
    """Requests to replay: lengths, arrival times (s, from 0) and, from a Mooncake trace, prefix block ids."""

    trace: str
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    arrival_s: np.ndarray
    hash_ids: tuple[tuple[int, ...], ...] | None = None  # per request, cut with its prompt (clip_blocks)

    @property
    def hit_rate(self) -> float | None:
        """Share of prompt tokens in blocks seen earlier in arrival order (None without block ids)."""
        if self.hash_ids is None:
            return None
        return trace_hit_rate(self.hash_ids, self.input_tokens, arrival_s=self.arrival_s)

    def scaled_to_rate(self, rate_per_s: float) -> ReplaySet:
        """The same requests with arrival gaps scaled so the mean rate is `rate_per_s`."""
        span = float(self.arrival_s.max() - self.arrival_s.min())
        if span <= 0 or rate_per_s <= 0:
            raise ValueError("need distinct arrival times and a positive rate")
        factor = (len(self.arrival_s) / rate_per_s) / span
        arrivals = (self.arrival_s - self.arrival_s.min()) * factor
        return replace(self, arrival_s=arrivals)

    def poisson(self, rate_per_s: float, seed: int = 0) -> ReplaySet:
        """The same requests (lengths, order) arriving as a Poisson process at `rate_per_s`."""
        from energy_predict.arrivals import poisson_arrivals

        if rate_per_s <= 0:
            raise ValueError("need a positive rate")
        arrivals = poisson_arrivals(len(self.input_tokens), rate_per_s, seed)
        return replace(self, arrival_s=arrivals)


SAMPLES = ("window", "conversations")


def sample_requests(frame: pd.DataFrame, n: int, seed: int, trace: str, max_input: int, max_output: int,
                    sample: str = "window") -> ReplaySet:
    """`n` requests from a random offset, in arrival order (their gaps kept); lengths clipped.

    `window`: a contiguous window. `conversations` (traces with block ids): whole conversations as they first
    appear from the offset (prefix.conversation_rows), so later turns reuse earlier ones as in the trace.
    A prompt with block ids is clipped by whole trailing blocks (prefix.clip_blocks); one without, to `max_input`.
    """
    if sample not in SAMPLES:
        raise ValueError(f"sample must be one of {SAMPLES}")
    blocks = "hash_ids" in frame.columns
    if sample == "conversations" and not blocks:
        raise ValueError("sampling conversations needs a trace with prefix block ids (hash_ids)")
    rng = np.random.default_rng(seed)
    start = int(rng.integers(0, max(len(frame) - n, 0) + 1))
    if sample == "conversations":
        window = frame.iloc[conversation_rows(list(frame["hash_ids"]), start, n)]
    else:
        window = frame.iloc[start:start + n]
    arrivals = window["arrival_s"].to_numpy(float)
    arrivals = arrivals - np.nanmin(arrivals) if np.isfinite(arrivals).all() else np.zeros(len(window))
    outputs = np.clip(window["output_tokens"].to_numpy(), 1, max_output)
    if not blocks:
        return ReplaySet(trace, np.clip(window["input_tokens"].to_numpy(), 1, max_input), outputs, arrivals)
    cut = [clip_blocks(ids, int(i), max_input) if i > 0 else ((2**63 + int(row),), 1)  # an empty prompt: 1 token
           for row, ids, i in zip(window.index, window["hash_ids"], window["input_tokens"])]
    return ReplaySet(trace, np.array([i for _, i in cut], dtype=np.int64), outputs, arrivals,
                     tuple(ids for ids, _ in cut))


def replay_prompts(reqs: ReplaySet, vocab_size: int) -> list[list[int]]:
    """Token ids of each request: built from its blocks when the trace has them, else random and distinct."""
    if reqs.hash_ids is None:
        rng = np.random.default_rng(0)
        return [rng.integers(3, vocab_size - 1, int(n)).tolist() for n in reqs.input_tokens]
    cache: dict[int, np.ndarray] = {}
    return [block_prompt(ids, int(n), vocab_size, cache=cache) for ids, n in zip(reqs.hash_ids, reqs.input_tokens)]


def counter_delta(before: dict, after: dict) -> dict:
    """Prefix-cache queries and hits (tokens) between two counter readings, with the hit rate; None + reason."""
    reason = before.get("null_reason") or after.get("null_reason")
    if not reason:
        queries = after["queries_tokens"] - before["queries_tokens"]
        hits = after["hits_tokens"] - before["hits_tokens"]
        if queries < 0 or hits < 0:
            reason = "the engine's prefix-cache counters went backwards (reset)"
    if reason:
        return {"queries_tokens": None, "hits_tokens": None, "hit_rate": None, "null_reason": reason}
    return {"queries_tokens": queries, "hits_tokens": hits, "hit_rate": hits / queries if queries else None,
            "null_reason": None}


def hf_batches(n: int, batch_size: int) -> list[list[int]]:
    """Arrival-order batches of request indices."""
    return [list(range(k, min(k + batch_size, n))) for k in range(0, n, batch_size)]


def _measure(meter, fn: Callable[[], None]) -> dict:
    meter.start()
    fn()
    r = meter.stop()
    return {"energy_j": r.energy_j, "duration_s": r.duration_s, "mean_power_w": r.mean_power_w,
            "max_power_w": r.max_power_w, "sensor": r.sensor, "null_reason": r.null_reason,
            "sampled_energy_j": r.sampled_energy_j, "sm_clock_mhz": r.sm_clock_mhz}


def hf_offline_runner(backend, reqs: ReplaySet, batch_size: int) -> Callable[[], None]:
    """Fixed batches, left-padded to the batch's longest input, generating the batch's longest output."""
    torch = backend.torch
    model = backend.model
    plans = []
    for idx in hf_batches(len(reqs.input_tokens), batch_size):
        lengths = reqs.input_tokens[idx]
        width = int(lengths.max())
        ids = torch.zeros((len(idx), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        gen = torch.Generator().manual_seed(int(idx[0]))
        for row, n in enumerate(lengths):
            ids[row, width - n:] = torch.randint(3, backend.vocab_size - 1, (int(n),), generator=gen)
            mask[row, width - n:] = 1
        o = int(reqs.output_tokens[idx].max())
        plans.append((ids.to(backend.device), mask.to(backend.device), o))

    def run() -> None:
        with torch.inference_mode():
            for ids, mask, o in plans:
                model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=o, min_new_tokens=o,
                               pad_token_id=0, eos_token_id=2, do_sample=False, disable_compile=True)
        backend.synchronize()

    return run


def vllm_runners(backend, reqs: ReplaySet) -> tuple[Callable[[], None], Callable[[], None]]:
    """(offline, online) runs of the request set on a loaded vLLM backend."""
    from vllm import SamplingParams

    prompts = [{"prompt_token_ids": ids} for ids in replay_prompts(reqs, backend.vocab_size)]
    params = [SamplingParams(temperature=0.0, ignore_eos=True, min_tokens=int(o), max_tokens=int(o), detokenize=False)
              for o in reqs.output_tokens]
    llm = backend.llm

    def offline() -> None:
        llm.generate(prompts, params, use_tqdm=False)

    def online() -> None:
        engine = llm.llm_engine
        order = np.argsort(reqs.arrival_s, kind="stable")
        t0 = time.perf_counter()
        k = 0
        while k < len(order) or engine.has_unfinished_requests():
            now = time.perf_counter() - t0
            while k < len(order) and reqs.arrival_s[order[k]] <= now:
                j = int(order[k])
                engine.add_request(f"r{next(_REQUEST_IDS)}", prompts[j], params[j])
                k += 1
            if engine.has_unfinished_requests():
                engine.step()
            elif k < len(order):
                time.sleep(min(max(reqs.arrival_s[order[k]] - now, 0.0), 0.05))

    return offline, online


def measure_replay(name: str, meter, run: Callable[[], None], reqs: ReplaySet, arch: Architecture, meta: dict,
                   repetitions: int = 2, warmup: bool = True, idle_s: float = 3.0,
                   reset: Callable[[], None] | None = None, counters: Callable[[], dict] | None = None) -> dict:
    """Measure the loaded idle power, warm up, measure `repetitions` runs: the replay's record (not written).

    `reset` (emptying the prefix cache) runs before each measured run and `counters` (the engine's prefix-cache
    counters) around it, both outside the window.
    """
    idle = measure_idle_w(meter, idle_s)
    if warmup:
        run()
    runs = []
    for _ in range(repetitions):
        if reset:
            reset()
        before = counters() if counters else None
        result = _measure(meter, run)
        if counters:
            result["prefix_cache"] = counter_delta(before, counters())
        runs.append(result)
    requests = {"input_tokens": reqs.input_tokens.tolist(), "output_tokens": reqs.output_tokens.tolist(),
                "arrival_s": [round(float(a), 4) for a in reqs.arrival_s]}
    if reqs.hash_ids is not None:
        requests["hash_ids"] = [list(ids) for ids in reqs.hash_ids]
    return {
        "name": name, "trace": reqs.trace, "model": arch.name, "taken": now_iso(), "host": host_info(),
        "loaded_idle_power_w": idle, "runs": runs, **meta,
        "trace_block_tokens": BLOCK_TOKENS if reqs.hash_ids is not None else None,
        "trace_hit_rate": reqs.hit_rate, "requests": requests,
    }


def write_replay(out_dir: Path, result: dict) -> Path:
    """Write a replay's record as `<name>.json` under `out_dir`, whole or not at all (a temporary file renamed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{result['name']}.json"
    partial = out_dir / f".{result['name']}.json.partial"
    partial.write_text(json.dumps(result))
    os.replace(partial, path)
    return path


@dataclass(frozen=True, eq=False)
class ReplayUnit:
    """One replay of a plan: its record's name, its mode, the requests as it replays them and, online, its rate."""

    name: str
    mode: str  # "offline" | "online"
    reqs: ReplaySet  # offline: the sampled requests; online: the same requests arriving at the rate
    rate_per_s: float | None = None
    arrivals: str | None = None  # online: "trace" (the trace's gaps scaled) | "poisson"

    def describe(self, backend: str) -> str:
        if self.mode == "offline":
            return f"{backend} offline"
        return f"{backend} online {self.rate_per_s} req/s ({self.arrivals} arrivals)"


@dataclass(frozen=True, eq=False)
class ReplayPlan:
    """What one `replay` command measures: one engine configuration and the replays of its sampled requests."""

    arch: Architecture
    config: ServingConfig
    units: tuple[ReplayUnit, ...]
    seed: int
    n: int
    batch_size: int
    repetitions: int
    sample: str = "window"  # how the requests were drawn (sample_requests)

    def unit_meta(self, unit: ReplayUnit) -> dict:
        """What a unit's record says of how it was replayed."""
        common = {"sample": self.sample, "prefix_caching": self.config.enable_prefix_caching}
        if self.config.backend == "hf":
            return {"mode": "offline", "batch_size": self.batch_size, "batches": hf_batches(self.n, self.batch_size),
                    **common}
        if unit.mode == "offline":
            return {"mode": "offline", **common}
        return {"mode": "online", "rate_per_s": unit.rate_per_s, "arrivals": unit.arrivals, **common}


DEFAULT_MAX_INPUT = 8192  # tokens: Azure prompts (p99 7436 code, 4142 conv) are rarely cut
# Mooncake prompts are cut to 32 whole blocks: 23% of them are longer (p50 6909, p90 27367). A replay of 80
# requests then holds ~0.65-0.75 M prompt tokens (~1 min of prefill for an 8B model on one H100) and fits
# max_model_len 16384 + 1024 + 16; 32768 would keep more of the long tail but cost ~25% more tokens a run
# and a KV cache of ~2x the longest sequence (8B: 128 KiB a token, 4.3 GiB for one 32k prompt).
DEFAULT_MAX_INPUT_BLOCKS = 32 * BLOCK_TOKENS


def plan_replays(trace_path: Path, *, backend_name: str, model: str, n: int, seed: int, modes: list[str],
                 rates: list[float], batch_size: int, cuda_graphs: bool, repetitions: int, max_input: int | None,
                 max_output: int, poisson_rates: tuple[float, ...] = (), max_num_seqs: int = 256,
                 max_num_batched_tokens: int = 8192, tensor_parallel: int = 1, prefix_caching: bool = False,
                 sample: str = "window", trace_format: str | None = None, time_unit: str | None = None,
                 tokenizer: str | None = None) -> ReplayPlan:
    """Sample the trace's requests and list the replays: HF offline; vLLM offline, then each online rate.

    `max_input` None: DEFAULT_MAX_INPUT, or DEFAULT_MAX_INPUT_BLOCKS for a trace with prefix blocks. vLLM logs
    stats (for its prefix-cache counters) when caching is on or the trace has blocks, so a Mooncake replay with
    caching off runs the same engine apart from the cache.
    """
    from energy_predict.architectures import resolve_architecture
    from energy_predict.errors import InputError
    from energy_predict.traces import read_trace

    if backend_name == "hf" and "online" in modes:
        raise InputError("--modes", "online replay needs a serving engine", "use --backend vllm for online")
    if backend_name == "hf" and tensor_parallel > 1:
        raise InputError("--tensor-parallel", "HF generate runs on one GPU", "use --backend vllm for TP > 1")
    if backend_name == "hf" and prefix_caching:
        raise InputError("--prefix-caching", "HF generate has no prefix cache", "use --backend vllm")
    if sample not in SAMPLES:
        raise InputError("--sample", f"unknown sample {sample!r}", f"use one of {', '.join(SAMPLES)}")
    arch = resolve_architecture(model)
    frame = read_trace(trace_path, trace_format, time_unit=time_unit, tokenizer=tokenizer)
    blocks = "hash_ids" in frame.columns
    if sample == "conversations" and not blocks:
        raise InputError("--sample", "conversations need a trace with prefix block ids (hash_ids, as Mooncake's)",
                         "use --sample window for this trace")
    if max_input is None:
        max_input = DEFAULT_MAX_INPUT_BLOCKS if blocks else DEFAULT_MAX_INPUT
    if max_input < (BLOCK_TOKENS if blocks else 1):
        raise InputError("--max-input", f"{max_input} tokens is less than one "
                         + (f"{BLOCK_TOKENS}-token block of the trace" if blocks else "token"),
                         f"give at least {BLOCK_TOKENS if blocks else 1}")
    reqs = sample_requests(frame, n, seed, trace_path.name, max_input, max_output, sample)
    config = ServingConfig(name=f"{backend_name}-replay", backend=backend_name, cuda_graphs=cuda_graphs,
                           max_num_seqs=max_num_seqs, max_model_len=max_input + max_output + 16,
                           tensor_parallel=tensor_parallel,
                           **({"max_num_batched_tokens": max_num_batched_tokens, "enable_chunked_prefill": True,
                               "enable_prefix_caching": prefix_caching, "log_stats": prefix_caching or blocks}
                              if backend_name == "vllm" else {}))
    stem = f"{backend_name}-{Path(trace_path).stem}" + ("-conversations" if sample == "conversations" else "") \
        + ("-prefix-caching" if prefix_caching else "")  # caching on and off can share one --out
    units = [ReplayUnit(f"{stem}-offline", "offline", reqs)] if backend_name == "hf" or "offline" in modes else []
    if backend_name == "vllm" and "online" in modes:
        units += [ReplayUnit(f"{stem}-online-{r:g}", "online", reqs.scaled_to_rate(r), r, "trace") for r in rates]
        units += [ReplayUnit(f"{stem}-poisson-{r:g}", "online", reqs.poisson(r, seed), r, "poisson")
                  for r in poisson_rates]
    return ReplayPlan(arch, config, tuple(units), seed, len(reqs.input_tokens), batch_size, repetitions, sample)


def replay_runner(backend, plan: ReplayPlan, unit: ReplayUnit) -> Callable[[], None]:
    """The run a unit measures on a loaded engine: HF fixed batches, vLLM all at once or at arrival times."""
    if plan.config.backend == "hf":
        return hf_offline_runner(backend, unit.reqs, plan.batch_size)
    offline, online = vllm_runners(backend, unit.reqs)
    return offline if unit.mode == "offline" else online


RunnerFactory = Callable[[object, ReplayPlan, ReplayUnit], Callable[[], None]]


def open_engine(plan: ReplayPlan, gpus: tuple[int, ...], backend_factory: Callable[[str], Backend],
                meter_factory: Callable, idle_s: float = 3.0) -> tuple[Backend, object, dict]:
    """Meter the empty GPUs' idle power, then load the plan's engine: (backend, meter, the records' common part)."""
    backend = backend_factory(plan.config.backend)
    meter = meter_factory(gpus)
    if hasattr(meter, "sync"):
        meter.sync = backend.synchronize
    empty_idle = measure_idle_w(meter, idle_s)
    backend.load(plan.arch, plan.config)
    meta = {"backend": plan.config.backend, "config": plan.config.model_dump(), "versions": backend.versions(),
            "meter": meter.describe(), "empty_idle_power_w": empty_idle, "seed": plan.seed, "n": plan.n}
    return backend, meter, meta


def replay_unit(backend, meter, plan: ReplayPlan, unit: ReplayUnit, meta: dict, *,
                runner_factory: RunnerFactory = replay_runner, idle_s: float = 3.0) -> dict:
    """One replay on a loaded engine: its record. Online replays are not warmed up (a warm-up takes the span)."""
    run = runner_factory(backend, plan, unit)
    reset, counters = prefix_hooks(backend, plan)
    return measure_replay(unit.name, meter, run, unit.reqs, plan.arch, {**meta, **plan.unit_meta(unit)},
                          plan.repetitions, warmup=unit.mode == "offline", idle_s=idle_s, reset=reset,
                          counters=counters)


def prefix_hooks(backend, plan: ReplayPlan) -> tuple[Callable[[], None] | None, Callable[[], dict] | None]:
    """(empty the prefix cache, read its counters) for a vLLM engine; a backend without them reads as null."""
    if plan.config.backend != "vllm":
        return None, None
    reset = backend.reset_prefix_cache if plan.config.enable_prefix_caching else None
    counters = getattr(backend, "prefix_cache_counters", None) or (
        lambda: {"null_reason": f"the {type(backend).__name__} backend exposes no prefix-cache counters"})
    return reset, counters


def run_replays(plan: ReplayPlan, out_dir: Path, *, gpus: tuple[int, ...],
                backend_factory: Callable[[str], Backend] = make_backend, meter_factory: Callable = open_meter,
                runner_factory: RunnerFactory = replay_runner, idle_s: float = 3.0,
                on_step: Callable[[str], None] | None = None) -> list[dict]:
    """Load one engine on this machine, then run the plan's replays one after another, each written as it ends."""
    backend, meter, meta = open_engine(plan, gpus, backend_factory, meter_factory, idle_s)
    results = []
    for unit in plan.units:
        if on_step:
            on_step(unit.describe(plan.config.backend))
        result = replay_unit(backend, meter, plan, unit, meta, runner_factory=runner_factory, idle_s=idle_s)
        write_replay(out_dir, result)
        results.append(result)
    backend.close()
    return results


MAX_ATTEMPTS = 2  # a replay whose worker died is tried once more, on a new worker


class ReplayWorker:
    """One replay on the GPUs Ray gave this process: its own engine, loaded, replayed, metered, closed.

    A plain class: `run_replays_on_ray` makes it a Ray actor, one per replay, ended once the record is back.
    """

    def __init__(self, plan: ReplayPlan, unit: ReplayUnit, backend_factory: Callable[[str], Backend],
                 meter_factory: Callable, runner_factory: RunnerFactory, idle_s: float) -> None:
        self.plan, self.unit = plan, unit
        self.backend_factory, self.meter_factory, self.runner_factory = backend_factory, meter_factory, runner_factory
        self.idle_s = idle_s

    def replay(self, gpu_indices: tuple[int, ...] | None = None) -> dict:
        """The unit's record, with where it ran.

        Online, the fresh engine first serves the requests once offline, unmeasured: the local command's
        online replays follow its offline replay on one engine, and a first online run would pay the
        engine's first-use costs inside the window.
        """
        gpus = claim_gpus(gpu_indices)
        waited_s = wait_until_empty(gpus)
        backend, meter, meta = open_engine(self.plan, gpus, self.backend_factory, self.meter_factory, self.idle_s)
        try:
            if self.unit.mode == "online":
                self.runner_factory(backend, self.plan, ReplayUnit(self.unit.name, "offline", self.unit.reqs))()
                meta["engine_warmup"] = "offline"
            result = replay_unit(backend, meter, self.plan, self.unit, meta, runner_factory=self.runner_factory,
                                 idle_s=self.idle_s)
        finally:
            backend.close()
        provenance, _ = worker_provenance(gpus, meta["meter"], meta["versions"])
        return {**result, **provenance, "waited_for_gpus_s": waited_s}


@dataclass
class ReplayOutcome:
    """How the replays of a Ray run ended: the records written (in the order they came back) and the rest."""

    written: list[dict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # replay name -> why it has no record


def run_replays_on_ray(plan: ReplayPlan, out_dir: Path, *, address: str | None = None,
                       backend_factory: Callable[[str], Backend] = make_backend, meter_factory: Callable = open_meter,
                       runner_factory: RunnerFactory = replay_runner, idle_s: float = 3.0,
                       max_attempts: int = MAX_ATTEMPTS, cpus_per_replay: float = 1,
                       on_step: Callable[[str], None] | None = None,
                       on_result: Callable[[dict], None] | None = None) -> ReplayOutcome:
    """Run each of the plan's replays as a Ray actor on `tensor_parallel` GPUs of one node, side by side.

    Each replay loads its own engine. Its record is written under `out_dir` as it comes back, so a driver
    that dies loses only the replays still running (their actors end with it). A replay whose worker died
    is run again on a new worker, up to `max_attempts` tries; one that raised is not (it would again).
    """
    ray = import_ray()
    outcome = ReplayOutcome()
    running: dict = {}  # object ref -> (unit, actor, attempt)
    started_ray = _connect(ray, address)
    try:
        _check_fits(ray, [plan], fix="lower --tensor-parallel")
        worker_class = ray.remote(ReplayWorker)

        def launch(unit: ReplayUnit, attempt: int) -> None:
            actor = worker_class.options(num_gpus=plan.config.tensor_parallel, num_cpus=cpus_per_replay,
                                         max_restarts=0).remote(plan, unit, backend_factory, meter_factory,
                                                                runner_factory, idle_s)
            running[actor.replay.remote()] = (unit, actor, attempt)

        if on_step:
            on_step(f"{len(plan.units)} replay(s) on Ray, each its own engine on "
                    f"{plan.config.tensor_parallel} GPU(s): {', '.join(u.name for u in plan.units)}")
        for unit in plan.units:
            launch(unit, 1)
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            unit, actor, attempt = running.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a dead worker is retried; any other error is the replay's
                ray.kill(actor)
                died = _worker_died(ray, exc)
                if died and attempt < max_attempts:
                    if on_step:
                        on_step(f"{unit.name}: the worker died ({_cause(exc)}); again on a new worker")
                    launch(unit, attempt + 1)
                else:
                    outcome.failed[unit.name] = (f"the worker died {attempt} time(s): " if died else "") + _cause(exc)
                continue
            ray.kill(actor)  # its engine's processes go with it, and its GPUs to the next replay
            result["runner"] = {"kind": "ray", "address": address or "local", "ray": ray.__version__,
                                "attempt": attempt}
            write_replay(out_dir, result)
            outcome.written.append(result)
            if on_result:
                on_result(result)
    finally:
        for _, actor, _ in running.values():
            ray.kill(actor)
        if started_ray:
            ray.shutdown()
    return outcome

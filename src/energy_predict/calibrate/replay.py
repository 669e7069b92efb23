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
on one engine (`run_replays`); over Ray (`run_replays_on_ray`, on the pool calibration campaigns use) each
replay is an actor that loads its own engine on `tensor_parallel` GPUs of one node, so the replays of one
command run side by side, and each record is written on the driver as it comes back, with the node, GPUs and
versions it ran with. The engine's work goes through the backend's verbs (`prepare_batch`, `prepare_serve`):
a replay never reaches into an engine. Records are `contracts.records.ReplayRecord`s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energy_predict.architectures import Architecture
from energy_predict.calibrate.backends.base import Backend, make_backend
from energy_predict.calibrate.environment import host_info, now_iso
from energy_predict.calibrate.grid import ServingConfig
from energy_predict.calibrate.meter import Meter, Reading, measure, measure_idle, open_meter
from energy_predict.calibrate.pool import (
    Call,
    Pool,
    cause,
    check_fits,
    claim_gpus,
    ray_session,
    wait_until_empty,
    worker_placement,
)
from energy_predict.calibrate.trace_requests import SAMPLES, ReplaySet, replay_requests, sample_requests
from energy_predict.contracts.records import (
    HostInfo,
    MeterInfo,
    PrefixCacheCounts,
    ReplayRecord,
    ReplayRequests,
    ReplayRun,
    RunnerInfo,
)
from energy_predict.prefix import BLOCK_TOKENS


def counter_delta(before: dict, after: dict) -> PrefixCacheCounts:
    """Prefix-cache queries and hits (tokens) between two counter readings, with the hit rate; None + reason."""
    reason = before.get("null_reason") or after.get("null_reason")
    if not reason:
        queries = after["queries_tokens"] - before["queries_tokens"]
        hits = after["hits_tokens"] - before["hits_tokens"]
        if queries < 0 or hits < 0:
            reason = "the engine's prefix-cache counters went backwards (reset)"
    if reason:
        return PrefixCacheCounts(queries_tokens=None, hits_tokens=None, hit_rate=None, null_reason=reason)
    return PrefixCacheCounts(queries_tokens=queries, hits_tokens=hits, hit_rate=hits / queries if queries else None,
                             null_reason=None)


def hf_batches(n: int, batch_size: int) -> list[list[int]]:
    """Arrival-order batches of request indices."""
    return [list(range(k, min(k + batch_size, n))) for k in range(0, n, batch_size)]


def replay_run(r: Reading) -> ReplayRun:
    """A replay record's run from a window's reading."""
    return ReplayRun(energy_j=r.energy_j, duration_s=r.duration_s, mean_power_w=r.mean_power_w,
                     max_power_w=r.max_power_w, sensor=r.sensor, null_reason=r.null_reason,
                     sampled_energy_j=r.sampled_energy_j, sm_clock_mhz=r.sm_clock_mhz)


@dataclass(frozen=True)
class LoadedEngine:
    """A replay's engine as loaded, for its records: config, versions, meter, the empty GPUs' idle power."""

    backend: str
    config: dict[str, Any]
    versions: dict[str, str]
    meter: MeterInfo
    empty_idle_power_w: float | None


def measure_replay(name: str, meter: Meter, run: Callable[[], None], reqs: ReplaySet, arch: Architecture,
                   fields: dict[str, Any], repetitions: int = 2, warmup: bool = True, idle_s: float = 3.0,
                   reset: Callable[[], None] | None = None, counters: Callable[[], dict] | None = None
                   ) -> ReplayRecord:
    """Measure the loaded idle power, warm up, measure `repetitions` runs: the replay's record (not written).

    `fields` are the record's fields that say how it was replayed (engine, mode, seed). `reset` (emptying the
    prefix cache) runs before each measured run and `counters` (the engine's prefix-cache counters) around it,
    both outside the window.
    """
    idle = measure_idle(meter, idle_s).total_w
    if warmup:
        run()
    runs = []
    for _ in range(repetitions):
        if reset:
            reset()
        before = counters() if counters else None
        result = replay_run(measure(meter, run))
        if counters:
            result = result.model_copy(update={"prefix_cache": counter_delta(before, counters())})
        runs.append(result)
    requests = ReplayRequests(input_tokens=reqs.input_tokens.tolist(), output_tokens=reqs.output_tokens.tolist(),
                              arrival_s=[round(float(a), 4) for a in reqs.arrival_s],
                              **({"hash_ids": [list(ids) for ids in reqs.hash_ids]} if reqs.hash_ids is not None
                                 else {}))
    return ReplayRecord(
        name=name, trace=reqs.trace, model=arch.name, taken=now_iso(), host=HostInfo.model_validate(host_info()),
        loaded_idle_power_w=idle, runs=runs, warmed_up=warmup, **fields,
        trace_block_tokens=BLOCK_TOKENS if reqs.hash_ids is not None else None,
        trace_hit_rate=reqs.hit_rate, requests=requests,
    )


def write_replay(out_dir: Path, record: ReplayRecord) -> Path:
    """Write a replay's record as `<name>.json` under `out_dir`, whole or not at all (a temporary file renamed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{record.name}.json"
    partial = out_dir / f".{record.name}.json.partial"
    partial.write_text(json.dumps(record.to_json()))
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
        common = {"sample": self.sample, "prefix_caching": self.config.prefix_caching}
        if self.config.framework == "hf":
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
                 tokenizer: str | None = None, serving: ServingConfig | None = None) -> ReplayPlan:
    """Sample the trace's requests and list the replays: HF offline; vLLM offline, then each online rate.

    `max_input` None: DEFAULT_MAX_INPUT, or DEFAULT_MAX_INPUT_BLOCKS for a trace with prefix blocks. vLLM logs
    stats (for its prefix-cache counters) when caching is on or the trace has blocks, so a Mooncake replay with
    caching off runs the same engine apart from the cache.

    `serving` (`replay --serving FILE`): the engine configuration as a grid writes it (precision, batch cap,
    speculative decoding, ...), in place of the one built from `cuda_graphs`, `max_num_seqs`,
    `max_num_batched_tokens`, `tensor_parallel` and `prefix_caching` (which are then ignored). Its context length is
    still set from the sample, its token budget to `max_num_batched_tokens` where it gives none (so the record says
    the budget the engine ran), and its name is in every record's name, so several configs share one --out.
    """
    from energy_predict.architectures import resolve_architecture
    from energy_predict.errors import InputError
    from energy_predict.traces import read_trace

    if serving is not None:
        if serving.framework != backend_name:
            raise InputError("--serving", f"the config's framework is {serving.framework!r} but --backend is "
                             f"{backend_name!r}", f"give --backend {serving.framework} or change the config")
        tensor_parallel, prefix_caching = serving.tensor_parallel, serving.prefix_caching
    if backend_name == "hf" and "online" in modes:
        raise InputError("--modes", "online replay needs a serving engine", "use --backend vllm for online")
    if backend_name == "hf" and tensor_parallel > 1:
        raise InputError("--tp", "HF generate runs on one GPU", "use --backend vllm for TP > 1")
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
    vllm = backend_name == "vllm"
    max_model_len = max_input + max_output + 16
    stem = f"{backend_name}-{Path(trace_path).stem}" + ("-conversations" if sample == "conversations" else "")
    if serving is None:
        config = ServingConfig(name=f"{backend_name}-replay", framework=backend_name, cuda_graphs=cuda_graphs,
                               max_batch=max_num_seqs, tensor_parallel=tensor_parallel,
                               **({"max_num_batched_tokens": max_num_batched_tokens,
                                   "prefix_caching": prefix_caching} if vllm else {}),
                               engine={"max_model_len": max_model_len,
                                       **({"enable_chunked_prefill": True, "log_stats": prefix_caching or blocks}
                                          if vllm else {})})
        stem += "-prefix-caching" if prefix_caching else ""  # caching on and off can share one --out
    else:
        config = served_config(serving, max_model_len, max_num_batched_tokens, blocks)
        stem += f"-{config.name}"  # the configs of one validation share one --out
    units = [ReplayUnit(f"{stem}-offline", "offline", reqs)] if backend_name == "hf" or "offline" in modes else []
    if backend_name == "vllm" and "online" in modes:
        units += [ReplayUnit(f"{stem}-online-{r:g}", "online", reqs.scaled_to_rate(r), r, "trace") for r in rates]
        units += [ReplayUnit(f"{stem}-poisson-{r:g}", "online", reqs.poisson(r, seed), r, "poisson")
                  for r in poisson_rates]
    return ReplayPlan(arch, config, tuple(units), seed, len(reqs.input_tokens), batch_size, repetitions, sample)


def served_config(serving: ServingConfig, max_model_len: int, max_num_batched_tokens: int, blocks: bool
                  ) -> ServingConfig:
    """A `--serving` config as a replay loads it: context from the sample, an explicit token budget (vLLM).

    vLLM also prefills in chunks (as every replay does) and logs stats where its counters are read: prefix caching
    on, a trace with prefix blocks, or speculative decoding.
    """
    engine = {"max_model_len": max_model_len}
    update: dict[str, Any] = {}
    if serving.framework == "vllm":
        engine["log_stats"] = serving.engine.log_stats or serving.prefix_caching or blocks or bool(serving.speculative)
        if serving.engine.enable_chunked_prefill is None:
            engine["enable_chunked_prefill"] = True
        if serving.max_num_batched_tokens is None:
            update["max_num_batched_tokens"] = max_num_batched_tokens
    return serving.model_copy(update={**update, "engine": serving.engine.model_copy(update=engine)})


def replay_runner(backend: Backend, plan: ReplayPlan, unit: ReplayUnit) -> Callable[[], None]:
    """The run a unit measures on a loaded engine: HF fixed batches, vLLM all at once or at arrival times."""
    requests = replay_requests(unit.reqs, plan.arch.vocab_size)
    if plan.config.framework == "hf":
        batches = [backend.prepare_batch([requests[i] for i in idx]) for idx in hf_batches(len(requests),
                                                                                          plan.batch_size)]

        def run() -> None:
            for batch in batches:
                batch()
            backend.synchronize()

        return run
    if unit.mode == "offline":
        return backend.prepare_batch(requests)
    return backend.prepare_serve(requests, unit.reqs.arrival_s)


RunnerFactory = Callable[[Backend, ReplayPlan, ReplayUnit], Callable[[], None]]


def open_engine(plan: ReplayPlan, gpus: tuple[int, ...], backend_factory: Callable[[str], Backend],
                meter_factory: Callable, idle_s: float = 3.0) -> tuple[Backend, Meter, LoadedEngine]:
    """Meter the empty GPUs' idle power, then load the plan's engine: (backend, its meter, what the records say)."""
    backend = backend_factory(plan.config.framework)
    meter = meter_factory(gpus).synced(backend.synchronize)
    empty_idle = measure_idle(meter, idle_s).total_w
    backend.load(plan.arch, plan.config)
    engine = LoadedEngine(backend=plan.config.framework, config=plan.config.model_dump(), versions=backend.versions(),
                          meter=meter.describe(), empty_idle_power_w=empty_idle)
    return backend, meter, engine


def replay_unit(backend: Backend, meter: Meter, plan: ReplayPlan, unit: ReplayUnit, engine: LoadedEngine, *,
                runner_factory: RunnerFactory = replay_runner, idle_s: float = 3.0, **more: Any) -> ReplayRecord:
    """One replay on a loaded engine: its record. Online replays are not warmed up (a warm-up takes the span)."""
    run = runner_factory(backend, plan, unit)
    reset, counters = prefix_hooks(backend, plan)
    fields = {"backend": engine.backend, "config": engine.config, "versions": engine.versions, "meter": engine.meter,
              "empty_idle_power_w": engine.empty_idle_power_w, "seed": plan.seed, "n": plan.n, **more,
              **plan.unit_meta(unit)}
    return measure_replay(unit.name, meter, run, unit.reqs, plan.arch, fields, plan.repetitions,
                          warmup=unit.mode == "offline", idle_s=idle_s, reset=reset, counters=counters)


def prefix_hooks(backend: Backend, plan: ReplayPlan) -> tuple[Callable[[], None] | None, Callable[[], dict] | None]:
    """(empty the prefix cache, read its counters) for a vLLM engine; a backend without them reads as null."""
    if plan.config.framework != "vllm":
        return None, None
    reset = backend.reset_prefix_cache if plan.config.prefix_caching else None
    counters = getattr(backend, "prefix_cache_counters", None) or (
        lambda: {"null_reason": f"the {type(backend).__name__} backend exposes no prefix-cache counters"})
    return reset, counters


def run_replays(plan: ReplayPlan, out_dir: Path, *, gpus: tuple[int, ...],
                backend_factory: Callable[[str], Backend] = make_backend, meter_factory: Callable = open_meter,
                runner_factory: RunnerFactory = replay_runner, idle_s: float = 3.0,
                on_step: Callable[[str], None] | None = None) -> list[ReplayRecord]:
    """Load one engine on this machine, then run the plan's replays one after another, each written as it ends.

    An offline replay warms the engine up (on its requests, before its measured runs); an online replay that no
    offline one preceded first has the engine serve its requests once offline, unmeasured (`engine_warmup`), as a
    Ray worker does: a fresh engine's first use of each batch shape costs far more than the next.
    """
    backend, meter, engine = open_engine(plan, gpus, backend_factory, meter_factory, idle_s)
    records = []
    warm = False
    for unit in plan.units:
        if on_step:
            on_step(unit.describe(plan.config.framework))
        more = {}
        if unit.mode == "online" and not warm:
            runner_factory(backend, plan, ReplayUnit(unit.name, "offline", unit.reqs))()
            more["engine_warmup"] = "offline"
        warm = True
        record = replay_unit(backend, meter, plan, unit, engine, runner_factory=runner_factory, idle_s=idle_s,
                             **more)
        write_replay(out_dir, record)
        records.append(record)
    backend.close()
    return records


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

    def replay(self, gpu_indices: tuple[int, ...] | None = None) -> ReplayRecord:
        """The unit's record, with where it ran.

        Online, the fresh engine first serves the requests once offline, unmeasured: the local command's
        online replays follow its offline replay on one engine, and a first online run would pay the
        engine's first-use costs inside the window.
        """
        gpus = claim_gpus(gpu_indices)
        waited_s = wait_until_empty(gpus)
        backend, meter, engine = open_engine(self.plan, gpus, self.backend_factory, self.meter_factory, self.idle_s)
        try:
            more = {}
            if self.unit.mode == "online":
                self.runner_factory(backend, self.plan, ReplayUnit(self.unit.name, "offline", self.unit.reqs))()
                more["engine_warmup"] = "offline"
            record = replay_unit(backend, meter, self.plan, self.unit, engine, runner_factory=self.runner_factory,
                                 idle_s=self.idle_s, **more)
        finally:
            backend.close()
        placement, _ = worker_placement(gpus, engine.meter, engine.versions)
        return record.model_copy(update={**placement.fields(), "waited_for_gpus_s": waited_s})


@dataclass
class ReplayOutcome:
    """How the replays of a Ray run ended: the records written (in the order they came back) and the rest."""

    written: list[ReplayRecord] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # replay name -> why it has no record


@dataclass(eq=False)
class ReplayJob:
    """The driver's side of one replay on the pool: one call, retried on a new worker if its worker dies."""

    unit: ReplayUnit
    num_gpus: int
    worker_args: tuple
    finish: Callable[[ReplayUnit, ReplayRecord, int], None]  # (unit, record, attempt): write it
    outcome: ReplayOutcome
    max_attempts: int
    on_step: Callable[[str], None] | None
    attempt: int = 0
    done: bool = False

    @property
    def name(self) -> str:
        return self.unit.name

    def actor(self) -> tuple[type, tuple]:
        self.attempt += 1
        self.done = False
        return ReplayWorker, self.worker_args

    def next_call(self) -> Call | None:
        return None if self.done else Call("replay")

    def returned(self, call: Call, result: ReplayRecord) -> None:
        self.done = True  # the worker is ended: its engine's processes go with it, and its GPUs to the next replay
        self.finish(self.unit, result, self.attempt)

    def raised(self, call: Call, exc: BaseException) -> None:
        self.done = True  # an error of the replay's own would come again: not retried
        self.outcome.failed[self.unit.name] = cause(exc)

    def died(self, call: Call, exc: BaseException) -> bool:
        if self.attempt < self.max_attempts:
            if self.on_step:
                self.on_step(f"{self.unit.name}: the worker died ({cause(exc)}); again on a new worker")
            return True
        self.outcome.failed[self.unit.name] = f"the worker died {self.attempt} time(s): {cause(exc)}"
        return False


def run_replays_on_ray(plan: ReplayPlan, out_dir: Path, *, address: str | None = None,
                       backend_factory: Callable[[str], Backend] = make_backend, meter_factory: Callable = open_meter,
                       runner_factory: RunnerFactory = replay_runner, idle_s: float = 3.0,
                       max_attempts: int = MAX_ATTEMPTS, cpus_per_replay: float = 1,
                       on_step: Callable[[str], None] | None = None,
                       on_result: Callable[[ReplayRecord], None] | None = None) -> ReplayOutcome:
    """Run each of the plan's replays as a Ray actor on `tensor_parallel` GPUs of one node, side by side.

    Each replay loads its own engine. Its record is written under `out_dir` as it comes back, so a driver
    that dies loses only the replays still running (their actors end with it). A replay whose worker died
    is run again on a new worker, up to `max_attempts` tries; one that raised is not (it would again).
    """
    outcome = ReplayOutcome()
    with ray_session(address) as ray:
        check_fits(ray, [(plan.config.name, plan.config.tensor_parallel)], "lower --tp")

        def finish(unit: ReplayUnit, record: ReplayRecord, attempt: int) -> None:
            record = record.model_copy(update={"runner": RunnerInfo(kind="ray", address=address or "local",
                                                                    ray=ray.__version__, attempt=attempt)})
            write_replay(out_dir, record)
            outcome.written.append(record)
            if on_result:
                on_result(record)

        if on_step:
            on_step(f"{len(plan.units)} replay(s) on Ray, each its own engine on "
                    f"{plan.config.tensor_parallel} GPU(s): {', '.join(u.name for u in plan.units)}")
        jobs = [ReplayJob(unit, plan.config.tensor_parallel,
                          (plan, unit, backend_factory, meter_factory, runner_factory, idle_s), finish, outcome,
                          max_attempts, on_step) for unit in plan.units]
        Pool(ray, cpus_per_replay).run(jobs)
    return outcome

"""What calibrate writes and model/ reads: calibration records, run metadata (run.json), replay records.

Each is a pydantic model with `extra="forbid"`, validated where it is read (`parse_*`): a field nobody declared,
a misspelt one or a wrong type is an InputError naming the file and the field, not a KeyError three modules
later. The on-disk formats are the ones every committed run was written in: fields that older runs lack are
optional here, and `to_json` writes only the fields that were given, so a field that was absent stays absent.
Units are in the names (`_j`, `_w`, `_s`, `_tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from energy_predict.errors import InputError

RunStatus = Literal["running", "complete", "incomplete", "failed", "interrupted", "stopped"]
RecordStatus = Literal["ok", "infeasible", "error"]
IDLE_BEFORE, IDLE_AFTER = "before", "after"  # run.json idle keys besides each engine's "loaded:<model>:<config>"


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """The JSON object as written: the fields that were given (a field never set stays absent).

        A field left at its default but changed in place since (a dict filled) counts as given.
        """
        for name, field in type(self).model_fields.items():
            if name not in self.model_fields_set and getattr(self, name) != field.get_default(
                    call_default_factory=True):
                self.model_fields_set.add(name)
        return self.model_dump(mode="json", exclude_unset=True)


_M = TypeVar("_M", bound=_Contract)


def _parse(model: type[_M], data: object, where: str, fix: str, option: str | None) -> _M:
    """`data` validated as `model`; InputError naming `where` (after `option`, the flag that named it) and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        problem = f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg'].lower()}"
        raise InputError(option, f"{where}: {problem}", fix) if option else InputError(where, problem, fix) from None


# -- provenance, shared by run.json and replay records -----------------------------------------------------------


class HostInfo(_Contract):
    """The machine and code a run ran with."""

    hostname: str
    python: str
    platform: str
    energy_predict: str
    commit: str | None = None


class GpuInfo(_Contract):
    """One metered GPU as NVML described it; None where NVML would not say."""

    index: int
    name: str | None = None
    uuid: str | None = None
    driver: str | None = None
    power_limit_w: float | None = None
    memory_bytes: int | None = None
    max_sm_clock_mhz: int | None = None
    max_mem_clock_mhz: int | None = None


class MeterInfo(_Contract):
    """The meter of a run: its sensor, its GPUs and, without a sensor, why."""

    sensor: str  # "nvml-energy-counter", "nvml-power-sampling" or "none" (fakes in tests name their own)
    gpus: list[GpuInfo] = []
    power_sampling: str | None = None  # "every 3 windows" (a cross-check beside the counter) or "every window"
    null_reason: str | None = None


class Lease(_Contract):
    """The GPU lease a committed run came from (written by the campaign's scripts, not by calibrate)."""

    kind: str
    gpus_busy_at_once: int
    campaign: str
    commit: str | None = None
    script: str | None = None
    card: str | None = None
    device: str | None = None
    note: str | None = None


class RunnerInfo(_Contract):
    """How a run was launched when not in-process: Ray, its address and version (a replay: its attempt)."""

    kind: Literal["ray"]
    address: str
    ray: str
    cluster_gpus: float | None = None
    attempt: int | None = None


# -- run.json ------------------------------------------------------------------------------------------------------


class RunOutcome(_Contract):
    """How the cells of a grid ended: measured (ok), infeasible, error, or not reached.

    `failed` is the calibration failing as a whole: no cell was measured, or a model or engine did not
    load. The CLI exits 1 for it, apart from exit 2 for bad input.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    cells: int
    ok: int
    infeasible: int
    error: int
    not_reached: int = 0
    load_error: str | None = None
    first_error: str | None = None  # one failed cell's error, as an example
    null_reason: str | None = None  # why there is no energy sensor, when there is none

    @property
    def failed(self) -> bool:
        return self.load_error is not None or (self.cells > 0 and self.ok == 0)

    def summary(self) -> str:
        """The counts, on one line."""
        line = f"{self.cells} cells: {self.ok} ok, {self.infeasible} infeasible, {self.error} error"
        return line + (f", {self.not_reached} not reached" if self.not_reached else "")

    def problem(self) -> str | None:
        """What went wrong and what to do, on one line; None when every cell was measured or infeasible."""
        if self.load_error:
            return f"{self.load_error}; the sweep stopped there ({self.summary()}); fix it and rerun with --resume"
        first = f" (first: {self.first_error})" if self.first_error else ""
        if self.failed:
            return (f"nothing was measured: {self.summary()}{first}; each cell's error is in records.jsonl"
                    if self.error else f"nothing was measured: {self.summary()}; no cell fits this GPU")
        if self.error:
            return f"{self.error} of {self.cells} cells failed{first}; rerun with --resume to retry them"
        return None


class WorkerInfo(_Contract):
    """One Ray worker of a campaign: where it ran, what it measured the empty GPUs at, and how it ended."""

    worker_id: str | None = None
    node: str | None = None
    ray_node_id: str | None = None
    gpu_indices: list[int] | None = None
    gpu_uuids: list[str | None] | None = None
    versions: dict[str, str] | None = None
    idle_before_w: float | None = None
    waited_for_gpus_s: float | None = None
    started: str
    died: str | None = None


class Superseded(_Contract):
    """Cells of a run measured again in a later run, which the training table keeps instead."""

    cells: list[tuple[int, int, int]]  # (batch, input tokens, output tokens)
    model: str
    config: str
    by: str
    why: str
    note: str | None = None


@dataclass(frozen=True)
class EngineKey:
    """One engine of a run: a model loaded under one of the run's serving configs (by its name in `configs`)."""

    model: str
    config: str

    @property
    def idle_key(self) -> str:
        """Its key in run.json's idle readings."""
        return f"loaded:{self.model}:{self.config}"

    @classmethod
    def from_idle_key(cls, key: str) -> EngineKey | None:
        """The engine an idle key names (None for "before" and "after")."""
        if not key.startswith("loaded:"):
            return None
        model, _, config = key[len("loaded:"):].rpartition(":")
        return cls(model, config)


@dataclass(frozen=True)
class IdlePower:
    """Mean power of doing nothing over a few seconds: the metered GPUs summed, and each (None without a sensor)."""

    total_w: float | None
    per_gpu_w: tuple[float, ...] | None = None


class RunMeta(_Contract):
    """run.json: what a calibration run measured with, its idle readings, and how it ended."""

    run_id: str
    grid: dict[str, Any]  # the grid as run (calibrate.grid.Grid validates grids)
    started: str
    command: str | None = None
    host: HostInfo
    meter: MeterInfo | None = None  # a Ray campaign's: its first worker's
    gpu: str | None = None  # the catalog name of the first metered GPU
    gpu_indices: list[int] | None = None
    configs: dict[str, dict[str, Any]] = {}  # config name -> the serving config as loaded, with its "versions"
    idle_power_w: dict[str, float | None] = {}  # "before", "after", "loaded:<model>:<config>" -> W, GPUs summed
    idle_power_per_gpu_w: dict[str, list[float] | None] = {}  # the same keys -> W of each GPU
    resumed: list[str] = []
    status: RunStatus
    finished: str | None = None
    outcome: RunOutcome | None = None
    workers: dict[str, list[WorkerInfo]] | None = None  # Ray: "<model>:<config>" -> its workers in turn
    runner: RunnerInfo | None = None
    lease: Lease | None = None
    note: str | None = None
    caveat: str | None = None
    superseded: Superseded | None = None
    import_note: str | None = None
    # why none of the run's cells are training data although it ran as planned (what it measured is not what its
    # model name stands for, e.g. routing that random weights collapse onto a few experts): a finding, kept on disk
    not_training: str | None = None

    def idle(self, key: str | EngineKey) -> IdlePower:
        """The idle reading under `key` ("before", "after" or an engine), None where it was not taken."""
        name = key.idle_key if isinstance(key, EngineKey) else key
        per_gpu = self.idle_power_per_gpu_w.get(name)
        return IdlePower(self.idle_power_w.get(name), tuple(per_gpu) if per_gpu is not None else None)

    def set_idle(self, key: str | EngineKey, reading: IdlePower, *, keep_first: bool = False) -> None:
        """Keep an idle reading under `key`; `keep_first` leaves one already there (a resumed run's "before")."""
        name = key.idle_key if isinstance(key, EngineKey) else key
        if keep_first and name in self.idle_power_w:
            return
        self.idle_power_w[name] = reading.total_w
        if keep_first and name in self.idle_power_per_gpu_w:
            return
        self.idle_power_per_gpu_w[name] = list(reading.per_gpu_w) if reading.per_gpu_w is not None else None

    def loaded_idle(self) -> dict[EngineKey, IdlePower]:
        """Each engine's idle reading with its model loaded, keyed by the engine."""
        return {engine: self.idle(engine) for name in self.idle_power_w
                if (engine := EngineKey.from_idle_key(name)) is not None}

    def backend_of(self, config: str) -> str | None:
        """The framework ("hf", "vllm") of one of the run's configs, from the config as loaded."""
        stored = self.configs.get(config) or {}
        return stored.get("framework") or stored.get("backend")  # today's spelling, or that of runs before 2026-12

    def to_json(self) -> dict[str, Any]:
        """run.json as written; a run going again (`outcome` None) has no outcome key, as before it ends."""
        data = super().to_json()
        if data.get("outcome", 0) is None:
            del data["outcome"]
        return data


def parse_run_meta(data: object, where: str, option: str | None = None) -> RunMeta:
    """A decoded run.json, validated; InputError naming `where` (after `option`, its flag) and the field."""
    return _parse(RunMeta, data, where, "restore it from git, or measure into a new folder", option)


# -- records -------------------------------------------------------------------------------------------------------


class CalibrationRecord(_Contract):
    """One measured repetition of one cell (records.jsonl line, records.parquet row); per-run values."""

    run_id: str
    backend: str
    config: str
    model: str
    gpu: str
    gpu_count: int
    tensor_parallel: int | None = None  # older runs: 1
    batch_size: int
    input_tokens: int
    output_tokens: int
    repetition: int
    status: RecordStatus
    idle_power_w: float | None = None  # the empty GPUs' power before the sweep
    timestamp: str
    # the serving config
    dtype: str | None = None
    attn_implementation: str | None = None
    compile: bool | None = None
    decoding: str | None = None
    beam_width: int | None = None
    cuda_graphs: bool | None = None
    quantization: str | None = None  # "none" for none
    max_num_seqs: int | None = None
    speculative_model: str | None = None
    num_speculative_tokens: int | None = None
    synthetic_acceptance: float | None = None
    prefix_caching: bool | None = None
    prefix_hit_rate: float | None = None
    # what was measured, per run of the cell (a window repeats the run `repeats` times)
    energy_j: float | None = None
    energy_above_idle_j: float | None = None
    duration_s: float | None = None
    repeats: int | None = None
    window_s: float | None = None
    mean_power_w: float | None = None
    max_power_w: float | None = None
    sampled_energy_j: float | None = None
    cross_checked: bool | None = None
    sm_clock_mhz: float | None = None
    temperature_c: float | None = None
    sensor: str | None = None
    null_reason: str | None = None
    generated_tokens: int | None = None
    gpu_energy_j: list[float] | None = None
    loaded_idle_power_w: float | None = None
    # vLLM's running and waiting request counts over the measured window, from its stats lines
    # (calibrate/vllm_stats.py): peak and time-weighted mean running, peak waiting, whether it preempted; null +
    # reason without stats lines
    running_max: int | None = None
    running_mean: float | None = None
    waiting_max: int | None = None
    preempted: bool | None = None
    running_samples: int | None = None
    running_null_reason: str | None = None
    # the engine's own counters, per run (vLLM: prefix cache in tokens, speculative decoding)
    counter_queries_tokens: float | None = None
    counter_hits_tokens: float | None = None
    counter_drafts: float | None = None
    counter_draft_tokens: float | None = None
    counter_accepted_tokens: float | None = None
    # a cell that failed
    error: str | None = None
    traceback: str | None = None
    # where a Ray worker ran it
    node: str | None = None
    ray_node_id: str | None = None
    worker_id: str | None = None
    gpu_indices: list[int] | None = None
    gpu_uuids: list[str | None] | None = None
    worker_versions: str | None = None  # JSON

    @property
    def cell_key(self) -> tuple[str, str, int, int, int]:
        """(model, config, batch, input tokens, output tokens): the cell, as `calibrate.grid.Cell.key`."""
        return (self.model, self.config, self.batch_size, self.input_tokens, self.output_tokens)


def parse_record(data: object, where: str, option: str | None = None) -> CalibrationRecord:
    """A decoded record, validated; InputError naming `where` (file and row) and the field."""
    return _parse(CalibrationRecord, data, where, "repair or remove that run folder (see calibrate/records.py)", option)


# -- replay records ------------------------------------------------------------------------------------------------


class PrefixCacheCounts(_Contract):
    """The engine's prefix-cache queries and hits (tokens) over one run, or None with the reason."""

    queries_tokens: int | None
    hits_tokens: int | None
    hit_rate: float | None
    null_reason: str | None


class ReplayRun(_Contract):
    """One measured run of a replay: the whole request set, metered as one window."""

    energy_j: float | None
    duration_s: float
    mean_power_w: float | None = None
    max_power_w: float | None = None
    sensor: str
    null_reason: str | None = None
    sampled_energy_j: float | None = None
    sm_clock_mhz: float | None = None
    prefix_cache: PrefixCacheCounts | None = None


class ReplayRequests(_Contract):
    """The requests as replayed, in arrival order: lengths, arrival times (s) and, from Mooncake, block ids."""

    input_tokens: list[int]
    output_tokens: list[int]
    arrival_s: list[float]
    hash_ids: list[list[int]] | None = None


class ReplayRecord(_Contract):
    """One replay (`<name>.json`): a trace's requests served on the GPU, its runs metered whole."""

    name: str
    trace: str
    model: str
    taken: str
    host: HostInfo
    loaded_idle_power_w: float | None
    runs: list[ReplayRun]
    backend: Literal["hf", "vllm"]
    config: dict[str, Any]  # the serving config as loaded
    versions: dict[str, str]
    meter: MeterInfo
    empty_idle_power_w: float | None
    seed: int
    n: int
    # "offline": a fresh engine's unmeasured first pass before online (Ray; a local replay with no offline one)
    engine_warmup: str | None = None
    # whether the measured runs followed an unmeasured run of the same requests in the same mode; None: not recorded
    # (records before 2026-12-07's closed-loop lease, where every offline replay was warmed up on its own requests)
    warmed_up: bool | None = None
    mode: Literal["offline", "online"]
    batch_size: int | None = None  # HF: its fixed batches
    batches: list[list[int]] | None = None
    rate_per_s: float | None = None  # online
    arrivals: Literal["trace", "poisson"] | None = None
    sample: str | None = None  # "window" | "conversations"
    prefix_caching: bool | None = None
    trace_block_tokens: int | None = None
    trace_hit_rate: float | None = None
    requests: ReplayRequests
    lease: Lease | None = None
    # where a Ray worker ran it
    node: str | None = None
    ray_node_id: str | None = None
    worker_id: str | None = None
    gpu_indices: list[int] | None = None
    gpu_uuids: list[str | None] | None = None
    worker_versions: str | None = None  # JSON
    waited_for_gpus_s: float | None = None
    runner: RunnerInfo | None = None


def parse_replay(data: object, where: str, option: str | None = None) -> ReplayRecord:
    """A decoded replay record, validated; InputError naming `where` and the field."""
    return _parse(ReplayRecord, data, where, "restore it from git, or replay again", option)

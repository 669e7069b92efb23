"""Calibration at scale: one grid fanned out over the GPUs of one machine or of a Ray cluster.

Each engine configuration (one model under one serving config: one engine load) becomes a Ray actor that
reserves `num_gpus` = its tensor-parallel degree. Engines start in the order their first block appears in the
grid (`grid.engine_order`) as GPUs free up, and none overtakes one waiting before it: the grid's order is the
campaign's priority, so a TP4 engine listed first runs first, and one listed after single-GPU engines is not
starved by them. The driver asks each actor for one cell at a time and appends the records it sends back to the
run's journal (`records.append_record`, fsynced) as they arrive, so what was measured is on disk whatever dies
next. Every record carries the worker's node, GPU UUIDs and package versions.

- A worker that dies loses the cell it was measuring: a new actor takes the configuration's remaining cells,
  that cell first, up to `max_attempts` deaths per cell, after which the cell is recorded as an error.
- A driver that dies loses nothing journaled: `resume` skips every repetition already measured, with the
  same done-keys and the same run folder checks as the local runner (`sweep.run_sweep`).

One actor's resources always come from one node, which is what a tensor-parallel group needs; no placement
group is made, because vLLM switches to its own Ray executor when it finds itself inside one and would then
look for GPUs the actor already holds. Ray is imported only here, and only when a campaign runs.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from energy_predict.calibrate import records as rec
from energy_predict.calibrate.backends.base import Backend, make_backend
from energy_predict.calibrate.environment import host_info, now_iso
from energy_predict.calibrate.grid import Cell, Grid, ServingConfig, engine_order
from energy_predict.calibrate.meter import measure_idle, open_meter
from energy_predict.calibrate.sweep import (
    OnCell,
    OnNotice,
    cells_outcome,
    done_keys,
    gpu_label,
    load_engine,
    measure_cell,
    open_run,
    record_row,
)
from energy_predict.errors import InputError

MAX_ATTEMPTS = 3  # worker deaths on one cell before it is recorded as an error
FREE_BYTES = 2 << 30  # a GPU holding less than this is empty (driver and context reservations)


def wait_until_empty(gpus: tuple[int, ...], limit_s: float = 120.0) -> float:
    """Wait until the previous engine's processes have left these GPUs (seconds waited; 0 without NVML).

    An actor ended by the driver takes its engine's worker processes down with it, but their memory comes
    back a few seconds later; an engine loaded before then finds too little free memory, and an idle reading
    taken then is not of empty GPUs.
    """
    from energy_predict.calibrate import nvml

    try:
        devices = [nvml.Device(i) for i in gpus]
    except Exception:  # noqa: BLE001 - no NVML (CPU tests, no driver): nothing to wait for
        return 0.0
    start = time.monotonic()
    while time.monotonic() - start < limit_s and any(d.memory_used_bytes() > FREE_BYTES for d in devices):
        time.sleep(1.0)
    return time.monotonic() - start


def import_ray():
    """The ray module, or InputError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray", "Ray is not installed",
                         "pip install 'energy-predict[ray]' (offline: see the README's wheels line)") from None
    return ray


def claim_gpus(gpu_indices: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """In a Ray worker: the GPUs to use, by default those Ray assigned to it.

    The indices are NVML's (PCI bus order); Ray's match them once CUDA orders devices by PCI bus too,
    which this sets before CUDA starts.
    """
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # CUDA index = NVML index, before CUDA starts
    import ray

    return tuple(gpu_indices if gpu_indices is not None else (int(g) for g in ray.get_gpu_ids()))


def worker_provenance(gpus: tuple[int, ...], meter_info: dict, backend_versions: dict) -> tuple[dict, dict]:
    """In a Ray worker: where it runs (node, Ray ids, GPU indices and UUIDs, versions as JSON) and the versions."""
    import ray

    import energy_predict

    versions = {"energy_predict": energy_predict.__version__, "python": sys.version.split()[0],
                "ray": ray.__version__, **backend_versions}
    context = ray.get_runtime_context()
    provenance = {"node": platform.node(), "ray_node_id": context.get_node_id(),
                  "worker_id": context.get_actor_id(), "gpu_indices": list(gpus),
                  "gpu_uuids": [g.get("uuid") for g in meter_info.get("gpus") or []],
                  "worker_versions": json.dumps(versions, sort_keys=True)}
    return provenance, versions


class EngineWorker:
    """One engine configuration on the GPUs Ray gave this process: loaded once, then measured cell by cell.

    A plain class: `run_campaign` makes it a Ray actor, and tests can call it without Ray.
    """

    def __init__(self, run_id: str, grid: Grid, model: str, config: ServingConfig, group: list[Cell],
                 backend_factory: Callable[[str], Backend], meter_factory: Callable) -> None:
        self.run_id, self.grid, self.model, self.config, self.group = run_id, grid, model, config, group
        self.backend_factory, self.meter_factory = backend_factory, meter_factory

    def start(self, gpu_indices: tuple[int, ...] | None = None) -> dict:
        """Measure the empty GPUs' idle power, load the engine, measure its loaded idle; say what ran where.

        `gpu_indices` are NVML's (PCI bus order); by default those Ray assigned to this actor, which match
        once CUDA orders devices by PCI bus too.
        """
        gpus = claim_gpus(gpu_indices)
        self.waited_s = wait_until_empty(gpus)
        self.meter = self.meter_factory(gpus)
        info = self.meter.describe()
        self.gpu, self.gpu_count = gpu_label(info), len(gpus)
        self.idle_before, idle_per_gpu = measure_idle(self.meter, self.grid.idle_seconds)
        self.backend, self.config, (self.loaded_idle, loaded_per_gpu) = load_engine(
            self.backend_factory, self.meter, self.model, self.config, self.group, self.grid.idle_seconds)
        self.provenance, versions = worker_provenance(gpus, info, self.backend.versions())
        return {**self.provenance, "versions": versions, "meter": info, "gpu": self.gpu,
                "config": self.config.model_dump(), "idle_before_w": self.idle_before,
                "waited_for_gpus_s": self.waited_s,
                "idle_before_per_gpu_w": idle_per_gpu, "loaded_idle_w": self.loaded_idle,
                "loaded_idle_per_gpu_w": loaded_per_gpu}

    def measure(self, cell: Cell, skip: set[int]) -> list[dict]:
        """Every record of one cell (its repetitions not in `skip`), with where and on what it ran."""
        return [record_row(self.run_id, cell, self.config, self.gpu, self.gpu_count, k, status, self.idle_before,
                           **values, **self.provenance)
                for k, status, values in measure_cell(self.backend, self.meter, self.grid, cell, skip,
                                                      self.idle_before, self.loaded_idle)]

    def close(self) -> None:
        """Free the engine (the driver then ends the actor, which frees its GPUs)."""
        self.backend.close()


@dataclass
class _Engine:
    """The driver's view of one engine configuration: what is left to measure and how its workers fared."""

    model: str
    config: ServingConfig
    group: list[Cell]  # every cell of the configuration (vLLM's max_model_len is set from them)
    todo: list[Cell]  # cells not yet measured, in grid order
    deaths: dict[tuple, int] = field(default_factory=dict)  # cell key (or "start") -> workers that died on it
    actor: object = None
    loaded: dict | None = None  # what the current worker's start() said

    @property
    def name(self) -> str:
        return f"{self.model}:{self.config.name}"


def _connect(ray, address: str | None) -> bool:
    """Join the cluster at `address` ("auto": the one this machine is in), or start Ray here ("local", None).

    Returns whether this call started the connection (and so must shut it down). A connection the caller
    made already (tests, notebooks) is used as it is.
    """
    if ray.is_initialized():
        return False
    if address in (None, "", "local"):
        ray.init(include_dashboard=False)
    else:
        ray.init(address=address)
    return True


def _check_fits(ray, engines: list, fix: str = "leave that config out") -> None:
    """Refuse an engine (anything with a `.config`) needing more GPUs than any node has: it would wait for ever."""
    largest = max((n["Resources"].get("GPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
    for engine in engines:
        if engine.config.tensor_parallel > largest:
            raise InputError("--ray", f"config {engine.config.name!r} needs {engine.config.tensor_parallel} GPU(s) "
                             f"on one node, and the largest node of the Ray cluster has {largest:g}",
                             f"add a node with enough GPUs (ray start --address ...), or {fix}")


def _worker_died(ray, exc: BaseException) -> bool:
    errors = ray.exceptions
    kinds = tuple(getattr(errors, n) for n in ("RayActorError", "WorkerCrashedError", "ObjectLostError",
                                                "NodeDiedError") if hasattr(errors, n))
    return isinstance(exc, kinds)


def _cause(exc: BaseException) -> str:
    """The worker's own exception message (Ray wraps it with a traceback of its own), on one line."""
    cause = getattr(exc, "cause", None)
    text = str(cause) if cause is not None else str(exc)
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())[:300]


def _error_row(run_id: str, engine: _Engine, cell: Cell, error: str) -> dict:
    """The record of a cell that failed outside the worker's own handling (its worker died, say)."""
    loaded = engine.loaded
    where = {k: loaded[k] for k in ("node", "ray_node_id", "worker_id", "gpu_indices", "gpu_uuids",
                                    "worker_versions")}
    return record_row(run_id, cell, engine.config, loaded["gpu"], engine.config.tensor_parallel, 0, "error",
                      loaded["idle_before_w"], error=error[:500], **where)


def run_campaign(grid: Grid, run_dir: Path, *, address: str | None = None, resume: bool = False,
                 backend_factory: Callable[[str], Backend] = make_backend, meter_factory: Callable = open_meter,
                 max_attempts: int = MAX_ATTEMPTS, on_cell: OnCell | None = None, on_notice: OnNotice | None = None,
                 command: str | None = None, cpus_per_engine: float = 1, table_every_s: float = 10.0) -> Path:
    """Measure every cell of the grid into `run_dir` over a Ray cluster; the same files as `run_sweep`.

    Returns `run_dir`; `sweep.read_outcome(run_dir)` tells how the cells ended. A configuration whose
    engine does not load is said in the outcome (`load_error`) while the other configurations go on.
    """
    ray = import_ray()
    run_dir = Path(run_dir)
    cells, previous = open_run(grid, run_dir, resume)
    campaign = _Campaign(ray, grid, run_dir, cells, previous, backend_factory, meter_factory, max_attempts,
                         on_cell, on_notice, cpus_per_engine, table_every_s)
    meta = campaign.meta = (rec.read_meta(run_dir) if resume else None) or {
        "run_id": run_dir.name, "grid": grid.model_dump(), "started": now_iso(), "command": command,
        "host": host_info(), "meter": None, "gpu": None, "gpu_indices": None, "configs": {},
        "idle_power_w": {}, "idle_power_per_gpu_w": {}, "resumed": []}
    if previous:
        meta["resumed"].append(now_iso())
    meta.setdefault("workers", {})
    meta["status"] = "running"
    meta.pop("outcome", None)
    started_ray = _connect(ray, address)
    try:
        _check_fits(ray, campaign.engines)
        meta["runner"] = {"kind": "ray", "address": address or "local", "ray": ray.__version__,
                          "cluster_gpus": ray.cluster_resources().get("GPU", 0)}
        rec.write_meta(run_dir, meta)
        campaign.run()
    finally:
        campaign.stop()
        if started_ray:
            ray.shutdown()
    outcome = campaign.outcome()
    meta["finished"] = now_iso()
    meta["status"] = "failed" if outcome.failed else "incomplete" if outcome.error else "complete"
    meta["outcome"] = asdict(outcome)
    rec.write_meta(run_dir, meta)
    return run_dir


class _Campaign:
    """The driver's side: one engine worker per configuration, one cell asked of each at a time, records journaled."""

    def __init__(self, ray, grid: Grid, run_dir: Path, cells: list[Cell], previous: list[dict], backend_factory,
                 meter_factory, max_attempts: int, on_cell: OnCell | None, on_notice: OnNotice | None,
                 cpus_per_engine: float, table_every_s: float) -> None:
        self.ray, self.grid, self.run_dir, self.cells = ray, grid, run_dir, cells
        self.backend_factory, self.meter_factory, self.max_attempts = backend_factory, meter_factory, max_attempts
        self.on_cell, self.on_notice = on_cell, on_notice
        self.cpus_per_engine, self.table_every_s = cpus_per_engine, table_every_s
        self.measured, self.closed = done_keys(previous)
        self.records = list(previous)
        self.errors: dict[tuple, str | None] = {}  # cells that failed in this session, and the first error of each
        self.load_errors: list[str] = []
        self.null_reason: str | None = None
        self.total, self.done = len(cells), sum(1 for c in cells if self.complete(c))
        self.engines: list[_Engine] = []
        configs = {c.name: c for c in grid.configs}
        for model, name in engine_order(grid):
            group = [c for c in cells if c.model == model and c.config == name]
            todo = [c for c in group if not self.complete(c)]
            if todo:
                self.engines.append(_Engine(model, configs[name], group, todo))
        self.meta: dict = {}  # run.json, set by run_campaign
        self.waiting: list[_Engine] = []  # engines not started yet, in the grid's order
        self.free_gpus = 0.0  # GPUs of the cluster not held by this campaign's workers
        self.inflight: dict = {}  # object ref -> (engine, what it is: "start" | "measure" | "close", cell)
        self.last_table = time.monotonic()

    def complete(self, c: Cell) -> bool:
        return c.key in self.closed or all((*c.key, k) in self.measured for k in range(self.grid.repetitions))

    def run(self) -> None:
        """Start workers in the grid's order as GPUs free up, and handle what comes back."""
        self.worker_class = self.ray.remote(EngineWorker)
        self.free_gpus = float(self.ray.cluster_resources().get("GPU", 0))
        self.waiting = list(self.engines)
        self.admit()
        while self.inflight:
            (ref,), _ = self.ray.wait(list(self.inflight), num_returns=1)
            engine, kind, cell = self.inflight.pop(ref)
            try:
                result = self.ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - sorted below: a dead worker, a failed load, a bug
                self.failed(engine, kind, cell, exc)
                continue
            if kind == "start":
                self.started(engine, result)
                self.next_cell(engine)
            elif kind == "measure":
                self.journal(result)
                self.cell_ended(engine, cell, result[-1]["status"] if result else "ok")
                self.next_cell(engine)
            else:
                self.release(engine)  # its GPUs go to the next configuration waiting for them

    def admit(self) -> None:
        """Start the waiting engines from the head of the queue while their GPUs are free (no overtaking)."""
        while self.waiting and self.waiting[0].config.tensor_parallel <= self.free_gpus:
            engine = self.waiting.pop(0)
            self.free_gpus -= engine.config.tensor_parallel
            self.launch(engine)

    def release(self, engine: _Engine, requeue: bool = False) -> None:
        """End the engine's worker and give its GPUs back; `requeue` puts the engine first in line again."""
        self.ray.kill(engine.actor)
        engine.actor = None
        self.free_gpus += engine.config.tensor_parallel
        if requeue:
            self.waiting.insert(0, engine)
        self.admit()

    def stop(self) -> None:
        """End every worker still there and bring the table up to the journal."""
        for engine in self.engines:
            if engine.actor is not None:
                self.ray.kill(engine.actor)
        rec.write_table(self.run_dir, self.records)

    def outcome(self):
        return cells_outcome(self.cells, self.closed, self.complete, self.errors, "; ".join(self.load_errors) or None,
                             self.null_reason)

    def launch(self, engine: _Engine) -> None:
        engine.actor = self.worker_class.options(
            num_gpus=engine.config.tensor_parallel, num_cpus=self.cpus_per_engine, max_restarts=0,
        ).remote(self.run_dir.name, self.grid, engine.model, engine.config, engine.group, self.backend_factory,
                 self.meter_factory)
        engine.loaded = None
        self.inflight[engine.actor.start.remote()] = (engine, "start", None)

    def next_cell(self, engine: _Engine) -> None:
        if engine.todo:
            cell = engine.todo[0]
            skip = {k for k in range(self.grid.repetitions) if (*cell.key, k) in self.measured}
            self.inflight[engine.actor.measure.remote(cell, skip)] = (engine, "measure", cell)
        else:
            self.inflight[engine.actor.close.remote()] = (engine, "close", None)

    def journal(self, rows: list[dict]) -> None:
        for row in rows:
            key = (row["model"], row["config"], row["batch_size"], row["input_tokens"], row["output_tokens"])
            if (*key, row["repetition"]) in self.measured or key in self.closed:
                continue  # already on disk: a journal never holds a repetition twice
            rec.append_record(self.run_dir, row)
            self.records.append(row)
            if row["status"] == "ok":
                self.measured.add((*key, row["repetition"]))
            elif row["status"] == "infeasible":
                self.closed.add(key)
            else:
                self.errors.setdefault(key, row.get("error"))

    def cell_ended(self, engine: _Engine, cell: Cell, status: str) -> None:
        engine.todo.pop(0)
        self.done += 1
        if self.on_cell:
            self.on_cell(self.done, self.total, cell, status)
        if time.monotonic() - self.last_table >= self.table_every_s:  # the journal is the durable copy
            rec.write_table(self.run_dir, self.records)
            self.last_table = time.monotonic()

    def started(self, engine: _Engine, loaded: dict) -> None:
        engine.loaded = loaded
        meta, info = self.meta, loaded["meter"]
        if meta["meter"] is None:
            meta["meter"], meta["gpu"] = info, loaded["gpu"]
            if info.get("sensor") == "none":
                self.null_reason = info.get("null_reason")
                if self.on_notice:
                    self.on_notice(f"no energy sensor ({self.null_reason}): durations are measured, but every "
                                   "record will hold energy_j = null with that reason in null_reason")
        meta["configs"][engine.config.name] = {**loaded["config"], "versions": loaded["versions"]}
        meta["idle_power_w"].setdefault("before", loaded["idle_before_w"])
        meta["idle_power_per_gpu_w"].setdefault("before", loaded["idle_before_per_gpu_w"])
        meta["idle_power_w"][f"loaded:{engine.name}"] = loaded["loaded_idle_w"]
        meta["idle_power_per_gpu_w"][f"loaded:{engine.name}"] = loaded["loaded_idle_per_gpu_w"]
        worker = {k: loaded.get(k) for k in ("worker_id", "node", "ray_node_id", "gpu_indices", "gpu_uuids",
                                             "versions", "idle_before_w", "waited_for_gpus_s")}
        meta["workers"].setdefault(engine.name, []).append({**worker, "started": now_iso()})
        rec.write_meta(self.run_dir, meta)

    def failed(self, engine: _Engine, kind: str, cell: Cell | None, exc: BaseException) -> None:
        """A call that raised: a worker that died, an engine that did not load, or a cell that broke the worker."""
        if kind == "close":
            self.release(engine)
        elif _worker_died(self.ray, exc):
            self.died(engine, cell, exc)
        elif kind == "start":  # the engine did not load: its cells are not reached, the others go on
            self.load_errors.append(_cause(exc)[:500])
            self.release(engine)
        else:  # measure raised past measure_cell's own handling: the cell failed
            self.journal([_error_row(self.run_dir.name, engine, cell, _cause(exc))])
            self.cell_ended(engine, cell, "error")
            self.next_cell(engine)

    def died(self, engine: _Engine, cell: Cell | None, exc: BaseException) -> None:
        """Count the death against the cell (or the load); retry on a new worker, or give the cell up as an error."""
        key = cell.key if cell is not None else "start"
        engine.deaths[key] = engine.deaths.get(key, 0) + 1
        line = f"the worker died {engine.deaths[key]} time(s) while {'measuring' if cell else 'loading'}: {_cause(exc)}"
        if engine.loaded is not None:
            self.meta["workers"][engine.name][-1]["died"] = f"{now_iso()} {_cause(exc)}"
        if engine.deaths[key] >= self.max_attempts:
            if cell is None:
                self.load_errors.append(f"{engine.name} did not load: {line}"[:500])
                self.release(engine)
                return
            self.journal([_error_row(self.run_dir.name, engine, cell, line)])
            self.cell_ended(engine, cell, "error")
        # the remaining cells on a new worker, first in line, wherever Ray finds the GPUs
        self.release(engine, requeue=bool(engine.todo))

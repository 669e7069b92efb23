"""Calibration at scale: one grid fanned out over the GPUs of one machine or of a Ray cluster.

Each engine configuration (one model under one serving config: one engine load) is a job of the Ray pool
(`calibrate.pool`): an actor that reserves `num_gpus` = its tensor-parallel degree, started in the order its
first block appears in the grid (`grid.engine_order`). The driver asks each actor for one cell at a time and
journals the records it sends back as they arrive (`calibrate.run.Run`, fsynced), so what was measured is on
disk whatever dies next. Every record carries the worker's node, GPU UUIDs and package versions.

- A worker that dies loses the cell it was measuring: a new actor takes the configuration's remaining cells,
  that cell first, up to `max_attempts` deaths per cell, after which the cell is recorded as an error.
- A driver that dies loses nothing journaled: `resume` skips every repetition already measured, with the
  same run folder, done keys and checks as the local runner (`sweep.run_sweep`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energy_predict.calibrate.backends.base import Backend, make_backend
from energy_predict.calibrate.environment import now_iso
from energy_predict.calibrate.grid import Cell, Grid, ServingConfig, engine_order
from energy_predict.calibrate.meter import measure_idle, open_meter
from energy_predict.calibrate.pool import (
    Call,
    Placement,
    Pool,
    cause,
    check_fits,
    claim_gpus,
    import_ray,
    ray_session,
    wait_until_empty,
    worker_placement,
)
from energy_predict.calibrate.run import OnCell, OnNotice, Run
from energy_predict.calibrate.sweep import gpu_label, load_engine, measure_cell, no_sensor_notice, record_row
from energy_predict.contracts.records import (
    IDLE_BEFORE,
    CalibrationRecord,
    EngineKey,
    IdlePower,
    MeterInfo,
    RunnerInfo,
    WorkerInfo,
)

MAX_ATTEMPTS = 3  # worker deaths on one cell before it is recorded as an error


@dataclass(frozen=True)
class WorkerStart:
    """What an engine worker says once it has loaded: where it runs, what with, and its idle readings."""

    placement: Placement
    versions: dict[str, str]
    meter: MeterInfo
    gpu: str
    config: dict[str, Any]
    idle_before: IdlePower
    loaded_idle: IdlePower
    waited_for_gpus_s: float


class EngineWorker:
    """One engine configuration on the GPUs Ray gave this process: loaded once, then measured cell by cell.

    A plain class: the pool makes it a Ray actor, and tests can call it without Ray.
    """

    def __init__(self, run_id: str, grid: Grid, model: str, config: ServingConfig, group: list[Cell],
                 backend_factory: Callable[[str], Backend], meter_factory: Callable) -> None:
        self.run_id, self.grid, self.model, self.config, self.group = run_id, grid, model, config, group
        self.backend_factory, self.meter_factory = backend_factory, meter_factory

    def start(self, gpu_indices: tuple[int, ...] | None = None) -> WorkerStart:
        """Measure the empty GPUs' idle power, load the engine, measure its loaded idle; say what ran where.

        `gpu_indices` are NVML's (PCI bus order); by default those Ray assigned to this actor, which match
        once CUDA orders devices by PCI bus too.
        """
        gpus = claim_gpus(gpu_indices)
        waited_s = wait_until_empty(gpus)
        meter = self.meter_factory(gpus)
        info = meter.describe()
        self.gpu, self.gpu_count = gpu_label(info), len(gpus)
        self.idle_before = measure_idle(meter, self.grid.idle_seconds)
        self.backend, self.meter, self.config, self.loaded_idle = load_engine(
            self.backend_factory, meter, self.model, self.config, self.group, self.grid.idle_seconds)
        self.placement, versions = worker_placement(gpus, info, self.backend.versions())
        return WorkerStart(self.placement, versions, info, self.gpu, self.config.model_dump(), self.idle_before,
                           self.loaded_idle, waited_s)

    def measure(self, cell: Cell, skip: set[int]) -> list[CalibrationRecord]:
        """Every record of one cell (its repetitions not in `skip`), with where and on what it ran."""
        return [record_row(self.run_id, cell, self.config, self.gpu, self.gpu_count, k, status,
                           self.idle_before.total_w, **values, **self.placement.fields())
                for k, status, values in measure_cell(self.backend, self.meter, self.grid, cell, skip,
                                                      self.idle_before.total_w, self.loaded_idle.total_w)]

    def close(self) -> None:
        """Free the engine (the driver then ends the actor, which frees its GPUs)."""
        self.backend.close()


@dataclass(eq=False)
class EngineJob:
    """The driver's side of one engine configuration: its cells left, its workers' deaths, its calls in turn."""

    campaign: _Campaign
    model: str
    config: ServingConfig
    group: list[Cell]  # every cell of the configuration (vLLM's max_model_len is set from them)
    todo: list[Cell]  # cells not yet measured, in grid order
    deaths: dict[object, int] = field(default_factory=dict)  # cell key (or "start") -> workers that died on it
    started: WorkerStart | None = None  # what the current worker's start() said
    closing: bool = False
    gone: bool = False  # done with its worker: closed, or it did not load

    @property
    def name(self) -> str:
        return f"{self.model}:{self.config.name}"

    @property
    def num_gpus(self) -> int:
        return self.config.tensor_parallel

    def actor(self) -> tuple[type, tuple]:
        c = self.campaign
        self.started, self.closing, self.gone = None, False, False
        return EngineWorker, (c.run.dir.name, c.run.grid, self.model, self.config, self.group, c.backend_factory,
                              c.meter_factory)

    def next_call(self) -> Call | None:
        if self.gone:
            return None
        if self.started is None:
            return Call("start")
        if self.todo:
            return Call("measure", (self.todo[0], self.campaign.run.measured_repetitions(self.todo[0])))
        if self.closing:  # close returned (or raised): the worker can go
            return None
        self.closing = True
        return Call("close")

    def returned(self, call: Call, result: Any) -> None:
        if call.method == "start":
            self.started = result
            self.campaign.started(self, result)
        elif call.method == "measure":
            self.campaign.run.journal(result)
            self.cell_ended(result[-1].status if result else "ok")
        else:
            self.gone = True

    def raised(self, call: Call, exc: BaseException) -> None:
        if call.method == "start":  # the engine did not load: its cells are not reached, the others go on
            self.campaign.load_errors.append(cause(exc)[:500])
            self.gone = True
        elif call.method == "measure":  # raised past measure_cell's own handling: the cell failed
            self.campaign.run.journal([self.error_row(self.todo[0], cause(exc))])
            self.cell_ended("error")
        else:
            self.gone = True

    def died(self, call: Call, exc: BaseException) -> bool:
        """Count the death against the cell (or the load); go again on a new worker, or give the cell up."""
        if call.method == "close":
            return False
        cell = self.todo[0] if call.method == "measure" else None
        key = cell.key if cell is not None else "start"
        self.deaths[key] = self.deaths.get(key, 0) + 1
        line = f"the worker died {self.deaths[key]} time(s) while {'measuring' if cell else 'loading'}: {cause(exc)}"
        if self.started is not None:
            self.campaign.worker_died(self, f"{now_iso()} {cause(exc)}")
        if self.deaths[key] >= self.campaign.max_attempts:
            if cell is None:
                self.campaign.load_errors.append(f"{self.name} did not load: {line}"[:500])
                return False
            self.campaign.run.journal([self.error_row(cell, line)])
            self.cell_ended("error")
        return bool(self.todo)  # the remaining cells on a new worker, first in line, wherever Ray finds the GPUs

    def cell_ended(self, status: str) -> None:
        self.campaign.cell_ended(self.todo.pop(0), status)

    def error_row(self, cell: Cell, error: str) -> CalibrationRecord:
        """The record of a cell that failed outside the worker's own handling (its worker died, say)."""
        s = self.started
        return record_row(self.campaign.run.dir.name, cell, self.config, s.gpu, self.config.tensor_parallel, 0,
                          "error", s.idle_before.total_w, error=error[:500], **s.placement.fields())


class _Campaign:
    """The driver's bookkeeping: the run, the engines' jobs, what the workers said."""

    def __init__(self, run: Run, backend_factory: Callable[[str], Backend], meter_factory: Callable,
                 max_attempts: int, on_cell: OnCell | None, on_notice: OnNotice | None, table_every_s: float) -> None:
        self.run, self.backend_factory, self.meter_factory = run, backend_factory, meter_factory
        self.max_attempts, self.on_cell, self.on_notice, self.table_every_s = max_attempts, on_cell, on_notice, \
            table_every_s
        self.load_errors: list[str] = []
        self.null_reason: str | None = None
        self.last_table = time.monotonic()
        configs = {c.name: c for c in run.grid.configs}
        self.jobs: list[EngineJob] = []
        for model, name in engine_order(run.grid):
            group = [c for c in run.cells if c.model == model and c.config == name]
            todo = [c for c in group if not run.complete(c)]
            if todo:
                self.jobs.append(EngineJob(self, model, configs[name], group, todo))

    def cell_ended(self, cell: Cell, status: str) -> None:
        self.run.cell_ended(cell, status, self.on_cell)
        if time.monotonic() - self.last_table >= self.table_every_s:  # the journal is the durable copy
            self.run.write_table()
            self.last_table = time.monotonic()

    def started(self, job: EngineJob, start: WorkerStart) -> None:
        meta = self.run.meta
        if meta.meter is None:
            meta.meter, meta.gpu = start.meter, start.gpu
            notice = no_sensor_notice(start.meter)
            if notice:
                self.null_reason = start.meter.null_reason
                if self.on_notice:
                    self.on_notice(notice)
        meta.set_idle(IDLE_BEFORE, start.idle_before, keep_first=True)
        p = start.placement
        worker = WorkerInfo(worker_id=p.worker_id, node=p.node, ray_node_id=p.ray_node_id, gpu_indices=p.gpu_indices,
                            gpu_uuids=p.gpu_uuids, versions=start.versions, idle_before_w=start.idle_before.total_w,
                            waited_for_gpus_s=start.waited_for_gpus_s, started=now_iso())
        meta.workers = {**meta.workers, job.name: [*meta.workers.get(job.name, []), worker]}
        self.run.engine_loaded(EngineKey(job.model, job.config.name), {**start.config, "versions": start.versions},
                               start.loaded_idle)

    def worker_died(self, job: EngineJob, line: str) -> None:
        self.run.meta.workers[job.name][-1].died = line


def run_campaign(grid: Grid, run_dir: Path, *, address: str | None = None, resume: bool = False,
                 backend_factory: Callable[[str], Backend] = make_backend, meter_factory: Callable = open_meter,
                 max_attempts: int = MAX_ATTEMPTS, on_cell: OnCell | None = None, on_notice: OnNotice | None = None,
                 command: str | None = None, cpus_per_engine: float = 1, table_every_s: float = 10.0) -> Path:
    """Measure every cell of the grid into `run_dir` over a Ray cluster; the same files as `run_sweep`.

    Returns `run_dir`; `sweep.read_outcome(run_dir)` tells how the cells ended. A configuration whose
    engine does not load is said in the outcome (`load_error`) while the other configurations go on.
    """
    import_ray()  # before anything is written: InputError naming the extra when Ray is missing
    run = Run.open(grid, Path(run_dir), resume=resume)
    campaign = _Campaign(run, backend_factory, meter_factory, max_attempts, on_cell, on_notice, table_every_s)
    meta = run.begin(command=command, meter=None, gpu=None, gpu_indices=None)
    if meta.workers is None:
        meta.workers = {}
    with ray_session(address) as ray:
        check_fits(ray, [(j.config.name, j.num_gpus) for j in campaign.jobs], "leave that config out")
        meta.runner = RunnerInfo(kind="ray", address=address or "local", ray=ray.__version__,
                                 cluster_gpus=ray.cluster_resources().get("GPU", 0))
        run.save()
        try:
            Pool(ray, cpus_per_engine).run(campaign.jobs)
        finally:
            run.write_table()
    run.finish("; ".join(campaign.load_errors) or None, campaign.null_reason)
    return run.dir

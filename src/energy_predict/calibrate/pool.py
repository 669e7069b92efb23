"""Ray workers on GPUs: the one pool and the one retry loop that calibration cells and replays both run on.

A job (an engine configuration and its cells, or one replay) is one Ray actor that reserves `num_gpus` GPUs of
one node, asked for one call at a time. Jobs start in the order given as GPUs free up, and none overtakes one
waiting before it: the order is the campaign's priority, so a TP4 engine listed first runs first, and one
listed after single-GPU engines is not starved by them. A call that raises is the job's to handle; a worker
that dies (its process gone, its node lost) is ended and the job decides whether it goes again on a new worker,
first in line. Ray is imported only when a pool runs (the `ray` extra; the session: `energy_predict.ray_session`);
the worker-side helpers here are what a job's actor calls on its own machine.

One actor's resources always come from one node, which is what a tensor-parallel group needs; no placement
group is made, because vLLM switches to its own Ray executor when it finds itself inside one and would then
look for GPUs the actor already holds.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from energy_predict.calibrate import nvml
from energy_predict.contracts.records import MeterInfo
from energy_predict.errors import InputError
from energy_predict.ray_session import import_ray, ray_session  # noqa: F401 - ray_session: the campaign's and replays'

FREE_BYTES = 2 << 30  # a GPU holding less than this is empty (driver and context reservations)


def check_fits(ray: Any, gpus_needed: Sequence[tuple[str, int]], fix: str) -> None:
    """Refuse a job needing more GPUs than any node has (it would wait for ever): (name, GPUs) pairs."""
    largest = max((n["Resources"].get("GPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
    for name, gpus in gpus_needed:
        if gpus > largest:
            raise InputError("--ray", f"config {name!r} needs {gpus} GPU(s) on one node, and the largest node of "
                             f"the Ray cluster has {largest:g}",
                             f"add a node with enough GPUs (ray start --address ...), or {fix}")


def worker_died(ray: Any, exc: BaseException) -> bool:
    """Whether a call failed because its worker is gone (rather than raising an error of its own)."""
    errors = ray.exceptions
    kinds = tuple(getattr(errors, n) for n in ("RayActorError", "WorkerCrashedError", "ObjectLostError",
                                                "NodeDiedError") if hasattr(errors, n))
    return isinstance(exc, kinds)


def cause(exc: BaseException) -> str:
    """The worker's own exception message (Ray wraps it with a traceback of its own), on one line."""
    inner = getattr(exc, "cause", None)
    text = str(inner) if inner is not None else str(exc)
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())[:300]


# -- what a worker does on its own machine -----------------------------------------------------------------------


def claim_gpus(gpu_indices: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """In a Ray worker: the GPUs to use, by default those Ray assigned to it.

    The indices are NVML's (PCI bus order); Ray's match them once CUDA orders devices by PCI bus too,
    which this sets before CUDA starts.
    """
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # CUDA index = NVML index, before CUDA starts
    if gpu_indices is not None:
        return tuple(gpu_indices)
    return tuple(int(g) for g in import_ray().get_gpu_ids())


def wait_until_empty(gpus: tuple[int, ...], limit_s: float = 120.0, poll_s: float = 1.0) -> float:
    """Wait until the previous engine's processes have left these GPUs (seconds waited; 0 without NVML).

    An actor ended by the driver takes its engine's worker processes down with it, but their memory comes
    back a few seconds later; an engine loaded before then finds too little free memory, and an idle reading
    taken then is not of empty GPUs.
    """
    try:
        devices = [nvml.Device(i) for i in gpus]
    except (nvml.SensorUnavailable, nvml.SensorError):  # no NVML (CPU tests, no driver): nothing to wait for
        return 0.0
    start = time.monotonic()
    try:
        while time.monotonic() - start < limit_s and any(d.memory_used_bytes() > FREE_BYTES for d in devices):
            time.sleep(poll_s)
    except (nvml.SensorUnavailable, nvml.SensorError):  # memory not readable: go ahead as before NVML was asked
        pass
    return time.monotonic() - start


@dataclass(frozen=True)
class Placement:
    """Where a worker ran: its node, Ray ids, GPU indices and UUIDs, and its package versions as JSON."""

    node: str
    ray_node_id: str | None
    worker_id: str | None  # None outside an actor (a worker class called in the driver)
    gpu_indices: list[int]
    gpu_uuids: list[str | None]
    worker_versions: str

    def fields(self) -> dict[str, Any]:
        """As the record fields of the same names."""
        return asdict(self)


def worker_placement(gpus: tuple[int, ...], meter_info: MeterInfo, backend_versions: dict[str, str]
                     ) -> tuple[Placement, dict[str, str]]:
    """In a Ray worker: where it runs, and the versions it runs with."""
    ray = import_ray()

    import energy_predict

    versions = {"energy_predict": energy_predict.__version__, "python": sys.version.split()[0],
                "ray": ray.__version__, **backend_versions}
    context = ray.get_runtime_context()
    placement = Placement(node=platform.node(), ray_node_id=context.get_node_id(), worker_id=context.get_actor_id(),
                          gpu_indices=list(gpus), gpu_uuids=[g.uuid for g in meter_info.gpus],
                          worker_versions=json.dumps(versions, sort_keys=True))
    return placement, versions


# -- the driver's side ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One call of a job's actor: the method's name and its arguments."""

    method: str
    args: tuple = ()


class Job(Protocol):
    """What the pool runs: one actor at a time on `num_gpus` GPUs, and the calls it is asked for in turn."""

    name: str
    num_gpus: int

    def actor(self) -> tuple[type, tuple]:
        """The actor class and its constructor's arguments, for a new worker."""

    def next_call(self) -> Call | None:
        """The next call for the current worker; None when the job is done with it (the worker is ended)."""

    def returned(self, call: Call, result: Any) -> None:
        """A call's result."""

    def raised(self, call: Call, exc: BaseException) -> None:
        """A call that raised an error of its own (the worker is alive)."""

    def died(self, call: Call, exc: BaseException) -> bool:
        """The worker died during `call`: whether the job goes again on a new worker."""


class Pool:
    """Runs jobs on a Ray cluster's GPUs, in order, one call in flight per job."""

    def __init__(self, ray: Any, cpus_per_job: float = 1) -> None:
        self.ray, self.cpus_per_job = ray, cpus_per_job
        self._classes: dict[type, Any] = {}
        self._actors: dict[Job, Any] = {}
        self._inflight: dict[Any, tuple[Job, Call]] = {}
        self._waiting: list[Job] = []
        self.free_gpus = 0.0

    def run(self, jobs: Sequence[Job]) -> None:
        """Run every job to its end; workers still there when this returns or raises are ended."""
        self.free_gpus = float(self.ray.cluster_resources().get("GPU", 0))
        self._waiting = list(jobs)
        try:
            self._admit()
            while self._inflight:
                (ref,), _ = self.ray.wait(list(self._inflight), num_returns=1)
                job, call = self._inflight.pop(ref)
                try:
                    result = self.ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a dead worker is retried; any other error is the job's
                    if worker_died(self.ray, exc):
                        self._release(job, again=job.died(call, exc))
                        continue
                    job.raised(call, exc)
                else:
                    job.returned(call, result)
                self._next(job)
        finally:
            for actor in self._actors.values():
                self.ray.kill(actor)
            self._actors.clear()

    def _admit(self) -> None:
        """Start the waiting jobs from the head of the line while their GPUs are free (no overtaking)."""
        while self._waiting and self._waiting[0].num_gpus <= self.free_gpus:
            job = self._waiting.pop(0)
            self.free_gpus -= job.num_gpus
            cls, args = job.actor()
            if cls not in self._classes:
                self._classes[cls] = self.ray.remote(cls)
            self._actors[job] = self._classes[cls].options(
                num_gpus=job.num_gpus, num_cpus=self.cpus_per_job, max_restarts=0).remote(*args)
            self._next(job)

    def _next(self, job: Job) -> None:
        call = job.next_call()
        if call is None:
            self._release(job)
        else:
            self._inflight[getattr(self._actors[job], call.method).remote(*call.args)] = (job, call)

    def _release(self, job: Job, again: bool = False) -> None:
        """End the job's worker and give its GPUs back; `again` puts the job first in line for a new one."""
        self.ray.kill(self._actors.pop(job))
        self.free_gpus += job.num_gpus
        if again:
            self._waiting.insert(0, job)
        self._admit()

"""Stand-ins for an engine and a meter, for tests and benchmarks that must run without a GPU.

One copy, imported by the tests and by `benchmarks/` (a Ray worker imports it too, by its module path, so the
fixtures that start Ray put the repository on the workers' path: `ray_runtime_env`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from energy_predict.calibrate.backends.base import CellInfeasible, Request
from energy_predict.calibrate.grid import Cell
from energy_predict.calibrate.meter import Reading, Window
from energy_predict.contracts.records import GpuInfo, MeterInfo

REPO = Path(__file__).resolve().parents[1]


def ray_runtime_env() -> dict:
    """What a local Ray's workers need to import this checkout (src/) and the test modules (fakes, backends)."""
    path = os.pathsep.join(str(p) for p in (REPO / "src", REPO, REPO / "tests"))
    return {"env_vars": {"PYTHONPATH": path}}


class FakeBackend:
    """Counts runs; raises CellInfeasible for `oom_batch`, RuntimeError for `fail_input`, and KeyboardInterrupt
    (the process dying mid-run) after `kill_after` runs. Each run takes `sleep_s` and generates exactly O tokens.
    """

    name = "hf"

    def __init__(self, kill_after: int | None = None, oom_batch: int | None = None, fail_input: int | None = None,
                 sleep_s: float = 0.0) -> None:
        self.calls, self.kill_after, self.oom_batch, self.fail_input = 0, kill_after, oom_batch, fail_input
        self.sleep_s = sleep_s
        self.served: list[tuple[str, int]] = []  # ("batch" | "serve", requests) per replay run

    def load(self, arch, config) -> None:
        self.arch = arch

    def prepare(self, cell: Cell) -> Callable[[], int]:
        def run() -> int:
            self.calls += 1
            if self.kill_after is not None and self.calls > self.kill_after:
                raise KeyboardInterrupt  # the process dies mid-run
            if cell.batch_size == self.oom_batch:
                raise CellInfeasible("out of memory: fake")
            if cell.input_tokens == self.fail_input:
                raise RuntimeError("kernel exploded")
            if self.sleep_s:
                time.sleep(self.sleep_s)
            return cell.output_tokens

        return run

    def prepare_batch(self, requests: Sequence[Request]) -> Callable[[], None]:
        return lambda: self.served.append(("batch", len(requests)))

    def prepare_serve(self, requests: Sequence[Request], arrival_s: Sequence[float]) -> Callable[[], None]:
        return lambda: self.served.append(("serve", len(requests)))

    def synchronize(self) -> None:
        pass

    def close(self) -> None:
        pass

    def versions(self) -> dict[str, str]:
        return {"fake": "1"}


class TickingMeter:
    """A meter whose windows read `watts` per metered GPU for as long as they lasted; no NVML.

    `gpus` are the GPUs it meters (described as H100s with UUIDs `GPU-fake-<index>`); without any, `watts` is
    the whole machine's and a reading has no per-GPU energy. `watts` may give each GPU its own power.
    """

    def __init__(self, gpus: Sequence[int] = (), watts: float | Sequence[float] = 100.0, sensor: str = "fake") -> None:
        self.gpus = tuple(gpus)
        self.watts = tuple(watts) if isinstance(watts, Sequence) else (float(watts),) * max(len(self.gpus), 1)
        self.sensor = sensor
        self.syncs: list[Callable[[], None]] = []

    @contextmanager
    def window(self) -> Iterator[Window]:
        handle, t0 = Window(), time.perf_counter()
        yield handle
        s = time.perf_counter() - t0
        per_gpu = tuple(s * w for w in self.watts) if self.gpus else None
        handle.close(Reading(s * sum(self.watts), s, self.sensor, gpu_energy_j=per_gpu))

    def describe(self) -> MeterInfo:
        return MeterInfo(sensor=self.sensor, gpus=[GpuInfo(index=i, name="NVIDIA H100 80GB HBM3", uuid=f"GPU-fake-{i}")
                                                   for i in self.gpus])

    def synced(self, sync: Callable[[], None]) -> TickingMeter:
        self.syncs.append(sync)
        return self


def autospec_pynvml():
    """pynvml mocked with autospec, as Zeus's tests do: every call must match the real signature.

    The real exception classes and constants stay (an autospec'd exception class cannot be raised or caught).
    Install it with `monkeypatch.setitem(sys.modules, "pynvml", autospec_pynvml())`: nvml.py imports pynvml lazily.
    """
    from unittest import mock

    import pynvml

    fake = mock.create_autospec(pynvml)
    for name in dir(pynvml):
        if name.startswith(("NVMLError", "NVML_")):
            setattr(fake, name, getattr(pynvml, name))
    return fake


def nvml_error(code_name: str) -> Exception:
    """The pynvml exception NVML raises for an error code, e.g. nvml_error("NVML_ERROR_NOT_SUPPORTED")."""
    import pynvml

    return pynvml.NVMLError(getattr(pynvml, code_name))


class WorkerDeath(BaseException):
    """Raised in a FakeRay actor: its worker process dies there (as `os._exit` would in a real one)."""


class _Ref:
    def __init__(self, value=None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error


class _Actor:
    def __init__(self, ray: FakeRay, cls: type, args: tuple, num_gpus: int) -> None:
        self.ray, self.name, self.dead = ray, f"{cls.__name__}-{len(ray.actors)}", False
        self.gpu_ids = [ray.free_gpu_ids.pop(0) for _ in range(int(num_gpus))]
        ray.actors.append(self)
        ray.events.append(("start", self.name))
        self.instance = cls(*args)

    def __getattr__(self, method: str):
        actor = self

        class Method:
            @staticmethod
            def remote(*args):
                if actor.dead:
                    return _Ref(error=actor.ray.exceptions.RayActorError("the actor is dead"))
                actor.ray.current = actor
                try:
                    return _Ref(getattr(actor.instance, method)(*args))
                except WorkerDeath:
                    actor.dead = True
                    return _Ref(error=actor.ray.exceptions.RayActorError("The actor died unexpectedly"))
                except Exception as exc:  # noqa: BLE001 - as Ray: the caller gets it wrapped, with .cause
                    error = actor.ray.exceptions.RayTaskError(f"\x1b[31m{type(exc).__name__}\x1b[0m: {exc}")
                    error.cause = exc
                    return _Ref(error=error)
                finally:
                    actor.ray.current = None

        return Method


class FakeRay:
    """An in-process stand-in for the parts of Ray the pool uses: an actor runs each call at once, when sent.

    Install it as the `ray` module (`monkeypatch.setitem(sys.modules, "ray", FakeRay())`). `events` lists actor
    starts and kills in order; `node_gpus` gives each node's GPUs (all alive).
    """

    __version__ = "fake"

    def __init__(self, gpus: int = 4, node_gpus: Sequence[int] | None = None) -> None:
        from types import SimpleNamespace

        kinds = ("RayActorError", "WorkerCrashedError", "ObjectLostError", "NodeDiedError", "RayTaskError")
        self.exceptions = SimpleNamespace(**{k: type(k, (Exception,), {}) for k in kinds})
        self.gpus, self.node_gpus = gpus, list(node_gpus or [gpus])
        self.free_gpu_ids = list(range(gpus))
        self.initialized, self.init_kwargs = False, None
        self.actors: list[_Actor] = []
        self.events: list[tuple[str, str]] = []
        self.current: _Actor | None = None

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs) -> None:
        self.initialized, self.init_kwargs = True, kwargs

    def shutdown(self) -> None:
        self.initialized = False

    def nodes(self) -> list[dict]:
        return [{"Alive": True, "Resources": {"GPU": float(g)}} for g in self.node_gpus]

    def cluster_resources(self) -> dict:
        return {"GPU": float(self.gpus)}

    def remote(self, cls: type):
        ray = self

        class ActorClass:
            @staticmethod
            def options(num_gpus=0, **_):
                class Bound:
                    @staticmethod
                    def remote(*args):
                        return _Actor(ray, cls, args, num_gpus)

                return Bound

        return ActorClass

    def wait(self, refs: list, num_returns: int = 1) -> tuple[list, list]:
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref: _Ref):
        if ref.error is not None:
            raise ref.error
        return ref.value

    def kill(self, actor: _Actor) -> None:
        if actor.gpu_ids:
            self.free_gpu_ids = sorted(self.free_gpu_ids + actor.gpu_ids)
            actor.gpu_ids = []
        actor.dead = True
        self.events.append(("kill", actor.name))

    def get_gpu_ids(self) -> list[int]:
        return list(self.current.gpu_ids)

    def get_runtime_context(self):
        from types import SimpleNamespace

        actor = self.current
        return SimpleNamespace(get_node_id=lambda: "node-0", get_actor_id=lambda: actor.name)

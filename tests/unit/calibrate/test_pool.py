"""The one Ray pool and its retry loop, on an in-process fake Ray (no processes, no clocks)."""

import os
import sys
from dataclasses import dataclass, field

import pytest

from energy_predict.calibrate import nvml, pool
from energy_predict.calibrate.pool import Call, Pool
from energy_predict.contracts.records import GpuInfo, MeterInfo
from energy_predict.errors import InputError
from tests.fakes import FakeRay, WorkerDeath


@pytest.fixture
def ray(monkeypatch):
    fake = FakeRay(gpus=4)
    monkeypatch.setitem(sys.modules, "ray", fake)
    return fake


class Worker:
    """An actor that says its name and GPUs, dies on `die`, raises on `fail`."""

    def __init__(self, name):
        self.name = name

    def work(self, step):
        if step == "die":
            raise WorkerDeath
        if step == "fail":
            raise ValueError(f"{self.name} broke")
        return (self.name, step, pool.claim_gpus())


@dataclass(eq=False)
class Job:
    """Calls `steps` in turn on its worker; a death puts the step back and goes again while `retries` last."""

    name: str
    num_gpus: int
    steps: list
    retries: int = 0
    log: list = field(default_factory=list)

    def actor(self):
        return Worker, (self.name,)

    def next_call(self):
        return Call("work", (self.steps[0],)) if self.steps else None

    def returned(self, call, result):
        self.log.append(("returned", result))
        self.steps.pop(0)

    def raised(self, call, exc):
        self.log.append(("raised", pool.cause(exc)))
        self.steps.pop(0)

    def died(self, call, exc):
        self.log.append(("died", call.args[0]))
        self.steps[0] = "ok-after-death"
        self.retries -= 1
        return self.retries >= 0


def test_jobs_start_in_order_as_gpus_free_up_and_none_overtakes_one_waiting(ray):
    jobs = [Job("tp1-a", 1, ["x"]), Job("tp4", 4, ["x"]), Job("tp1-b", 1, ["x"]), Job("tp2", 2, ["x"]),
            Job("tp1-c", 1, ["x"])]
    Pool(ray).run(jobs)
    names = [a.instance.name for a in ray.actors]
    assert names == ["tp1-a", "tp4", "tp1-b", "tp2", "tp1-c"]
    starts = [e for e in ray.events if e[0] == "start"]
    assert ray.events.index(("kill", "Worker-0")) < ray.events.index(starts[1])  # tp4 waited for all four GPUs
    assert ray.events.index(("kill", "Worker-1")) < ray.events.index(starts[2])  # tp1-b waited behind it
    assert [j.log[0][1][2] for j in jobs] == [(0,), (0, 1, 2, 3), (0,), (1, 2), (3,)]  # each got its own GPUs
    assert all(a.dead for a in ray.actors)


def test_a_dead_worker_goes_again_first_in_line_while_the_job_wants_and_an_error_is_the_jobs(ray):
    again = Job("again", 4, ["die", "x"], retries=1)
    later = Job("later", 4, ["x"])
    Pool(ray).run([again, later])
    assert again.log[0] == ("died", "die") and again.log[1][0] == "returned" and again.log[1][1][1] == "ok-after-death"
    assert [a.instance.name for a in ray.actors] == ["again", "again", "later"]  # the retry did not lose its place
    gives_up = Job("gives-up", 1, ["die"], retries=0)
    broken = Job("broken", 1, ["fail", "x"])
    Pool(ray).run([gives_up, broken])
    assert gives_up.log == [("died", "die")]
    assert broken.log[0] == ("raised", "broken broke") and broken.log[1][0] == "returned"  # no ANSI, the cause


def test_workers_still_there_are_ended_when_the_driver_stops(ray):
    class Stop(Job):
        def returned(self, call, result):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Pool(ray).run([Stop("a", 1, ["x"]), Job("b", 1, ["x"])])
    assert all(a.dead for a in ray.actors)


def test_a_job_wider_than_any_node_is_refused(ray):
    ray.node_gpus = [2, 1]
    pool.check_fits(ray, [("tp2", 2)], "leave it out")
    with pytest.raises(InputError, match=r"'tp4' needs 4 GPU.*largest node of the Ray cluster has 2.*leave it out"):
        pool.check_fits(ray, [("tp1", 1), ("tp4", 4)], "leave it out")


def test_a_session_started_here_is_shut_down_and_one_already_open_is_left_open(ray):
    with pool.ray_session(None) as r:
        assert r is ray and ray.initialized and ray.init_kwargs == {"include_dashboard": False}
    assert not ray.initialized
    with pool.ray_session("auto"):
        assert ray.init_kwargs == {"address": "auto"}
    ray.init()
    with pool.ray_session("local"):
        pass
    assert ray.initialized


def test_no_ray_is_bad_input_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match=r"energy-predict\[ray\]"):
        pool.import_ray()


def test_only_a_lost_worker_counts_as_a_death(ray):
    assert pool.worker_died(ray, ray.exceptions.NodeDiedError("node gone"))
    assert not pool.worker_died(ray, ValueError("the job's own"))
    assert pool.cause(RuntimeError("a\n  b")) == "a b"


def test_a_worker_uses_the_gpus_it_is_given_in_pci_order(monkeypatch):
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert pool.claim_gpus((2, 3)) == (2, 3) and os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


class Memory:
    """A GPU whose memory empties after `reads` reads, or cannot be read."""

    def __init__(self, index, reads=2, fail=False):
        self.reads, self.fail = reads, fail

    def memory_used_bytes(self):
        if self.fail:
            raise nvml.SensorError("GPU is lost")
        self.reads -= 1
        return 0 if self.reads < 0 else 10 << 30


def test_the_next_engine_waits_until_the_last_ones_memory_is_back(monkeypatch):
    monkeypatch.setattr(pool.nvml, "Device", lambda i: Memory(i))
    assert 0 <= pool.wait_until_empty((0, 1), poll_s=0.001) < 5
    monkeypatch.setattr(pool.nvml, "Device", lambda i: Memory(i, fail=True))
    assert pool.wait_until_empty((0,), poll_s=0.001) < 5

    def no_nvml(i):
        raise nvml.SensorUnavailable("no driver")

    monkeypatch.setattr(pool.nvml, "Device", no_nvml)
    assert pool.wait_until_empty((0,)) == 0.0


def test_a_worker_says_where_it_runs_and_with_what(ray):
    class Where:
        def place(self):
            info = MeterInfo(sensor="fake", gpus=[GpuInfo(index=0, uuid="GPU-a"), GpuInfo(index=1)])
            return pool.worker_placement((0, 1), info, {"vllm": "0.26"})

    actor = ray.remote(Where).options(num_gpus=2).remote()
    placement, versions = ray.get(actor.place.remote())
    assert placement.gpu_uuids == ["GPU-a", None] and placement.gpu_indices == [0, 1]
    assert placement.worker_id == actor.name and placement.ray_node_id == "node-0"
    assert versions["vllm"] == "0.26" and versions["ray"] == "fake"
    assert '"vllm": "0.26"' in placement.fields()["worker_versions"]

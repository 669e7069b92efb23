"""calibrate.fanout's driver and workers on an in-process fake Ray: every record once, deaths, loads, resume."""

import json
import platform
import sys

import pytest

from energy_predict.calibrate import fanout
from energy_predict.calibrate import records as rec
from energy_predict.calibrate.fanout import EngineWorker, run_campaign
from energy_predict.calibrate.grid import expand_grid, parse_grid
from energy_predict.calibrate.meter import NullMeter
from energy_predict.calibrate.run import read_outcome
from energy_predict.datasets import load_records
from energy_predict.errors import InputError
from tests.fakes import FakeBackend, FakeRay, TickingMeter, WorkerDeath

KEY = ["model", "config", "batch_size", "input_tokens", "output_tokens", "repetition"]


@pytest.fixture
def ray(monkeypatch):
    fake = FakeRay(gpus=4)
    monkeypatch.setitem(sys.modules, "ray", fake)
    return fake


def grid(**overrides):
    g = {"name": "ray", "models": ["Llama-3.2-1B"],
         "configs": [{"name": "hf-eager", "backend": "hf"}, {"name": "vllm-tp2", "backend": "vllm",
                                                            "tensor_parallel": 2}],
         "blocks": [{"batch_sizes": [1, 2], "input_tokens": [8, 16], "output_tokens": [1]}],
         "repetitions": 2, "min_window_s": 0.0, "warmup_runs": 1, "idle_seconds": 0.0}
    g.update(overrides)
    return parse_grid(g)


class Dying(FakeBackend):
    """Its worker dies on one (batch, input) shape: the first `times` times it is measured (a shared count)."""

    deaths: dict = {}

    def __init__(self, shape, times=1, on_load=False):
        super().__init__()
        self.shape, self.times, self.on_load = shape, times, on_load

    def load(self, arch, config):
        if self.on_load:
            raise WorkerDeath
        super().load(arch, config)

    def prepare(self, cell):
        run = super().prepare(cell)

        def maybe_die():
            if (cell.batch_size, cell.input_tokens) == self.shape and Dying.deaths.get(self.shape, 0) < self.times:
                Dying.deaths[self.shape] = Dying.deaths.get(self.shape, 0) + 1
                raise WorkerDeath
            return run()

        return maybe_die


def test_every_repetition_is_recorded_once_with_where_it_ran(ray, tmp_path):
    g, cells = grid(), []
    run_campaign(g, tmp_path / "run", backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter,
                 on_cell=lambda done, total, cell, status: cells.append((done, total, status)))
    records = load_records(tmp_path / "run")
    assert len(records) == 16 and not records[KEY].duplicated().any() and (records["status"] == "ok").all()
    assert cells[-1] == (8, 8, "ok")
    assert (records["node"] == platform.node()).all()
    assert all(list(u) == [f"GPU-fake-{i}" for i in gpus] for u, gpus in zip(records["gpu_uuids"],
                                                                             records["gpu_indices"]))
    tp2 = records[records["config"] == "vllm-tp2"]
    assert list(tp2["energy_j"]) == pytest.approx(list(2 * 100 * tp2["duration_s"]))  # both GPUs metered
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "complete" and meta["runner"] == {"kind": "ray", "address": "local", "ray": "fake",
                                                               "cluster_gpus": 4.0}
    assert set(meta["workers"]) == {"Llama-3.2-1B:hf-eager", "Llama-3.2-1B:vllm-tp2"}
    assert meta["gpu"] == "H100-SXM-80GB" and meta["configs"]["vllm-tp2"]["versions"]["fake"] == "1"
    assert meta["idle_power_per_gpu_w"]["loaded:Llama-3.2-1B:vllm-tp2"] is not None
    assert not ray.initialized  # the session this started, it ended


def test_a_dead_worker_loses_only_its_cell_which_is_retried_and_one_that_always_dies_is_an_error(ray, tmp_path):
    Dying.deaths = {}
    g = grid(configs=[{"name": "hf-eager", "backend": "hf"}])
    run_campaign(g, tmp_path / "once", backend_factory=lambda name: Dying((2, 8)), meter_factory=TickingMeter)
    records = load_records(tmp_path / "once")
    assert len(records) == 8 and (records["status"] == "ok").all() and not records[KEY].duplicated().any()
    workers = json.loads((tmp_path / "once" / "run.json").read_text())["workers"]["Llama-3.2-1B:hf-eager"]
    assert len(workers) == 2 and "died" in workers[0] and "died" not in workers[1]
    Dying.deaths = {}
    run_campaign(g, tmp_path / "always", backend_factory=lambda name: Dying((2, 8), times=99),
                 meter_factory=TickingMeter, max_attempts=2)
    records = load_records(tmp_path / "always")
    dead = records[(records["batch_size"] == 2) & (records["input_tokens"] == 8)]
    assert list(dead["status"]) == ["error"] and dead["error"].str.contains("died 2 time").all()
    outcome = read_outcome(tmp_path / "always")
    assert (outcome.ok, outcome.error) == (3, 1)


def test_an_engine_that_does_not_load_is_said_and_the_others_go_on(ray, tmp_path):
    class Unloadable(FakeBackend):
        def load(self, arch, config):
            raise OSError("weights not found")

    def backend(name):
        return Unloadable() if name == "vllm" else FakeBackend()

    run_campaign(grid(), tmp_path / "run", backend_factory=backend, meter_factory=TickingMeter)
    outcome = read_outcome(tmp_path / "run")
    assert outcome.ok == 4 and outcome.not_reached == 4 and "weights not found" in outcome.load_error
    Dying.deaths = {}
    run_campaign(grid(configs=[{"name": "hf-eager", "backend": "hf"}]), tmp_path / "dies",
                 backend_factory=lambda name: Dying(None, on_load=True), meter_factory=TickingMeter, max_attempts=2)
    outcome = read_outcome(tmp_path / "dies")
    assert outcome.failed and "did not load: the worker died 2 time(s) while loading" in outcome.load_error


def test_a_cell_that_breaks_the_worker_is_an_error_and_a_close_that_fails_frees_the_gpus(ray, tmp_path, monkeypatch):
    real = fanout.measure_cell

    def breaks(backend, meter, g, cell, *args):
        if cell.batch_size == 2:
            raise RuntimeError("cannot pickle the result")
        return real(backend, meter, g, cell, *args)

    class CloseFails(FakeBackend):
        def close(self):
            raise RuntimeError("engine hung")

    monkeypatch.setattr(fanout, "measure_cell", breaks)
    run_campaign(grid(configs=[{"name": "hf-eager", "backend": "hf"}]), tmp_path / "run",
                 backend_factory=lambda name: CloseFails(), meter_factory=TickingMeter)
    records = load_records(tmp_path / "run")
    errors = records[records["status"] == "error"]
    assert len(errors) == 2 and errors["error"].str.contains("cannot pickle").all()
    assert all(a.dead for a in ray.actors) and read_outcome(tmp_path / "run").error == 2


def test_no_energy_sensor_is_said_once(ray, tmp_path):
    notices = []
    run_campaign(grid(), tmp_path / "run", backend_factory=lambda name: FakeBackend(),
                 meter_factory=lambda gpus: NullMeter("no NVML here"), on_notice=notices.append)
    assert len(notices) == 1 and "no NVML here" in notices[0]
    assert read_outcome(tmp_path / "run").null_reason == "no NVML here"


def test_a_driver_that_dies_is_resumed_without_losing_or_doubling_a_record(ray, tmp_path):
    g = grid()
    with pytest.raises(KeyboardInterrupt):
        run_campaign(g, tmp_path / "run", backend_factory=lambda name: FakeBackend(kill_after=5),
                     meter_factory=TickingMeter)
    before = rec.read_journal(tmp_path / "run")
    assert 0 < len(before) < 16 and read_outcome(tmp_path / "run") is None
    with pytest.raises(InputError, match="--resume"):
        run_campaign(g, tmp_path / "run", backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter)
    run_campaign(g, tmp_path / "run", resume=True, backend_factory=lambda name: FakeBackend(),
                 meter_factory=TickingMeter)
    records = load_records(tmp_path / "run")
    expected = {(*c.key, k) for c in expand_grid(g) for k in range(2)}
    assert set(map(tuple, records[KEY].values)) == expected and len(records) == 16
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["resumed"] and meta["status"] == "complete"


def test_an_engine_wider_than_any_node_is_refused_before_a_record_and_no_ray_before_a_folder(ray, tmp_path,
                                                                                           monkeypatch):
    with pytest.raises(InputError, match="needs 8 GPU"):
        run_campaign(grid(configs=[{"name": "tp8", "backend": "vllm", "tensor_parallel": 8}]), tmp_path / "run",
                     backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter)
    assert rec.read_journal(tmp_path / "run") == [] and not (tmp_path / "run" / rec.RUN_META).exists()
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match="Ray is not installed"):
        run_campaign(grid(), tmp_path / "none", backend_factory=lambda name: FakeBackend())
    assert not (tmp_path / "none").exists()


def test_an_engine_worker_runs_without_ray_on_the_gpus_it_is_given(ray):
    g = grid(configs=[{"name": "hf-eager", "backend": "hf"}])
    cells = expand_grid(g)
    worker = EngineWorker("r", g, "Llama-3.2-1B", g.configs[0], cells, lambda name: FakeBackend(), TickingMeter)
    ray.current = type("Actor", (), {"name": "w", "gpu_ids": [3]})()
    start = worker.start(gpu_indices=(3,))
    assert start.placement.gpu_indices == [3] and start.gpu == "H100-SXM-80GB" and start.waited_for_gpus_s >= 0
    rows = worker.measure(cells[0], {1})
    assert [r.repetition for r in rows] == [0] and rows[0].worker_id == "w"
    worker.close()

"""Campaigns on Ray (issue 18): a local Ray with 4 CPU "GPUs", a fake backend and meter, no GPU.

A campaign over 4 workers; a worker killed mid-cell (the cell is retried, nothing doubled); the driver
killed and the campaign resumed: every record exactly once.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from energy_predict.calibrate import records as rec
from energy_predict.calibrate.grid import expand_grid, parse_grid
from energy_predict.calibrate.sweep import read_outcome
from energy_predict.datasets import load_records
from tests.conftest import REPO
from tests.fakes import FakeBackend, TickingMeter, ray_runtime_env

ray = pytest.importorskip("ray")
from energy_predict.calibrate.fanout import run_campaign  # noqa: E402 - only once Ray is there

KEY = ["model", "config", "batch_size", "input_tokens", "output_tokens", "repetition"]


@pytest.fixture(scope="module")
def cluster():
    """One local Ray for the module: 4 CPUs, 4 fake GPUs; its address, for drivers in other processes."""
    ray.init(num_cpus=4, num_gpus=4, include_dashboard=False, log_to_driver=False, runtime_env=ray_runtime_env())
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


class DyingBackend(FakeBackend):
    """Kills its whole worker process on one (batch, input) shape: once (a marker file says so), or always."""

    def __init__(self, marker, die_on=None, always=False, sleep_s=0.0):
        super().__init__(sleep_s=sleep_s)
        self.marker, self.die_on, self.always = marker, die_on, always

    def prepare(self, cell):
        run = super().prepare(cell)

        def die_or_run():
            shape = (cell.batch_size, cell.input_tokens)
            if shape == self.die_on and (self.always or not os.path.exists(self.marker)):
                open(self.marker, "w").close()
                os._exit(1)  # no exception, no cleanup: the process is gone mid-cell
            return run()

        return die_or_run


def campaign_grid(**overrides):
    grid = {"name": "ray", "models": ["Llama-3.2-1B", "Llama-3.1-8B"],
            "configs": [{"name": "hf-eager", "backend": "hf"}, {"name": "vllm-tp2", "backend": "vllm",
                                                               "tensor_parallel": 2}],
            "blocks": [{"batch_sizes": [1, 2, 4], "input_tokens": [8, 16], "output_tokens": [1]}],
            "repetitions": 2, "min_window_s": 0.0, "warmup_runs": 1, "idle_seconds": 0.0}
    grid.update(overrides)
    return parse_grid(grid)


def assert_each_record_once(run_dir, grid):
    records = load_records(run_dir)
    journal = rec.read_journal(run_dir)
    expected = {(*c.key, k) for c in expand_grid(grid) for k in range(grid.repetitions)}
    ok = records[records["status"] == "ok"]
    assert not records[KEY].duplicated().any() and len(journal) == len(records)
    assert set(map(tuple, ok[KEY].values)) == expected and len(ok) == len(expected)
    return records


@pytest.mark.ray
def test_a_campaign_over_four_workers_records_every_repetition_once_with_where_it_ran(cluster, tmp_path):
    grid = campaign_grid()
    run_campaign(grid, tmp_path / "run", backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter)
    records = assert_each_record_once(tmp_path / "run", grid)
    assert (records["status"] == "ok").all() and read_outcome(tmp_path / "run").summary().startswith("24 cells: 24 ok")
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert len(meta["workers"]) == 4 and meta["runner"]["kind"] == "ray" and meta["status"] == "complete"
    for _, row in records.iterrows():  # every record says where it ran: node, its GPUs, the worker's versions
        assert row["node"] and len(row["gpu_uuids"]) == row["tensor_parallel"] == row["gpu_count"]
        assert all(u == f"GPU-fake-{i}" for u, i in zip(row["gpu_uuids"], row["gpu_indices"]))
        assert json.loads(row["worker_versions"])["ray"] == ray.__version__
    tp2 = records[records["config"] == "vllm-tp2"]
    assert list(tp2["energy_j"]) == pytest.approx(list(2 * 100 * tp2["duration_s"]))  # both GPUs metered
    assert len({tuple(g) for g in records["gpu_indices"]}) >= 2  # Ray spread the engines over the GPUs


@pytest.mark.ray
def test_a_worker_killed_mid_cell_loses_only_that_cell_which_is_retried(cluster, tmp_path):
    grid = campaign_grid(models=["Llama-3.2-1B"], blocks=[{"batch_sizes": [1, 2, 4], "input_tokens": [8, 16],
                                                           "output_tokens": [1]}])
    once, always = tmp_path / "died-once", tmp_path / "died-always"

    def backend(name):  # hf dies once on its first B=2 cell; the TP 2 engine on B=4 I=16 every time it is tried
        return DyingBackend(str(once), (2, 8)) if name == "hf" else DyingBackend(str(always), (4, 16), always=True)

    run_campaign(grid, tmp_path / "run", backend_factory=backend, meter_factory=TickingMeter, max_attempts=2)
    assert once.exists() and always.exists()
    records = load_records(tmp_path / "run")
    assert not records[KEY].duplicated().any()
    hf = records[records["config"] == "hf-eager"]
    assert len(hf) == 12 and (hf["status"] == "ok").all()  # the retried cell was measured, once
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    workers = meta["workers"]["Llama-3.2-1B:hf-eager"]
    assert len(workers) == 2 and "died" in workers[0] and "died" not in workers[1]
    order = [(c.batch_size, c.input_tokens) for c in expand_grid(grid) if c.config == "hf-eager"]
    by_worker = [hf[hf["worker_id"] == w["worker_id"]] for w in workers]
    first = {tuple(x) for x in by_worker[0][["batch_size", "input_tokens"]].values}
    second = {tuple(x) for x in by_worker[1][["batch_size", "input_tokens"]].values}
    assert first == set(order[:order.index((2, 8))]) and second == set(order[order.index((2, 8)):])  # only it lost
    tp2 = records[records["config"] == "vllm-tp2"]
    dead = tp2[(tp2["batch_size"] == 4) & (tp2["input_tokens"] == 16)]  # died on both attempts: one error record
    assert list(dead["status"]) == ["error"] and dead["error"].str.contains("died 2 time").all()
    assert (tp2["status"] == "ok").sum() == 10
    outcome = read_outcome(tmp_path / "run")
    assert (outcome.ok, outcome.error) == (11, 1) and meta["status"] == "incomplete"


class LoggingBackend(FakeBackend):
    """Appends 'load CONFIG' and 'close CONFIG' to a file shared by every worker, in the order they happen."""

    def __init__(self, log, sleep_s=0.02):
        super().__init__()
        self.log, self.sleep_s = log, sleep_s

    def load(self, arch, config):
        super().load(arch, config)
        self.config = config.name
        with open(self.log, "a") as f:
            f.write(f"load {self.config}\n")

    def prepare(self, cell):
        run = super().prepare(cell)
        return lambda: (time.sleep(self.sleep_s), run())[1]

    def close(self):
        with open(self.log, "a") as f:
            f.write(f"close {self.config}\n")


@pytest.mark.ray
def test_engines_start_in_the_grids_order_and_none_overtakes_one_waiting_for_gpus(cluster, tmp_path):
    # 4 GPUs: tp1-a starts; tp4 waits for all four, and tp1-b, listed after it, waits behind it (no overtaking),
    # although one GPU stays free meanwhile; tp2 and tp1-c then run side by side.
    # The order is the blocks': the configs are listed in another order, so that the blocks' is the one obeyed.
    order = [("tp1-a", 1), ("tp4", 4), ("tp1-b", 1), ("tp2", 2), ("tp1-c", 1)]
    configs = [{"name": n, "backend": "vllm", "tensor_parallel": tp} for n, tp in sorted(order, reverse=True)]
    blocks = [{"batch_sizes": [1, 2, 4], "input_tokens": [8, 16], "output_tokens": [1], "configs": [n]}
              for n, _ in order]
    grid = campaign_grid(models=["Llama-3.2-1B"], configs=configs, blocks=blocks)
    log = tmp_path / "events.log"
    run_campaign(grid, tmp_path / "run", backend_factory=lambda name: LoggingBackend(str(log)),
                 meter_factory=TickingMeter)
    assert_each_record_once(tmp_path / "run", grid)
    events = log.read_text().split("\n")
    at = {e: i for i, e in enumerate(events)}
    assert at["close tp1-a"] < at["load tp4"] < at["close tp4"] < at["load tp1-b"]
    assert at["close tp4"] < at["load tp2"] and at["close tp4"] < at["load tp1-c"]
    assert at["load tp1-c"] < at["close tp2"] or at["load tp2"] < at["close tp1-c"] or \
        at["load tp2"] < at["close tp1-b"]  # after the TP4 engine, the small ones shared the GPUs


@pytest.mark.ray
def test_an_engine_wider_than_any_node_is_refused_before_anything_runs(cluster, tmp_path):
    from energy_predict.errors import InputError

    grid = campaign_grid(configs=[{"name": "tp8", "backend": "vllm", "tensor_parallel": 8}])
    with pytest.raises(InputError, match="needs 8 GPU.*largest node of the Ray cluster has 4"):
        run_campaign(grid, tmp_path / "run", backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter)
    assert rec.read_journal(tmp_path / "run") == []


DRIVER = """
import sys
from tests.fakes import TickingMeter
from tests.test_fanout import DyingBackend, campaign_grid
from energy_predict.calibrate.fanout import run_campaign
run_campaign(campaign_grid(), sys.argv[2], address=sys.argv[1], meter_factory=TickingMeter,
             backend_factory=lambda name: DyingBackend("/nonexistent", sleep_s=0.05), table_every_s=0.0)
"""


@pytest.mark.ray
def test_the_driver_killed_and_resumed_loses_and_doubles_nothing(cluster, tmp_path):
    grid, run_dir = campaign_grid(), tmp_path / "run"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, cluster, str(run_dir)], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal, deadline = run_dir / rec.JOURNAL, time.monotonic() + 90
    while time.monotonic() < deadline and driver.poll() is None:
        if journal.is_file() and journal.read_bytes().count(b"\n") >= 12:
            break
        time.sleep(0.05)
    assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    before = rec.read_journal(run_dir)
    assert 12 <= len(before) < 48 and read_outcome(run_dir) is None  # killed mid-campaign
    run_campaign(grid, run_dir, resume=True, backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter)
    records = assert_each_record_once(run_dir, grid)
    assert {tuple(r[k] for k in KEY) for r in before} <= set(map(tuple, records[KEY].values))
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["resumed"] and meta["status"] == "complete"


@pytest.mark.ray
def test_calibrate_ray_alone_runs_the_campaign_on_this_machines_ray(cluster, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from energy_predict.calibrate import fanout
    from energy_predict.cli import app

    seen, real = [], fanout.run_campaign

    def with_fakes(grid, run_dir, *, address, **kwargs):  # the CLI's wiring, with the fake engine and meter
        seen.append(address)
        kwargs.update(backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter)
        return real(grid, run_dir, address=address, **kwargs)

    monkeypatch.setattr(fanout, "run_campaign", with_fakes)
    grid = tmp_path / "grid.json"
    grid.write_text(campaign_grid(models=["Llama-3.2-1B"], configs=[{"name": "hf-eager", "backend": "hf"}])
                    .model_dump_json())
    result = CliRunner().invoke(app, ["calibrate", str(grid), "--out", str(tmp_path / "run"), "--ray"])
    assert result.exit_code == 0, result.output
    assert seen == ["local"] and "6 cells: 6 ok" in result.output
    assert len(load_records(tmp_path / "run")) == 12

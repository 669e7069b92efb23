"""Replays on Ray (issue 18): a local Ray with 4 CPU "GPUs", a fake engine, meter and replay run; no GPU.

Several replays of one command over 4 workers, side by side, each written once as it comes back with where it
ran; a worker that dies mid-replay is retried once on a new worker; a TP 2 replay holds two GPUs; the CLI's
`replay ... --ray` with a real (tiny, CPU) HF engine.
"""

import itertools
import json
import os
import platform
import time

import pytest

from energy_predict.calibrate.replay import plan_replays, run_replays
from tests.conftest import tiny_llama_config
from tests.fakes import FakeBackend, TickingMeter, ray_runtime_env

ray = pytest.importorskip("ray")
from energy_predict.calibrate.replay import run_replays_on_ray  # noqa: E402 - only once Ray is there

WHERE = {"node", "ray_node_id", "worker_id", "gpu_indices", "gpu_uuids", "worker_versions", "waited_for_gpus_s",
         "runner", "engine_warmup"}


@pytest.fixture(scope="module")
def cluster():
    """One local Ray for the module: 4 CPUs, 4 fake GPUs."""
    ray.init(num_cpus=4, num_gpus=4, include_dashboard=False, log_to_driver=False, runtime_env=ray_runtime_env())
    yield
    ray.shutdown()


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "t.csv"
    rows = [f"{10 + 3 * k},{2 + k % 5},{0.5 * k}" for k in range(40)]
    path.write_text("input_tokens,output_tokens,arrival_s\n" + "\n".join(rows) + "\n")
    return path


def plan(trace, backend="vllm", modes=("offline", "online"), rates=(2.0, 4.0), poisson_rates=(), **kwargs):
    kwargs = {"n": 20, "seed": 1, "batch_size": 4, "cuda_graphs": True, "repetitions": 2, "max_input": 256,
              "max_output": 16, **kwargs}
    return plan_replays(trace, backend_name=backend, model="Llama-3.2-1B", modes=list(modes), rates=list(rates),
                        poisson_rates=tuple(poisson_rates), **kwargs)


class FakeRuns:
    """Replay runs that sleep, logging a `start` and an `end` event for each run to a file every worker appends to.

    `meet`: a run that starts waits (up to 60 s) until runs of `meet` different units have started, so replays
    that run side by side are seen to overlap in the events whatever the load, and replays run one after
    another are not. `die_on`: the unit whose first measured run kills its whole worker process: once (a marker
    file says so), or `always`. An offline unit's first call is its warm-up; an online unit's measured runs are
    its first calls.
    """

    def __init__(self, log, seconds=0.3, die_on=None, always=False, meet=1):
        self.log, self.seconds, self.die_on, self.always, self.meet = str(log), seconds, die_on, always, meet

    def __call__(self, backend, plan, unit):
        calls = itertools.count(1)
        first_measured = 2 if unit.mode == "offline" else 1

        def run():
            k = next(calls)
            marker = f"{self.log}.{unit.name}.died"
            if unit.name == self.die_on and k == first_measured and (self.always or not os.path.exists(marker)):
                open(marker, "w").close()
                os._exit(1)  # no exception, no cleanup: the worker is gone mid-replay
            with open(self.log, "a") as f:
                f.write(f"start {unit.name} {unit.mode}\n")
            deadline = time.monotonic() + 60
            while len(started(self.log)) < self.meet and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(self.seconds)
            with open(self.log, "a") as f:
                f.write(f"end {unit.name} {unit.mode}\n")

        return run


def events(log):
    """(event, unit) in the order the workers appended them."""
    return [tuple(line.split()[:2]) for line in open(log).read().splitlines()]


def started(log):
    return {name for event, name in events(log) if event == "start"} if os.path.exists(log) else set()


def most_at_once(log):
    """The most units with a run started and not yet ended at one point of the event sequence."""
    running, most = {}, 0
    for event, name in events(log):
        running[name] = running.get(name, 0) + (1 if event == "start" else -1)
        most = max(most, sum(1 for n in running.values() if n > 0))
    return most


@pytest.mark.ray
def test_several_replays_run_side_by_side_over_four_workers_each_written_once_as_it_comes_back(
        cluster, trace, tmp_path):
    p = plan(trace, rates=(2.0, 4.0, 8.0), poisson_rates=(3.0,))
    out, log, seen = tmp_path / "replays", tmp_path / "runs.log", []

    def on_result(record):  # written before the next one comes back, not at the end
        seen.append(record.name)
        assert sorted(x.stem for x in out.glob("*.json")) == sorted(seen)

    outcome = run_replays_on_ray(p, out, backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter,
                                 runner_factory=FakeRuns(log, meet=2), idle_s=0.0, on_result=on_result)
    names = [u.name for u in p.units]
    assert names == ["vllm-t-offline", "vllm-t-online-2", "vllm-t-online-4", "vllm-t-online-8", "vllm-t-poisson-3"]
    assert outcome.failed == {} and sorted(seen) == sorted(names) == sorted(r.name for r in outcome.written)
    assert sorted(os.listdir(out)) == sorted(f"{n}.json" for n in names)  # each once, no partial file left
    records = {n: json.loads((out / f"{n}.json").read_text()) for n in names}
    for r in records.values():  # where it ran: node, its GPU, the worker's versions
        assert r["node"] == platform.node() and len(r["gpu_indices"]) == 1
        assert r["gpu_uuids"] == [f"GPU-fake-{r['gpu_indices'][0]}"]
        assert json.loads(r["worker_versions"])["ray"] == ray.__version__ == r["runner"]["ray"]
        assert r["runner"]["attempt"] == 1 and r["runner"]["address"] == "local"
        assert len(r["runs"]) == 2 and all(x["energy_j"] == pytest.approx(100 * x["duration_s"]) for x in r["runs"])
        assert r["config"]["tensor_parallel"] == 1 and r["meter"]["gpus"][0]["uuid"] == r["gpu_uuids"][0]
    assert len({r["worker_id"] for r in records.values()}) == 5  # one worker per replay
    assert len({r["gpu_indices"][0] for r in records.values()}) >= 2
    assert most_at_once(log) >= 2  # side by side, not one after another
    online = records["vllm-t-online-4"]
    assert (online["mode"], online["rate_per_s"], online["arrivals"]) == ("online", 4.0, "trace")
    assert online["engine_warmup"] == "offline" and "engine_warmup" not in records["vllm-t-offline"]
    assert records["vllm-t-poisson-3"]["arrivals"] == "poisson"
    unit = p.units[2]
    assert online["requests"]["arrival_s"] == [round(float(a), 4) for a in unit.reqs.arrival_s]
    # the same command without Ray writes the same replays, each with the same fields but where it ran
    local = [r.to_json() for r in run_replays(
        p, tmp_path / "local", gpus=(0,), backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter,
        runner_factory=FakeRuns(tmp_path / "local.log", 0.0), idle_s=0.0)]
    assert [r["name"] for r in local] == names and sorted(os.listdir(tmp_path / "local")) == sorted(os.listdir(out))
    for r in local:
        assert set(records[r["name"]]) - WHERE == set(r) and not set(r) & WHERE
        assert records[r["name"]]["requests"] == r["requests"]


@pytest.mark.ray
def test_a_worker_that_dies_mid_replay_is_retried_once_on_a_new_worker_and_recorded_once(cluster, trace, tmp_path):
    p = plan(trace, rates=(2.0, 4.0))
    out, log = tmp_path / "replays", tmp_path / "runs.log"
    runs = FakeRuns(log, seconds=0.05, die_on="vllm-t-online-4")
    seen, notes = [], []
    outcome = run_replays_on_ray(p, out, backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter,
                                 runner_factory=runs, idle_s=0.0, on_result=lambda r: seen.append(r.name),
                                 on_step=notes.append)
    assert os.path.exists(f"{log}.vllm-t-online-4.died")  # it did die
    assert outcome.failed == {} and sorted(seen) == sorted(u.name for u in p.units)  # each recorded once
    retried = json.loads((out / "vllm-t-online-4.json").read_text())
    assert retried["runner"]["attempt"] == 2 and len(retried["runs"]) == 2
    runs_of_it = events(log).count(("end", "vllm-t-online-4"))  # runs that ran to their end
    assert runs_of_it == 1 + (1 + 2)  # the dead worker's warm-up; the new one's warm-up and two measured runs
    assert any("vllm-t-online-4: the worker died" in n for n in notes)
    others = [json.loads((out / f"{n}.json").read_text()) for n in ("vllm-t-offline", "vllm-t-online-2")]
    assert [r["runner"]["attempt"] for r in others] == [1, 1]
    assert retried["worker_id"] not in {r["worker_id"] for r in others}

    # a replay whose worker dies every time: tried twice, then said to have no record; the others are written
    always = FakeRuns(tmp_path / "again.log", seconds=0.05, die_on="vllm-t-offline", always=True)
    outcome = run_replays_on_ray(p, tmp_path / "again", backend_factory=lambda name: FakeBackend(),
                                 meter_factory=TickingMeter, runner_factory=always, idle_s=0.0)
    assert list(outcome.failed) == ["vllm-t-offline"]
    assert outcome.failed["vllm-t-offline"].startswith("the worker died 2 time(s)")
    assert sorted(os.listdir(tmp_path / "again")) == ["vllm-t-online-2.json", "vllm-t-online-4.json"]


@pytest.mark.ray
def test_a_tensor_parallel_replay_holds_and_meters_its_gpus_and_one_wider_than_any_node_is_refused(
        cluster, trace, tmp_path):
    from energy_predict.errors import InputError

    p = plan(trace, modes=("online",), rates=(2.0, 4.0, 8.0), tensor_parallel=2)
    outcome = run_replays_on_ray(p, tmp_path / "tp2", backend_factory=lambda name: FakeBackend(),
                                 meter_factory=TickingMeter, runner_factory=FakeRuns(tmp_path / "log"), idle_s=0.0)
    assert outcome.failed == {} and len(outcome.written) == 3
    for r in (w.to_json() for w in outcome.written):
        assert len(set(r["gpu_indices"])) == 2 and r["config"]["tensor_parallel"] == 2
        assert r["runs"][0]["energy_j"] == pytest.approx(2 * 100 * r["runs"][0]["duration_s"])  # both GPUs
    with pytest.raises(InputError, match="needs 8 GPU.*largest node of the Ray cluster has 4.*--tp"):
        run_replays_on_ray(plan(trace, tensor_parallel=8), tmp_path / "tp8", backend_factory=lambda name: FakeBackend(),
                           meter_factory=TickingMeter, runner_factory=FakeRuns(tmp_path / "log8"), idle_s=0.0)
    assert not (tmp_path / "tp8").exists()


@pytest.mark.ray
def test_replay_ray_alone_runs_a_real_hf_replay_on_this_machines_ray(cluster, trace, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from energy_predict.calibrate import replay
    from energy_predict.cli import app

    seen, real = [], replay.run_replays_on_ray

    def with_fake_meter(plan, out_dir, *, address, **kwargs):  # the CLI's wiring; the engine is HF's own, on CPU
        seen.append(address)
        return real(plan, out_dir, address=address, meter_factory=TickingMeter, idle_s=0.0, **kwargs)

    monkeypatch.setattr(replay, "run_replays_on_ray", with_fake_meter)
    config = tmp_path / "tiny" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps(tiny_llama_config()))
    result = CliRunner().invoke(app, ["replay", str(trace), "--backend", "hf", "--model", str(config), "--n", "6",
                                      "--batch-size", "4", "--max-input", "32", "--max-output", "4",
                                      "--repetitions", "1", "--out", str(tmp_path / "out"), "--ray"])
    assert result.exit_code == 0, result.output
    assert seen == ["local"] and "hf-t-offline: energy" in result.output and " GPU [" in result.output
    record = json.loads((tmp_path / "out" / "hf-t-offline.json").read_text())
    assert record["batches"] == [[0, 1, 2, 3], [4, 5]] and record["versions"]["device"] == "cpu"
    assert record["gpu_uuids"] == [f"GPU-fake-{record['gpu_indices'][0]}"] and record["runner"]["attempt"] == 1


@pytest.mark.parametrize("args, field", [
    (["--backend", "hf", "--tp", "2", "--ray"], "--tp"),
    (["--tp", "2", "--devices", "0"], "--devices"),
])
def test_bad_tensor_parallel_replays_give_one_line_and_exit_2(trace, tmp_path, args, field):
    from typer.testing import CliRunner

    from energy_predict.cli import app

    result = CliRunner().invoke(app, ["replay", str(trace), "--out", str(tmp_path / "out"), *args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and field in lines[0]
    assert not (tmp_path / "out").exists()

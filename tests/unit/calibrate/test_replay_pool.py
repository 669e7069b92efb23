"""Replays through the backends' verbs, locally and on the Ray pool (an in-process fake Ray)."""

import json
import sys

import pytest

from energy_predict.calibrate.replay import (
    ReplayUnit,
    plan_replays,
    replay_runner,
    run_replays,
    run_replays_on_ray,
)
from energy_predict.calibrate.trace_requests import replay_requests
from energy_predict.datasets import load_replay_records
from tests.fakes import FakeBackend, FakeRay, TickingMeter, WorkerDeath


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "t.csv"
    rows = [f"{10 + 3 * k},{2 + k % 5},{0.5 * k}" for k in range(40)]
    path.write_text("input_tokens,output_tokens,arrival_s\n" + "\n".join(rows) + "\n")
    return path


def plan(trace, backend="vllm", modes=("offline", "online"), rates=(2.0,), **kwargs):
    kwargs = {"n": 10, "seed": 1, "batch_size": 4, "cuda_graphs": True, "repetitions": 2, "max_input": 256,
              "max_output": 16, **kwargs}
    return plan_replays(trace, backend_name=backend, model="Llama-3.2-1B", modes=list(modes), rates=list(rates),
                        **kwargs)


def test_replays_reach_the_engine_only_through_the_backends_verbs(trace):
    hf, vllm = plan(trace, "hf", modes=("offline",)), plan(trace)
    backend = FakeBackend()
    replay_runner(backend, hf, hf.units[0])()
    assert backend.served == [("batch", 4), ("batch", 4), ("batch", 2)]  # HF: fixed batches, in arrival order
    backend.served.clear()
    for unit in vllm.units:
        replay_runner(backend, vllm, unit)()
    assert backend.served == [("batch", 10), ("serve", 10)]  # vLLM: all at once, then at the arrival times
    requests = replay_requests(vllm.units[0].reqs, vllm.arch.vocab_size)
    assert [len(r.prompt_token_ids) for r in requests] == vllm.units[0].reqs.input_tokens.tolist()
    assert [r.output_tokens for r in requests] == vllm.units[0].reqs.output_tokens.tolist()


def test_local_replays_write_records_that_read_back_through_the_contract(trace, tmp_path):
    p = plan(trace)
    steps = []
    records = run_replays(p, tmp_path / "out", gpus=(0,), backend_factory=lambda name: FakeBackend(),
                          meter_factory=TickingMeter, idle_s=0.0, on_step=steps.append)
    assert [r.name for r in records] == ["vllm-t-offline", "vllm-t-online-2"] and len(steps) == 2
    assert load_replay_records(tmp_path / "out") == records
    online = records[1]
    assert (online.mode, online.rate_per_s, online.arrivals, online.engine_warmup) == ("online", 2.0, "trace", None)
    assert all(r.prefix_cache is not None and r.prefix_cache.null_reason for r in online.runs)  # no counters: why
    data = json.loads((tmp_path / "out" / "vllm-t-offline.json").read_text())
    assert "node" not in data and "engine_warmup" not in data and data["trace_hit_rate"] is None


class Runs:
    """Replay runs that kill their worker (`die`: on every run of that unit, `times` times) or raise (`fail`)."""

    deaths = 0

    def __init__(self, die=None, times=1, fail=None):
        self.die, self.times, self.fail = die, times, fail

    def __call__(self, backend, plan, unit):
        def run():
            if unit.name == self.die and unit.mode == "online" and Runs.deaths < self.times:
                Runs.deaths += 1
                raise WorkerDeath
            if unit.name == self.fail:
                raise RuntimeError("engine crashed")

        return run


def test_on_the_pool_each_replay_is_its_own_worker_a_death_is_tried_again_and_an_error_is_not(trace, tmp_path,
                                                                                             monkeypatch):
    ray = FakeRay(gpus=2)
    monkeypatch.setitem(sys.modules, "ray", ray)
    p = plan(trace, rates=(2.0, 4.0))
    Runs.deaths = 0
    written, steps = [], []
    outcome = run_replays_on_ray(p, tmp_path / "out", backend_factory=lambda name: FakeBackend(),
                                 meter_factory=TickingMeter, runner_factory=Runs(die="vllm-t-online-4"), idle_s=0.0,
                                 on_result=written.append, on_step=steps.append)
    assert outcome.failed == {} and [r.name for r in outcome.written] == [r.name for r in written]
    by_name = {r.name: r for r in load_replay_records(tmp_path / "out")}
    assert sorted(by_name) == sorted(u.name for u in p.units)
    assert by_name["vllm-t-online-4"].runner.attempt == 2 and by_name["vllm-t-online-2"].runner.attempt == 1
    assert by_name["vllm-t-online-2"].engine_warmup == "offline" and by_name["vllm-t-offline"].engine_warmup is None
    assert by_name["vllm-t-offline"].gpu_uuids == [f"GPU-fake-{by_name['vllm-t-offline'].gpu_indices[0]}"]
    assert any("vllm-t-online-4: the worker died" in s for s in steps)
    assert len(ray.actors) == 4 and all(a.dead for a in ray.actors)

    Runs.deaths = 0
    outcome = run_replays_on_ray(p, tmp_path / "again", backend_factory=lambda name: FakeBackend(),
                                 meter_factory=TickingMeter, idle_s=0.0,
                                 runner_factory=Runs(die="vllm-t-online-4", times=9, fail="vllm-t-online-2"))
    assert outcome.failed["vllm-t-online-4"].startswith("the worker died 2 time(s)")
    assert outcome.failed["vllm-t-online-2"] == "engine crashed"  # raised: not tried again
    assert [r.name for r in outcome.written] == ["vllm-t-offline"]


def test_a_replay_unit_says_how_it_is_run(trace):
    p = plan(trace, poisson_rates=(3.0,))
    assert [u.describe("vllm") for u in p.units] == ["vllm offline", "vllm online 2.0 req/s (trace arrivals)",
                                                      "vllm online 3.0 req/s (poisson arrivals)"]
    assert ReplayUnit("x", "offline", p.units[0].reqs).describe("hf") == "hf offline"

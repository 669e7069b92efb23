import json

import numpy as np
import pytest

from energy_predict.architectures import REGISTRY
from energy_predict.gpus import CATALOG
from energy_predict.model.store import load_default_model
from energy_predict.predict.replays import load_replays, predict_replay
from energy_predict.prefix import trace_hit_rate
from energy_predict.serving import Deployment


def replay_record(backend: str, mode: str, measured_j: float, **extra) -> dict:
    rng = np.random.default_rng(0)
    n = 32
    return {"name": f"{backend}-{mode}", "trace": "synthetic", "model": "Llama-3.1-8B", "backend": backend,
            "mode": mode, "config": {"backend": backend, "cuda_graphs": backend == "vllm", "max_num_seqs": 256},
            "meter": {"gpus": [{"name": "NVIDIA H100 80GB HBM3"}]}, "loaded_idle_power_w": 120.0,
            "runs": [{"energy_j": measured_j, "duration_s": 60.0}, {"energy_j": measured_j * 1.02, "duration_s": 60.0}],
            "requests": {"input_tokens": rng.integers(100, 2000, n).tolist(),
                         "output_tokens": rng.integers(1, 200, n).tolist(),
                         "arrival_s": np.sort(rng.uniform(0, 55, n)).tolist()}, **extra}


def test_predictions_for_each_replay_kind(tmp_path):
    model = load_default_model()
    hf = predict_replay(replay_record("hf", "offline", 1.0, batches=[list(range(16)), list(range(16, 32))]), model)
    off = predict_replay(replay_record("vllm", "offline", 1.0), model)
    on = predict_replay(replay_record("vllm", "online", 1.0, rate_per_s=0.5), model)
    assert hf["predicted_j"] > off["predicted_j"] > 0  # padding and no continuous batching cost HF more
    assert on["predicted_j"] > off["predicted_j"]  # 60 s of mostly idle GPU at 120 W
    assert on["predicted_j"] >= 0.9 * 120.0 * 60.0
    for r in (hf, off, on):
        assert r["low_j"] < r["predicted_j"] < r["high_j"]
        assert r["measured_spread_pct"] == pytest.approx(2.0, rel=0.01)


def test_error_and_coverage_are_computed_against_the_measured_mean(tmp_path):
    model = load_default_model()
    guess = predict_replay(replay_record("vllm", "offline", 1.0), model)["predicted_j"]
    record = replay_record("vllm", "offline", guess / 1.01)
    (tmp_path / "r.json").write_text(json.dumps(record))
    (row,) = [predict_replay(r, model) for r in load_replays(tmp_path)]
    assert row["error_pct"] == pytest.approx(0.0, abs=0.01) and row["covered"]


def test_the_replays_token_budget_reaches_the_simulator():
    model = load_default_model()
    wide = replay_record("vllm", "offline", 1.0)
    narrow = replay_record("vllm", "offline", 1.0)
    narrow["config"] = {**narrow["config"], "max_num_batched_tokens": 256}
    # 256-token steps split every prompt into chunks: more steps, each paying the weights' read again
    assert predict_replay(narrow, model)["predicted_j"] > 1.05 * predict_replay(wide, model)["predicted_j"]


class PrefixEngine:
    """A fake vLLM backend with the two prefix verbs: a call log and counters that grow 1000/400 tokens a run."""

    name = "vllm"

    def __init__(self):
        self.log, self.queries, self.hits = [], 0, 0

    def load(self, arch, config):
        self.log.append("load")

    def reset_prefix_cache(self):
        self.log.append("reset")

    def prefix_cache_counters(self):
        self.log.append("counters")
        return {"queries_tokens": self.queries, "hits_tokens": self.hits, "null_reason": None}

    def synchronize(self):
        pass

    def close(self):
        pass

    def versions(self):
        return {"vllm": "fake"}


@pytest.mark.parametrize("caching", [True, False])
def test_a_mooncake_replay_record_carries_its_prefix_fields_and_predict_reads_it(tmp_path, caching):
    from energy_predict.calibrate.replay import plan_replays, run_replays
    from tests.fakes import TickingMeter
    from tests.test_replay import mooncake

    engine = PrefixEngine()

    def runner(backend, plan, unit):
        def run():
            engine.log.append("run")
            engine.queries, engine.hits = engine.queries + 1000, engine.hits + (400 if caching else 0)
        return run

    plan = plan_replays(mooncake(tmp_path), backend_name="vllm", model="Llama-3.1-8B", n=4, seed=0,
                        modes=["offline"], rates=[], batch_size=4, cuda_graphs=True, repetitions=2, max_input=None,
                        max_output=16, prefix_caching=caching, sample="conversations")
    assert plan.config.prefix_caching is caching and plan.config.engine.log_stats  # same engine either way
    assert plan.config.engine.max_model_len == 16384 + 16 + 16  # the default for a trace with blocks
    run_replays(plan, tmp_path / "out", gpus=(0,), backend_factory=lambda name: engine, meter_factory=TickingMeter,
                runner_factory=runner, idle_s=0.0)
    cycle = ["reset"] * caching + ["counters", "run", "counters"]
    assert engine.log == ["load", "run", *cycle, *cycle]  # warm-up, then each run from an empty cache
    (record,) = load_replays(tmp_path / "out")
    suffix = "-prefix-caching" if caching else ""
    assert record["name"] == f"vllm-m-conversations{suffix}-offline"
    assert record["prefix_caching"] is caching and record["sample"] == "conversations"
    assert record["trace_block_tokens"] == 512 and record["trace_hit_rate"] == pytest.approx(
        trace_hit_rate(record["requests"]["hash_ids"], record["requests"]["input_tokens"]))
    assert 0 < record["trace_hit_rate"] < 1
    assert record["requests"]["hash_ids"] == [[0, 1], [0, 2], [0, 1, 3], [0, 2, 4, 5, 6]]
    for run in record["runs"]:
        assert run["prefix_cache"] == {"queries_tokens": 1000, "hits_tokens": 400 if caching else 0,
                                       "hit_rate": 0.4 if caching else 0.0, "null_reason": None}
    row = predict_replay(record, load_default_model())
    assert row["requests"] == 4 and row["predicted_j"] > 0 and row["low_j"] < row["predicted_j"] < row["high_j"]


def test_a_replay_with_prefix_caching_skips_the_blocks_it_has_seen_and_costs_less_than_without():
    from energy_predict.predict.replays import replay_cached_tokens
    from energy_predict.serving_spec import serving_of_record

    model = load_default_model()
    ids = [[0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4], [7, 8]]  # each turn repeats the one before it, then a stranger
    record = {"name": "m", "trace": "m.jsonl", "model": "Llama-3.1-8B", "backend": "vllm", "mode": "offline",
              "meter": {"gpus": [{"name": "NVIDIA H100 80GB HBM3"}]}, "loaded_idle_power_w": 124.0,
              "trace_block_tokens": 512, "runs": [{"energy_j": 1000.0, "duration_s": 1.0}],
              "config": {"backend": "vllm", "cuda_graphs": True, "max_num_seqs": 256, "max_num_batched_tokens": 8192,
                         "enable_prefix_caching": True},
              "requests": {"input_tokens": [1536, 2048, 2560, 1024], "output_tokens": [32] * 4, "arrival_s": [0.0] * 4,
                           "hash_ids": ids}}
    off = {**record, "config": {**record["config"], "enable_prefix_caching": False}}
    dep = Deployment(REGISTRY["Llama-3.1-8B"], CATALOG["H100-SXM-80GB"], serving_of_record(record["config"]))
    assert replay_cached_tokens(record, dep).tolist() == [0, 1536, 2048, 0]  # the leading blocks seen before
    assert replay_cached_tokens(off, dep.with_serving(prefix_caching=False)) is None
    on_j, off_j = predict_replay(record, model)["predicted_j"], predict_replay(off, model)["predicted_j"]
    assert on_j < off_j

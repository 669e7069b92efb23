import json

import numpy as np
import pytest

from energy_predict.model.store import load_default_model
from energy_predict.predict.replays import load_replays, predict_replay


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

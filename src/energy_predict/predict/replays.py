"""Predictions for recorded replays: the same requests, batches and arrival times as the GPU run.

- HF offline: each fixed batch is a batch of its size, padded to its longest input and run for its
  longest output (what `generate` does), so the batch model applies at (B, max I, max O), plus what the
  attention mask of a padded batch costs (model/padding.py, from a measured A/B).
- vLLM offline: every request arrives at once; the continuous-batching simulator runs them.
- vLLM online: the simulator with the replay's arrival times over the measured window, idle power between.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from energy_predict.architectures import resolve_architecture
from energy_predict.fitted import EnergyModel
from energy_predict.gpus import resolve_gpu
from energy_predict.memory import kv_token_capacity
from energy_predict.predict.online import simulate
from energy_predict.predict.padded import batches_phases
from energy_predict.predict.serving import engine_for
from energy_predict.prefix import trace_cached_tokens
from energy_predict.serving import Deployment, Serving, Speculation
from energy_predict.serving_spec import config_of_record


def acceptance_of_synthetic(per_token: float, draft_tokens: int) -> float:
    """VLLM's accepted / drafted tokens for a synthetic per-token acceptance `per_token` (0..1).

    The backend asks vLLM to accept drafted position j (1..k) with probability per_token^j (all of the first j
    accepted), so a step accepts sum_j per_token^j tokens on average, of k drafted.
    """
    if not 0.0 <= per_token <= 1.0 or draft_tokens < 1:
        raise ValueError("per_token must be in [0, 1] and draft_tokens >= 1")
    return sum(per_token ** j for j in range(1, draft_tokens + 1)) / draft_tokens


def serving_of_replay(config: dict) -> Serving:
    """The serving configuration a replay record ran, as the planner takes it.

    A speculative config carries vLLM's synthetic per-token acceptance; the planner takes accepted / drafted tokens
    (`acceptance_of_synthetic`). A draft without a synthetic acceptance has no acceptance to plan with: ValueError.
    """
    c = config_of_record(config)
    serving = c.serving
    if c.speculative is not None:
        if c.speculative.synthetic_acceptance is None:
            raise ValueError(f"{c.name}: speculative decoding without synthetic_acceptance has no acceptance rate "
                             "to plan with")
        k = c.speculative.draft_tokens
        serving = serving.with_(speculative=Speculation(c.speculative.draft, k, acceptance_of_synthetic(
            c.speculative.synthetic_acceptance, k)))
    return serving


def load_replays(folder: Path) -> list[dict]:
    """Every replay record (`*.json` written by `energy-predict replay`) under `folder`."""
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("*.json")) if p.name != "run.json"]


def replay_cached_tokens(replay: dict, dep: Deployment) -> np.ndarray | None:
    """Each request's prompt tokens found in the prefix cache, for a replay with caching on and block ids.

    The requests in their recorded (arrival) order, a least-recently-used cache of the engine's KV capacity
    (energy_predict/prefix.py, as a profile built from the trace); None where caching was off or the requests
    carry no block ids (their prompts share nothing).
    """
    ids = replay["requests"].get("hash_ids")
    if not dep.serving.prefix_caching or ids is None:
        return None
    return trace_cached_tokens(ids, replay["requests"]["input_tokens"], replay.get("trace_block_tokens") or 512,
                               kv_token_capacity(dep))


def predict_replay(replay: dict, model: EnergyModel, own_idle: bool = True) -> dict:
    """Predicted energy (J) with its interval for one replay record, beside the measured runs.

    `own_idle`: charge idle at the replay's own loaded-idle reading where it has one (False: the model's, as for a
    GPU whose idle was never read). Time is predicted offline only: an online replay's window is its measured one.
    """
    arch = resolve_architecture(replay["model"])
    gpus = replay["meter"].get("gpus") or [{"name": "NVIDIA H100 80GB HBM3"}]
    gpu = resolve_gpu(gpus[0]["name"])
    serving = serving_of_replay(replay["config"])
    req = replay["requests"]
    i = np.asarray(req["input_tokens"])
    o = np.asarray(req["output_tokens"])
    measured = [r["energy_j"] for r in replay["runs"] if r["energy_j"] is not None]
    durations = [r["duration_s"] for r in replay["runs"]]
    dep = Deployment(arch, gpu, serving, serving.tensor_parallel)
    basis = model.basis(dep)
    lo, hi = basis.log_bounds
    # idle at the replay's own reading is that replay's, exact; at the model's, the readings' spread (or, where the
    # model's idle is a rule, the busy energy's interval)
    idle_lo, idle_hi = basis.idle_relative((np.exp(lo), np.exp(hi)))
    if replay["backend"] == "hf":
        padded = batches_phases(model, dep, i, o, replay["batches"])
        prefill, decode, extra, seconds = padded.prefill_j, padded.decode_j, padded.padding_j, padded.engine_s
        busy, idle = prefill + decode + extra, 0.0
    else:
        costs = model.step_costs(dep)
        energy, time = costs.energy, costs.time
        engine = engine_for(dep, model)
        # the replay's own reading first: the meter sums the engine's GPUs
        if own_idle and replay.get("loaded_idle_power_w"):
            engine = replace(engine, idle_w=replay["loaded_idle_power_w"])
            idle_lo = idle_hi = 1.0
        online = replay["mode"] == "online"
        arrivals = np.asarray(req["arrival_s"]) if online else np.zeros(len(i))
        period = float(np.median(durations)) if online else None
        result = simulate(i, o, arrivals, energy, time, engine, period_s=period, backlog_limit=len(i) + 1,
                          cached=replay_cached_tokens(replay, dep))
        busy, idle = result.busy_energy_j, result.idle_energy_j
        seconds = None if online else result.period_s
    predicted = busy + idle
    low, high = busy * np.exp(lo) + idle * idle_lo, busy * np.exp(hi) + idle * idle_hi
    mean = float(np.mean(measured)) if measured else None
    return {
        "name": replay["name"], "trace": replay["trace"], "backend": replay["backend"], "mode": replay["mode"],
        "gpu": gpu.name, "prefix_caching": serving.prefix_caching,
        "rate_per_s": replay.get("rate_per_s"), "requests": len(i), "measured_j": measured,
        "arrivals": replay.get("arrivals", "trace") if replay["mode"] == "online" else None,
        "measured_spread_pct": 100 * (max(measured) - min(measured)) / mean if len(measured) > 1 else None,
        "predicted_j": predicted, "low_j": low, "high_j": high, "busy_j": busy, "idle_j": idle,
        "error_pct": 100 * (predicted / mean - 1) if mean else None,
        "covered": bool(low <= mean <= high) if mean else None,
        "measured_s": float(np.median(durations)), "predicted_s": seconds,
        "time_error_pct": 100 * (seconds / np.median(durations) - 1) if seconds is not None else None,
    }

"""Cheap bounds on an engine before it is simulated: the rate it can sustain, lone-request latencies, energy.

All come from the same step costs the simulator steps with, summed over the requests in closed form (numpy), so a
bound costs about a millisecond where a simulation of an hour of traffic costs about a second:

- sustainable rate: every decode step full (the batch cap, or as many sequences as the KV cache holds) and every
  prefill chunk filling the token budget; the simulated engine can only do worse, so an offered rate above
  headroom x this is infeasible without simulating it, and the row's utilisation is offered / this rate;
- latency floors: a request alone on the engine (no queue, no other sequence); a quantile of them above a
  target is a miss no number of engines can mend;
- optimistic energy: every GPU at its loaded idle power for the whole period, plus the work above idle at full
  batches. Online batches are smaller, so the simulated energy is above it (`plan_search` prunes with it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energy_predict.fitted import StepCosts
from energy_predict.predict.online import Engine, _bounded


@dataclass(frozen=True)
class EngineBounds:
    """One engine configuration's bounds over a workload's requests (seconds, joules, watts)."""

    sustainable_rate_per_s: float  # of one engine, at full batches
    above_idle_j: float  # the whole workload's optimistic work above the engine's idle power
    idle_w: float  # the engine's loaded idle (all its GPUs)
    ttft_floor_s: tuple[float, float]  # p90, p99 of a lone request's time to first token
    tpot_floor_s: tuple[float, float]  # p90, p99 of a lone request's time per output token


def _new_pairs(inputs: np.ndarray, cached: np.ndarray) -> np.ndarray:
    """Attention (query, key) pairs of prefilling tokens cached+1 .. input, each attending to all before it."""
    return (inputs * (inputs + 1) - cached * (cached + 1)) / 2.0


def _work(c: StepCosts, inputs, outputs, cached, batch: float, budget: int) -> np.ndarray:
    """Each request's share of full-batch steps: prefill chunks filling the budget, decode steps of `batch`."""
    new = inputs - cached
    prefill = c.prefill_const * new / budget + c.prefill_linear * new + c.prefill_attention * _new_pairs(inputs,
                                                                                                        cached)
    per_step = c.step_const + c.per_expert * c.experts_touched(batch)
    decode = (outputs - 1) * (per_step / batch + c.per_sequence + c.per_context_token * (inputs + outputs / 2.0))
    return prefill + decode


def _alone(c: StepCosts, inputs, outputs, cached, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """A lone request's time to its first token (its prefill chunks) and per later token (decode steps of one)."""
    new = inputs - cached
    chunks = np.maximum(np.ceil(new / budget), 1)
    first = c.prefill_const * chunks + c.prefill_linear * new + c.prefill_attention * _new_pairs(inputs, cached)
    step = (c.step_const + c.per_expert * c.experts_touched(1) + c.per_sequence
            + c.per_context_token * (inputs + outputs / 2.0))
    return first, step


def engine_bounds(energy: StepCosts, time: StepCosts, engine: Engine, inputs: np.ndarray, outputs: np.ndarray,
                  cached: np.ndarray) -> EngineBounds:
    """The bounds of one engine configuration over these requests (`cached`: prompt tokens found in the cache)."""
    i = np.asarray(inputs, float)
    o = np.maximum(np.asarray(outputs, float), 1.0)
    c = np.minimum(np.asarray(cached, float), i)
    mean_context = float(np.mean(i + o / 2.0)) if len(i) else 1.0
    batch = float(max(1, min(engine.max_num_seqs, engine.kv_capacity_tokens // max(int(mean_context), 1))))
    budget = engine.max_num_batched_tokens
    e_j = float(_work(energy, i, o, c, batch, budget).sum())
    t_s = float(_work(time, i, o, c, batch, budget).sum())
    e_j, t_s = _bounded(e_j, t_s, engine)  # a full engine draws at most its power limit: time stretches there
    first, step = _alone(time, i, o, c, budget)
    multi = o > 1
    tpot = step[multi] if multi.any() else np.zeros(1)
    return EngineBounds(
        sustainable_rate_per_s=len(i) / t_s if t_s > 0 else float("inf"),
        above_idle_j=max(0.0, e_j - engine.idle_w * t_s), idle_w=engine.idle_w,
        ttft_floor_s=(float(np.quantile(first, 0.9)), float(np.quantile(first, 0.99))),
        tpot_floor_s=(float(np.quantile(tpot, 0.9)), float(np.quantile(tpot, 0.99))))


def optimistic_energy_j(b: EngineBounds, replicas: int, period_s: float) -> float:
    """Energy no simulation of `replicas` engines over the period can come in under (as the model costs steps)."""
    return b.idle_w * replicas * period_s + b.above_idle_j

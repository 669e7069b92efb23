"""Cheap bounds on an engine before it is simulated: the rate it can sustain, lone-request latencies, energy.

All come from the same step costs the simulator steps with, summed over the requests in closed form (numpy), so a
bound costs about a millisecond where a simulation of an hour of traffic costs about a second:

- sustainable rate: every decode step full (the batch cap, or as many sequences as the KV cache holds) and every
  prefill chunk filling the token budget; the simulated engine can only do worse, so an offered rate above
  headroom x this is infeasible without simulating it, and the row's utilisation is offered / this rate;
- latency floors: a request alone on the engine (no queue, no other sequence); a quantile of them above a
  target is a miss no number of engines can mend;
- optimistic energy: every GPU at its loaded idle power for the whole period, plus the larger of two floors on
  the energy above idle (`plan_search` prunes with it):
  - the work at full batches (online batches are smaller, so the simulated work is above it);
  - the busy time times the least power any step can draw above idle. An engine is busy from a request's arrival
    until it finishes, which is at least the request's time alone on the engine (every step of its prefill and
    decode costs at least its own terms), so it is busy at least over the union of [arrival, arrival + that time]
    over its requests; and a step's power, a ratio of affine costs in its batch, tokens and context, is at least
    its smallest value over the corners of the box they range in (then folded into idle..TDP as the simulator
    does). At an online rate, where batches are small and the engine is busy most of the time, this is the tight
    one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from energy_predict.fitted import StepCosts, soft_power_w
from energy_predict.predict.online import Engine, _bounded


@dataclass(frozen=True)
class EngineBounds:
    """One engine configuration's bounds over a workload's requests (seconds, joules, watts)."""

    sustainable_rate_per_s: float  # of one engine, at full batches
    above_idle_j: float  # the whole workload's optimistic work above the engine's idle power
    idle_w: float  # the engine's loaded idle (all its GPUs)
    ttft_floor_s: tuple[float, float]  # p90, p99 of a lone request's time to first token
    tpot_floor_s: tuple[float, float]  # p90, p99 of a lone request's time per output token
    busy_power_w: float = 0.0  # no step draws less (the engine's GPUs together); 0 where the costs cannot say
    service_floor_s: np.ndarray | None = field(default=None, compare=False, repr=False)  # each request alone


def _new_pairs(inputs: np.ndarray, cached: np.ndarray) -> np.ndarray:
    """Attention (query, key) pairs of prefilling tokens cached+1 .. input, each attending to all before it."""
    return (inputs * (inputs + 1) - cached * (cached + 1)) / 2.0


def _work(c: StepCosts, inputs, outputs, cached, batch: float, budget: int) -> np.ndarray:
    """Each request's share of full-batch steps: prefill chunks filling the budget, decode steps of `batch`."""
    new = inputs - cached
    prefill = c.prefill_const * new / budget + c.prefill_linear * new + c.prefill_attention * _new_pairs(inputs,
                                                                                                        cached)
    per_step = c.step_const + c.per_expert * c.experts_touched(batch)
    steps = (outputs - 1) / c.tokens_per_step  # a speculative step advances a sequence by more than one token
    decode = steps * (per_step / batch + c.per_sequence + c.per_context_token * (inputs + outputs / 2.0))
    return prefill + decode


def _alone(c: StepCosts, inputs, outputs, cached, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """A lone request's time to its first token (its prefill chunks) and per later token (decode steps of one)."""
    new = inputs - cached
    chunks = np.maximum(np.ceil(new / budget), 1)
    first = c.prefill_const * chunks + c.prefill_linear * new + c.prefill_attention * _new_pairs(inputs, cached)
    step = (c.step_const + c.per_expert * c.experts_touched(1) + c.per_sequence
            + c.per_context_token * (inputs + outputs / 2.0))
    return first, step / c.tokens_per_step


def _service_floor_s(c: StepCosts, inputs, outputs, cached, budget: int) -> np.ndarray | None:
    """Each request's time from arrival to its last token if it were alone; None where a time term is negative.

    Its prefill chunks (at least ceil(new / budget) steps, each at least a step constant); then o - 1 steps, each at
    least the smaller step constant plus its own sequence and its own context (mixed steps pay the prefill
    constant instead of the step's).
    """
    terms = (c.prefill_const, c.prefill_linear, c.prefill_attention, c.step_const, c.per_sequence,
             c.per_context_token, c.per_expert, c.mixed_const)
    if min(terms) < 0:
        return None
    new = inputs - cached
    prefill = (c.prefill_const * np.ceil(new / budget) + c.prefill_linear * new
               + c.prefill_attention * _new_pairs(inputs, cached))
    g = c.tokens_per_step
    steps = (outputs - 1) / g  # at least this many decode steps (speculative: g tokens a step on average)
    const = min(c.step_const + c.per_expert * c.experts_touched(1), c.prefill_const)
    return prefill + steps * (const + c.per_sequence) + c.per_context_token * (steps * inputs
                                                                               + g * steps * (steps - 1) / 2.0)


def _least_power_w(energy: StepCosts, time: StepCosts, engine: Engine, longest: float) -> float:
    """The least power any step can draw: the smallest ratio over the corners of the box its terms range in.

    A ratio of two affine functions is monotone along each variable, so its extremes over a box lie at corners.
    Pure decode: step constant with 1 .. cap sequences' experts, 1 .. cap sequences, 0 .. the cache's tokens of
    context; a mixed step: 1 .. budget prefill tokens, 0 .. budget x (longest + budget) attention pairs, 0 .. cap
    sequences (and 1: a decode beside prefill adds the mixed constant), 0 .. the cache. Folded into idle..TDP as
    the simulator folds each step. 0 where a time can be 0.
    """
    cap, budget = engine.max_num_seqs, engine.max_num_batched_tokens
    kv = float(min(engine.kv_capacity_tokens, cap * longest))
    ratios = []
    for x, n, ctx in itertools.product((1, cap), (1, cap), (0.0, kv)):
        t = time.step_const + time.per_expert * time.experts_touched(x) + time.per_sequence * n
        e = energy.step_const + energy.per_expert * energy.experts_touched(x) + energy.per_sequence * n
        ratios.append((e + energy.per_context_token * ctx, t + time.per_context_token * ctx))
    for tok, pairs, n, ctx in itertools.product((1, budget), (0.0, budget * (longest + budget)), (0, 1, cap),
                                                (0.0, kv)):
        e = (energy.prefill_const + energy.prefill_linear * tok + energy.prefill_attention * pairs
             + energy.per_sequence * n + energy.per_context_token * ctx + (energy.mixed_const if n else 0.0))
        t = (time.prefill_const + time.prefill_linear * tok + time.prefill_attention * pairs
             + time.per_sequence * n + time.per_context_token * ctx + (time.mixed_const if n else 0.0))
        ratios.append((e, t))
    if min(t for _, t in ratios) <= 0:
        return 0.0
    raw = min(e / t for e, t in ratios)
    if engine.tdp_w == float("inf"):
        return max(raw, 0.0)
    return float(soft_power_w(raw, engine.idle_w, engine.tdp_w))


def busy_floor_s(b: EngineBounds, arrival_s: np.ndarray, replicas: int) -> float:
    """Busy time no simulation of `replicas` engines can come in under, summed over the engines.

    Requests are dealt round-robin as `simulate_deployment` deals them; each engine is busy at least over the union
    of [arrival, arrival + time alone] of its requests.
    """
    if b.service_floor_s is None or not len(arrival_s):
        return 0.0
    total = 0.0
    for g in range(replicas):
        start, stop = arrival_s[g::replicas], arrival_s[g::replicas] + b.service_floor_s[g::replicas]
        if np.any(np.diff(start) < 0):
            order = np.argsort(start, kind="stable")
            start, stop = start[order], stop[order]
        reach = np.maximum.accumulate(stop)
        before = np.concatenate(([-np.inf], reach[:-1]))
        total += float(np.clip(stop - np.maximum(start, before), 0.0, None).sum())
    return total


@dataclass(frozen=True)
class LoneFloors:
    """A request alone on the engine: p90/p99 time to first token and per output token, and each one's service time.

    They depend on the time costs, the token budget and the cache, not on the batch cap, so a search computes them
    once for all the caps of an engine.
    """

    ttft_s: tuple[float, float]
    tpot_s: tuple[float, float]
    service_s: np.ndarray | None


def lone_floors(time: StepCosts, inputs: np.ndarray, outputs: np.ndarray, cached: np.ndarray, budget: int
                ) -> LoneFloors:
    """The lone-request floors of these requests (floats; outputs at least 1; cached at most the input)."""
    first, step = _alone(time, inputs, outputs, cached, budget)
    multi = outputs > 1
    tpot = step[multi] if multi.any() else np.zeros(1)
    return LoneFloors(tuple(float(q) for q in np.quantile(first, [0.9, 0.99])),
                      tuple(float(q) for q in np.quantile(tpot, [0.9, 0.99])),
                      _service_floor_s(time, inputs, outputs, cached, budget))


def engine_bounds(energy: StepCosts, time: StepCosts, engine: Engine, inputs: np.ndarray, outputs: np.ndarray,
                  cached: np.ndarray, floors: LoneFloors | None = None) -> EngineBounds:
    """The bounds of one engine configuration over these requests (`cached`: prompt tokens found in the cache).

    `floors`: the lone-request floors where the caller has them (`lone_floors` of the same time costs and budget).
    """
    i = np.asarray(inputs, float)
    o = np.maximum(np.asarray(outputs, float), 1.0)
    c = np.minimum(np.asarray(cached, float), i)
    mean_context = float(np.mean(i + o / 2.0)) if len(i) else 1.0
    batch = float(max(1, min(engine.max_num_seqs, engine.kv_capacity_tokens // max(int(mean_context), 1))))
    budget = engine.max_num_batched_tokens
    e_j = float(_work(energy, i, o, c, batch, budget).sum())
    t_s = float(_work(time, i, o, c, batch, budget).sum())
    e_j, t_s = _bounded(e_j, t_s, engine)  # a full engine draws at most its power limit: time stretches there
    if floors is None:
        floors = lone_floors(time, i, o, c, budget)
    return EngineBounds(
        sustainable_rate_per_s=len(i) / t_s if t_s > 0 else float("inf"),
        above_idle_j=max(0.0, e_j - engine.idle_w * t_s), idle_w=engine.idle_w,
        ttft_floor_s=floors.ttft_s, tpot_floor_s=floors.tpot_s,
        busy_power_w=_least_power_w(energy, time, engine, float(np.max(i + o)) if len(i) else 1.0),
        service_floor_s=floors.service_s)


def optimistic_energy_j(b: EngineBounds, replicas: int, period_s: float, arrival_s: np.ndarray | None = None
                        ) -> float:
    """Energy no simulation of `replicas` engines over the period can come in under (as the model costs steps).

    With the arrivals, the larger of the full-batch work and the busy-time floor (module docstring).
    """
    above = b.above_idle_j
    if arrival_s is not None and b.busy_power_w > b.idle_w:
        above = max(above, (b.busy_power_w - b.idle_w) * busy_floor_s(b, arrival_s, replicas))
    return b.idle_w * replicas * period_s + above

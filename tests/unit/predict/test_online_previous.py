"""The online simulator against its previous loop (0a63e40): the same steps, so the same results to float rounding.

`previous_simulate` is `online.simulate` as it was before the single-request step, the chained decode jumps and the
arrival sentinel (plan speed, issue 27 item 5), kept verbatim. The workloads cover Poisson and trace-like arrivals
(bursts, ties, out of order), idle gaps, prefix caching, speculative decoding, binding batch caps and token budgets,
preemption, overload and the progress callback; every field of the result is compared.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import fields, replace

import numpy as np
import pytest

from energy_predict.fitted import KNEE, StepCosts
from energy_predict.model.store import load_default_model
from energy_predict.predict.online import Engine, OnlineResult, _ascending, _step_constants, simulate
from tests.unit.predict.test_online import DEP
from tests.unit.predict.test_online_reference import _workload as _poisson  # Poisson arrivals, prompts, outputs


def previous_simulate(inputs: np.ndarray, outputs: np.ndarray, arrivals: np.ndarray, energy: StepCosts,
             time: StepCosts, engine: Engine = Engine(), period_s: float | None = None,
             backlog_limit: int | None = None, cached: np.ndarray | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> OnlineResult:
    """The simulator as it was at 0a63e40, before its common steps were written out (kept verbatim).

    `cached`: each request's prompt tokens found in the prefix cache. Its first prefill chunk starts after them
    (attending to them) and their KV counts in the cache from admission on; a preempted request recomputes all.
    `on_progress(arrived, requests)`: called every 4,096 arrivals (a progress bar's; the loop pays one test).
    """
    arrivals_a = np.asarray(arrivals, float)
    order = slice(None) if _ascending(arrivals_a) else np.argsort(arrivals_a, kind="stable")  # a trace is in order
    skip = (np.zeros(len(arrivals_a), np.int64) if cached is None else np.asarray(cached, np.int64)[order]).tolist()
    inputs_a = np.asarray(inputs)[order].astype(np.int64)
    outputs_a = np.maximum(np.asarray(outputs)[order].astype(np.int64), 1)
    arrivals_a = arrivals_a[order]
    n_req = len(inputs_a)
    # plain lists: the loop below touches single elements, which numpy makes slow
    arrivals = arrivals_a.tolist()
    outputs = outputs_a.tolist()
    limit = backlog_limit or max(8 * engine.max_num_seqs, 2000)
    cap = engine.kv_capacity_tokens
    if energy.tokens_per_step != time.tokens_per_step:
        raise ValueError("the energy and time step costs advance sequences by different numbers of tokens")
    # tokens a decode step adds to each sequence; an int where it is 1 (plain decoding), so the counts stay exact
    per_step = 1 if energy.tokens_per_step == 1.0 else float(energy.tokens_per_step)
    watermark = max(cap // 100, 1)  # vLLM keeps 1% of the cache free when it admits, so running sequences can grow
    mid_at = n_req // 2
    marks: dict[str, tuple[int, float, float, int]] = {}  # queue, time, busy time, completions at mid / end
    nan = float("nan")
    first_token = [nan] * n_req
    finish = [nan] * n_req
    need = inputs_a.tolist()  # tokens to prefill (a preempted request recomputes what it had generated)
    prefilled = [0] * n_req
    left = (outputs_a - 1).tolist()  # decode tokens still to produce after the first (while not running)
    # A running sequence's state is kept relative to `tick`, the decode steps every running sequence has been
    # given so far: it ends at tick `end[r]` and holds `base[r] + tick x per_step` KV tokens. A step then costs
    # O(log n), not O(n): no per-sequence update, and the next finish is the head of a heap of (end tick, request).
    end = [0] * n_req
    base = [0] * n_req
    ends: list[tuple[int, int]] = []  # heap; entries of preempted (or re-admitted) sequences go stale
    tick = 0
    waiting: deque[int] = deque()  # admission order; the head may be partly prefilled
    running: dict[int, None] = {}  # decoding, oldest first (insertion order; popitem takes the newest)
    context = 0  # context tokens of running sequences (their KV cache)
    kv_prefill = 0  # KV of partly prefilled requests
    now = busy_s = busy_j = prefill_j = 0.0
    nxt = preemptions = done = skipped = 0
    overloaded = budget_limited = False
    peak_w = 0.0
    max_running = max_step_tokens = 0
    # The step costs (StepCosts.split, .cost and .decode_run) and the power bounds (`_bounded`) written out in the
    # loop as plain local floats: the loop runs ~3 times a request, and calls dominated it.
    # tests/unit/predict/test_online_reference.py holds them equal to the methods.
    max_seqs, budget_cap = engine.max_num_seqs, engine.max_num_batched_tokens
    e_pc, e_pl, e_pa = energy.prefill_const, energy.prefill_linear, energy.prefill_attention
    t_pc, t_pl, t_pa = time.prefill_const, time.prefill_linear, time.prefill_attention
    e_ps, e_pct, t_ps, t_pct = energy.per_sequence, energy.per_context_token, time.per_sequence, time.per_context_token
    e_mix, t_mix = energy.mixed_const, time.mixed_const  # 0 without speculation
    most = min(max_seqs, n_req) + 1
    e_step, t_step = _step_constants(energy, most), _step_constants(time, most)
    limited = engine.tdp_w != float("inf")
    span = engine.tdp_w - engine.idle_w
    p_hi, p_lo, band = engine.idle_w + KNEE * span, engine.idle_w + (1 - KNEE) * span, (1 - KNEE) * span
    tanh, ceil, heappop, heappush = math.tanh, math.ceil, heapq.heappop, heapq.heappush

    while nxt < n_req or waiting or running:
        while nxt < n_req and arrivals[nxt] <= now:
            waiting.append(nxt)
            nxt += 1
            if on_progress is not None and not nxt & 4095:
                on_progress(nxt, n_req)
            if nxt == mid_at + 1 or nxt == n_req:
                marks["mid" if nxt == mid_at + 1 and "mid" not in marks else "end"] = (len(waiting), now, busy_s, done)
        if len(waiting) > limit:  # more queued than the engine could ever catch up with
            overloaded = True
            break
        n = len(running)
        if not waiting and not n:
            now = arrivals[nxt]  # idle until the next arrival
            continue
        extra = n * per_step
        while running and context + kv_prefill + extra > cap:  # the cache cannot grow by a step per sequence
            r = running.popitem()[0]  # newest first, as vLLM's recompute preemption
            kv = base[r] + tick * per_step
            context -= kv
            need[r] = round(kv)  # recompute the prompt and what it had generated
            left[r] = (end[r] - tick) * per_step
            prefilled[r] = 0
            waiting.appendleft(r)
            preemptions += 1
            extra = len(running) * per_step
        n = len(running)
        if waiting and n < max_seqs and context + kv_prefill < cap:
            # one mixed step: decodes plus prefill chunks within the token budget and the free KV cache
            budget = budget_cap - n
            free = cap - context - kv_prefill - n
            tokens, pairs, slots, admitted = 0, 0.0, max_seqs - n, 0
            for r in waiting:
                if budget <= 0 or slots <= 0 or free <= 0:
                    budget_limited = budget_limited or budget <= 0
                    break
                start, whole = prefilled[r], need[r]
                if start == 0:
                    if whole + watermark > free:
                        break  # a request starts only when its whole prompt fits beside the watermark
                    hit = skip[r]
                    if hit:  # its cached prefix: KV already there, nothing to compute
                        start = hit
                        kv_prefill += hit
                        free -= hit
                        skipped += hit
                        skip[r] = 0  # once: a preempted request recomputes its whole context
                rest = whole - start
                take = rest if rest < budget else budget
                if free < take:
                    take = free
                if take == budget and take < rest:
                    budget_limited = True
                pairs += take * start + take * (take + 1) / 2  # a chunk attends to its prefix and itself
                prefilled[r] = start + take
                tokens += take
                budget -= take
                free -= take
                kv_prefill += take
                if take < rest:
                    break  # a partly prefilled request keeps the rest of the budget from later ones
                admitted += 1
                slots -= 1
            if tokens:
                e_pre, t_pre = e_pc + e_pl * tokens + e_pa * pairs, t_pc + t_pl * tokens + t_pa * pairs
            else:
                e_pre = t_pre = 0.0
            if n:
                e_dec, t_dec = e_ps * n + e_pct * context, t_ps * n + t_pct * context
                if not tokens:
                    e_dec += e_step[n]
                    t_dec += t_step[n]
                else:
                    e_dec += e_mix
                    t_dec += t_mix
            else:
                e_dec = t_dec = 0.0
            de, dt = e_pre + e_dec, t_pre + t_dec
            if limited and dt > 0:
                raw = de / dt
                if raw > p_hi:
                    dt = de / (p_hi + band * tanh((raw - p_hi) / band))
                elif raw < p_lo:
                    de = (p_lo - band * tanh((p_lo - raw) / band)) * dt
            if dt > 0 and de > peak_w * dt:
                peak_w = de / dt
            if n + admitted > max_running:
                max_running = n + admitted
            if n + tokens > max_step_tokens:
                max_step_tokens = n + tokens
            if e_pre + e_dec > 0:
                prefill_j += de * e_pre / (e_pre + e_dec)
            busy_j += de
            now += dt
            busy_s += dt
            k = 1
        else:
            if not n:  # nothing fits and nothing runs: the cache cannot hold even the head request
                overloaded = True
                break
            # pure decode: jump k steps, up to the first finish, the next admissible arrival, or a full cache
            e = ends[0][0]
            while preemptions:  # the next finish: the heap's head, stale entries (only preemption leaves them) dropped
                e, r = ends[0]
                if r in running and end[r] == e:
                    break
                heappop(ends)
            k = e - tick
            if nxt < n_req and n < max_seqs:
                step_t = t_ps * n + t_pct * context + t_step[n]
                until = ceil((arrivals[nxt] - now) / (step_t if step_t > 1e-9 else 1e-9))
                if until < k:
                    k = until if until > 1 else 1
            if context + kv_prefill + k * n * per_step > cap:  # the cache fills before then
                room = int((cap - context - kv_prefill) // (n * per_step))
                if room < k:
                    k = room if room > 1 else 1
            context_sum = k * context + n * per_step * k * (k - 1) / 2
            de = k * (e_step[n] + e_ps * n) + e_pct * context_sum
            dt = k * (t_step[n] + t_ps * n) + t_pct * context_sum
            if limited and dt > 0:
                raw = de / dt
                if raw > p_hi:
                    dt = de / (p_hi + band * tanh((raw - p_hi) / band))
                elif raw < p_lo:
                    de = (p_lo - band * tanh((p_lo - raw) / band)) * dt
            if dt > 0 and de > peak_w * dt:
                peak_w = de / dt
            busy_j += de
            now += dt
            busy_s += dt
            admitted = 0
        # every running sequence decodes k steps (ending at `now`); finished ones leave and free their cache
        context += n * k * per_step
        tick += k
        while ends and ends[0][0] <= tick:
            e, r = heappop(ends)
            if not preemptions or (r in running and end[r] == e):
                del running[r]
                finish[r] = now
                done += 1
                context -= base[r] + tick * per_step
        for _ in range(admitted) if admitted else ():
            r = waiting.popleft()
            kv_prefill -= need[r]
            if first_token[r] != first_token[r]:  # NaN: first time through
                first_token[r] = now
            else:
                left[r] -= 1  # a recomputed sequence's prefill step yields its next token
            if left[r] > 0:  # it decodes from the next step on, its whole context in the cache
                running[r] = None
                base[r] = need[r] - tick * per_step
                end[r] = tick + (left[r] if per_step == 1 else ceil(left[r] / per_step - 1e-9))
                heappush(ends, (end[r], r))
                context += need[r]  # an int: the prompt's tokens, or round() of a preempted context
            else:
                finish[r] = now
                done += 1

    service = arrival_rate = None
    if not overloaded and "mid" in marks and "end" in marks and n_req >= 100:
        # stable or not: over the second half of the arrivals, did the queue keep growing while the engine was
        # saturated? A queue that grows for half the period grows without bound at this rate.
        (q0, t0, b0, d0), (q1, t1, b1, d1) = marks["mid"], marks["end"]
        if t1 > t0 and q1 - q0 > max(0.01 * (n_req - mid_at), 32) and (b1 - b0) / (t1 - t0) > 0.98:
            overloaded = True
            service = (d1 - d0) / (t1 - t0)
            arrival_rate = (n_req - mid_at - 1) / (t1 - t0)
    if overloaded and service is None:
        span = max(now, 1e-9)
        arrived = nxt
        arrival_rate = nxt / span
    else:
        span = max(float(period_s) if period_s else 0.0, now, float(arrivals[-1]) if n_req else 0.0)
        arrived = n_req
    idle_j = max(span - busy_s, 0.0) * engine.idle_w
    finish_a, first_a = np.asarray(finish), np.asarray(first_token)
    ok = ~np.isnan(finish_a)
    ttft = (first_a - arrivals_a)[ok]
    multi = ok & (outputs_a > 1)
    tpot = (finish_a[multi] - first_a[multi]) / (outputs_a[multi] - 1)
    return OnlineResult(arrived, done, span, busy_j + idle_j, busy_j, idle_j, prefill_j, busy_j - prefill_j, busy_s,
                        int(inputs_a[:arrived].sum()), int(outputs_a[:arrived].sum()), ttft, tpot, preemptions,
                        overloaded, len(waiting) + (n_req - nxt if overloaded else 0), service, skipped,
                        max(peak_w, engine.idle_w), max(max_running, len(running)), budget_limited,
                        max_step_tokens, arrival_rate)


def _trace(seed: int, n: int, rate: float, long_prompts: bool = False):
    """Bursts and lulls, arrival times rounded to 10 ms (ties), a few out of order, as a real trace has."""
    inputs, outputs, _, cached = _poisson(seed, n, rate, long_prompts)
    rng = np.random.default_rng(seed + 100)
    gaps = rng.exponential(1 / rate, n) * np.where(rng.uniform(size=n) < 0.2, 8.0, 0.3)
    arrivals = np.round(gaps.cumsum(), 2)
    swap = rng.choice(n - 1, n // 50, replace=False)
    arrivals[swap], arrivals[swap + 1] = arrivals[swap + 1], arrivals[swap].copy()
    return inputs, outputs, arrivals, cached


BOUNDS = dict(idle_w=100.0, tdp_w=700.0)
CASES = {  # workload, its arguments, engine, prefix cache, speculation (acceptance x 4 drafted tokens)
    "poisson": (_poisson, dict(seed=1, n=4500, rate=6.0), Engine(**BOUNDS), False, None),
    "trace": (_trace, dict(seed=2, n=2000, rate=8.0), Engine(**BOUNDS), False, None),
    "trace, prefix cache": (_trace, dict(seed=3, n=1500, rate=8.0), Engine(kv_capacity_tokens=60000, **BOUNDS), True,
                            None),
    "speculative": (_poisson, dict(seed=4, n=1500, rate=8.0), Engine(**BOUNDS), False, 0.6),
    "speculative, preemption": (_trace, dict(seed=5, n=1500, rate=8.0), Engine(kv_capacity_tokens=40000, **BOUNDS),
                                True, 0.4),
    "cap 16 binds": (_poisson, dict(seed=6, n=2000, rate=12.0), Engine(max_num_seqs=16, **BOUNDS), False, None),
    "small budget": (_trace, dict(seed=7, n=800, rate=4.0, long_prompts=True),
                     Engine(max_num_batched_tokens=2048, **BOUNDS), True, None),
    "budget, busy": (_poisson, dict(seed=11, n=1500, rate=20.0), Engine(max_num_batched_tokens=2048, **BOUNDS),
                     False, None),  # prompts within a few tokens of the budget left beside the decodes
    "preemption": (_poisson, dict(seed=8, n=1500, rate=8.0), Engine(kv_capacity_tokens=40000, **BOUNDS), False, None),
    "overloaded": (_trace, dict(seed=9, n=3000, rate=200.0), Engine(max_num_seqs=8, **BOUNDS), False, None),
    "no power bounds": (_poisson, dict(seed=10, n=1000, rate=6.0), Engine(max_num_seqs=32), True, None),
}


@pytest.fixture(scope="module")
def costs():
    c = load_default_model().step_costs(DEP)
    return c.energy, c.time


def _speculative(c: StepCosts, acceptance: float) -> StepCosts:
    return replace(c, tokens_per_step=1 + 4 * acceptance, mixed_const=c.step_const / 3)


def _same(new: OnlineResult, old: OnlineResult) -> None:
    for f in fields(OnlineResult):
        a, b = getattr(new, f.name), getattr(old, f.name)
        if isinstance(b, np.ndarray):
            assert a.shape == b.shape, f.name
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=0, err_msg=f.name)
        elif isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-9, abs=0), f.name
        else:
            assert a == b, f.name
    for name in ("utilization", "served_rate_per_s", "offered_while_saturated_per_s"):
        assert getattr(new, name) == pytest.approx(getattr(old, name), rel=1e-9, abs=0), name
    for q in (50, 90, 99):
        if len(old.ttft_s):
            assert np.percentile(new.ttft_s, q) == pytest.approx(np.percentile(old.ttft_s, q), rel=1e-9, abs=0)
        if len(old.tpot_s):
            assert np.percentile(new.tpot_s, q) == pytest.approx(np.percentile(old.tpot_s, q), rel=1e-9, abs=0)


@pytest.mark.parametrize("case", CASES)
def test_the_simulator_gives_what_its_previous_loop_gives(costs, case):
    workload, kw, engine, with_cache, acceptance = CASES[case]
    inputs, outputs, arrivals, cached = workload(**kw)
    energy, time = costs
    if acceptance is not None:
        energy, time = _speculative(energy, acceptance), _speculative(time, acceptance)
    seen_new: list[tuple[int, int]] = []
    seen_old: list[tuple[int, int]] = []
    args = (inputs, outputs, arrivals, energy, time, engine)
    kwargs = dict(period_s=float(arrivals.max()) + 5.0, cached=cached if with_cache else None)
    new = simulate(*args, **kwargs, on_progress=lambda a, n: seen_new.append((a, n)))
    old = previous_simulate(*args, **kwargs, on_progress=lambda a, n: seen_old.append((a, n)))
    _same(new, old)
    assert seen_new == seen_old
    if case == "poisson":
        assert seen_old == [(4096, 4500)]
    assert old.completed > 0
    if case in ("preemption", "speculative, preemption"):
        assert old.preemptions > 0
    if case == "overloaded":
        assert old.overloaded
    if case == "cap 16 binds":
        assert old.max_running == 16
    if case in ("small budget", "budget, busy"):
        assert old.budget_limited
    if with_cache:
        assert old.prefill_tokens_skipped > 0


@pytest.mark.parametrize("speculative", [False, True])
def test_the_simulator_gives_what_its_previous_loop_gives_at_the_edges(costs, speculative):
    """No requests, one, one with one output token, a batch at once, and empty prompts and outputs among others."""
    energy, time = costs
    if speculative:
        energy, time = _speculative(energy, 0.5), _speculative(time, 0.5)
    workloads = [(np.array([], int), np.array([], int), np.array([], float)),
                 (np.array([100]), np.array([50]), np.array([3.0])),
                 (np.array([100]), np.array([1]), np.array([0.0])),
                 (np.full(300, 700), np.full(300, 200), np.zeros(300)),
                 (np.array([0, 5, 0]), np.array([0, 3, 1]), np.array([1.0, 0.5, 0.5]))]
    for engine in (Engine(), Engine(max_num_seqs=8, max_num_batched_tokens=512, kv_capacity_tokens=20000, **BOUNDS)):
        for inputs, outputs, arrivals in workloads:
            _same(simulate(inputs, outputs, arrivals, energy, time, engine),
                  previous_simulate(inputs, outputs, arrivals, energy, time, engine))

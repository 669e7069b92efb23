"""The online simulator's loop against the loop it replaced: the same steps, so the same results to float rounding.

`reference_simulate` is the loop as it was at 9a39f0c (every running sequence updated at every step, O(n) a step),
kept here verbatim as the reference; the workloads exercise idle gaps, chunked prefill, the batch cap, the token budget,
preemption under a small KV cache, prefix caching and overload.
"""

import math
from collections import deque
from dataclasses import replace

import numpy as np
import pytest

from energy_predict.fitted import StepCosts
from energy_predict.model.store import load_default_model
from energy_predict.predict.online import Engine, OnlineResult, _bounded, simulate
from tests.unit.predict.test_online import DEP


def reference_simulate(inputs: np.ndarray, outputs: np.ndarray, arrivals: np.ndarray, energy: StepCosts,
             time: StepCosts, engine: Engine = Engine(), period_s: float | None = None,
             backlog_limit: int | None = None, cached: np.ndarray | None = None) -> OnlineResult:
    """The simulator's loop as it was before its running sequences were kept relative to a tick (commit 9a39f0c)."""
    order = np.argsort(arrivals, kind="stable")
    skip = (np.zeros(len(order), np.int64) if cached is None else np.asarray(cached, np.int64)[order]).tolist()
    inputs_a = np.asarray(inputs)[order].astype(np.int64)
    outputs_a = np.maximum(np.asarray(outputs)[order].astype(np.int64), 1)
    arrivals_a = np.asarray(arrivals, float)[order]
    n_req = len(inputs_a)
    # plain lists: the loop below touches single elements, which numpy makes slow
    arrivals = arrivals_a.tolist()
    outputs = outputs_a.tolist()
    limit = backlog_limit or max(8 * engine.max_num_seqs, 2000)
    cap = engine.kv_capacity_tokens
    watermark = max(cap // 100, 1)  # vLLM keeps 1% of the cache free when it admits, so running sequences can grow
    mid_at = n_req // 2
    marks: dict[str, tuple[int, float, float, int]] = {}  # queue, time, busy time, completions at mid / end
    nan = float("nan")
    first_token = [nan] * n_req
    finish = [nan] * n_req
    need = inputs_a.tolist()  # tokens to prefill (a preempted request recomputes what it had generated)
    prefilled = [0] * n_req
    left = (outputs_a - 1).tolist()  # decode tokens still to produce after the first
    kv = [0] * n_req  # KV-cache tokens of each running sequence
    waiting: deque[int] = deque()  # admission order; the head may be partly prefilled
    running: list[int] = []  # decoding, oldest first
    context = 0  # context tokens of running sequences (their KV cache)
    kv_prefill = 0  # KV of partly prefilled requests
    now = busy_s = busy_j = prefill_j = 0.0
    nxt = preemptions = done = skipped = 0
    overloaded = budget_limited = False
    peak_w = 0.0
    max_running = max_step_tokens = 0

    def preempt_until(extra: int) -> None:
        nonlocal context, preemptions
        while running and context + kv_prefill + extra > cap:
            r = running.pop()  # newest first, as vLLM's recompute preemption
            context -= kv[r]
            need[r] = kv[r]  # recompute the prompt and what it had generated
            prefilled[r] = 0
            waiting.appendleft(r)
            preemptions += 1
            extra = len(running)

    def advance(k: int) -> None:
        """Every running sequence decodes k tokens (ending at `now`); finished ones leave and free their cache."""
        nonlocal running, context, done
        context += len(running) * k
        keep = []
        for r in running:
            left[r] -= k
            kv[r] += k
            if left[r] <= 0:
                finish[r] = now
                done += 1
                context -= kv[r]
            else:
                keep.append(r)
        running = keep

    while nxt < n_req or waiting or running:
        while nxt < n_req and arrivals[nxt] <= now:
            waiting.append(nxt)
            nxt += 1
            if nxt == mid_at + 1 or nxt == n_req:
                marks["mid" if nxt == mid_at + 1 and "mid" not in marks else "end"] = (len(waiting), now, busy_s, done)
        if len(waiting) > limit:  # more queued than the engine could ever catch up with
            overloaded = True
            break
        if not waiting and not running:
            now = arrivals[nxt]  # idle until the next arrival
            continue
        n = len(running)
        preempt_until(n)
        n = len(running)
        if waiting and n < engine.max_num_seqs and context + kv_prefill < cap:
            # one mixed step: decodes plus prefill chunks within the token budget and the free KV cache
            budget = engine.max_num_batched_tokens - n
            free = cap - context - kv_prefill - n
            tokens, pairs, slots, admitted = 0, 0.0, engine.max_num_seqs - n, 0
            for r in waiting:
                if budget <= 0 or slots <= 0 or free <= 0:
                    budget_limited = budget_limited or budget <= 0
                    break
                if prefilled[r] == 0 and need[r] + watermark > free:
                    break  # a request starts only when its whole prompt fits beside the watermark
                if prefilled[r] == 0 and skip[r]:  # its cached prefix: KV already there, nothing to compute
                    prefilled[r] = skip[r]
                    kv_prefill += skip[r]
                    free -= skip[r]
                    skipped += skip[r]
                    skip[r] = 0  # once: a preempted request recomputes its whole context
                take = int(min(need[r] - prefilled[r], budget, free))
                if take == budget and take < need[r] - prefilled[r]:
                    budget_limited = True
                start = prefilled[r]
                pairs += take * start + take * (take + 1) / 2  # a chunk attends to its prefix and itself
                prefilled[r] += take
                tokens += take
                budget -= take
                free -= take
                kv_prefill += take
                if prefilled[r] < need[r]:
                    break  # a partly prefilled request keeps the rest of the budget from later ones
                admitted += 1
                slots -= 1
            e_pre, e_dec = energy.split(n, context, tokens, pairs)
            dt = time.cost(n, context, tokens, pairs)
            de, dt = _bounded(e_pre + e_dec, dt, engine)
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
            advance(1)
            for _ in range(admitted):
                r = waiting.popleft()
                kv_prefill -= need[r]
                if first_token[r] != first_token[r]:  # NaN: first time through
                    first_token[r] = now
                else:
                    left[r] -= 1  # a recomputed sequence's prefill step yields its next token
                if left[r] > 0:
                    running.append(r)
                    kv[r] = need[r]
                    context += int(need[r])
                else:
                    finish[r] = now
                    done += 1
            continue
        if not running:  # nothing fits and nothing runs: the cache cannot hold even the head request
            overloaded = True
            break
        # pure decode: jump k steps, up to the first finish, the next admissible arrival, or a full cache
        step_t = time.cost(n, context, 0, 0.0)
        k = min(left[r] for r in running)
        if nxt < n_req and n < engine.max_num_seqs:
            k = max(1, min(k, math.ceil((arrivals[nxt] - now) / max(step_t, 1e-9))))
        k = max(1, min(k, (cap - context - kv_prefill) // max(n, 1)))
        de, dt = _bounded(energy.decode_run(n, context, k), time.decode_run(n, context, k), engine)
        if dt > 0 and de > peak_w * dt:
            peak_w = de / dt
        busy_j += de
        now += dt
        busy_s += dt
        advance(k)

    service = None
    if not overloaded and "mid" in marks and "end" in marks and n_req >= 100:
        # stable or not: over the second half of the arrivals, did the queue keep growing while the engine was
        # saturated? A queue that grows for half the period grows without bound at this rate.
        (q0, t0, b0, d0), (q1, t1, b1, d1) = marks["mid"], marks["end"]
        if t1 > t0 and q1 - q0 > max(0.01 * (n_req - mid_at), 32) and (b1 - b0) / (t1 - t0) > 0.98:
            overloaded = True
            service = (d1 - d0) / (t1 - t0)
    if overloaded and service is None:
        span = max(now, 1e-9)
        arrived = nxt
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
                        max_step_tokens)


def _workload(seed: int, n: int, rate: float, long_prompts: bool = False):
    rng = np.random.default_rng(seed)
    inputs = rng.integers(1, 30000 if long_prompts else 3000, n)
    outputs = rng.integers(1, 600, n)
    arrivals = np.sort(rng.exponential(1 / rate, n).cumsum())
    cached = (inputs * rng.uniform(0, 0.8, n)).astype(np.int64)
    return inputs, outputs, arrivals, cached


CASES = {
    "sparse": (dict(seed=1, n=300, rate=0.2), Engine(idle_w=100.0, tdp_w=700.0), False),
    "busy, cap 16": (dict(seed=2, n=2000, rate=12.0), Engine(max_num_seqs=16, idle_w=100.0, tdp_w=700.0), False),
    "small budget": (dict(seed=3, n=800, rate=4.0, long_prompts=True),
                     Engine(max_num_batched_tokens=2048, idle_w=100.0, tdp_w=700.0), False),
    "preemption": (dict(seed=4, n=1500, rate=8.0), Engine(kv_capacity_tokens=40000, idle_w=100.0, tdp_w=700.0),
                   False),
    "prefix cache": (dict(seed=5, n=1500, rate=8.0), Engine(kv_capacity_tokens=60000, idle_w=100.0, tdp_w=700.0),
                     True),
    "overloaded": (dict(seed=6, n=3000, rate=200.0), Engine(max_num_seqs=8, idle_w=100.0, tdp_w=700.0), False),
    "mixture of experts": (dict(seed=7, n=1500, rate=10.0), Engine(idle_w=100.0, tdp_w=700.0), False),
    "no power bounds": (dict(seed=8, n=1000, rate=6.0), Engine(max_num_seqs=32), False),
}


@pytest.fixture(scope="module")
def costs():
    c = load_default_model().step_costs(DEP)
    return c.energy, c.time


def _assert_same(new: OnlineResult, ref: OnlineResult) -> None:
    for name in OnlineResult.__dataclass_fields__:
        if name == "arrival_rate_per_s":  # added after the reference loop (the overload line's offered rate)
            continue
        a, b = getattr(new, name), getattr(ref, name)
        if isinstance(b, np.ndarray):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=name)
        elif isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), name
        else:
            assert a == b, name


@pytest.mark.parametrize("case", CASES)
def test_the_loop_gives_what_the_reference_loop_gives(costs, case):
    kw, engine, with_cache = CASES[case]
    inputs, outputs, arrivals, cached = _workload(**kw)
    cached = cached if with_cache else None
    energy, time = costs
    if case == "mixture of experts":  # routed experts: a decode step's constant grows with the experts it touches
        energy = replace(energy, per_expert=energy.step_const / 20, experts=64, experts_per_token=8)
        time = replace(time, per_expert=time.step_const / 20, experts=64, experts_per_token=8)
    new = simulate(inputs, outputs, arrivals, energy, time, engine, period_s=float(arrivals[-1]), cached=cached)
    ref = reference_simulate(inputs, outputs, arrivals, energy, time, engine, period_s=float(arrivals[-1]),
                             cached=cached)
    _assert_same(new, ref)
    if case == "preemption":
        assert ref.preemptions > 0
    if case == "overloaded":
        assert ref.overloaded
    if case == "busy, cap 16":
        assert ref.max_running == 16
    if case == "small budget":
        assert ref.budget_limited

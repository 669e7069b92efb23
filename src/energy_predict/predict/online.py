"""Online serving: a continuous-batching simulation in the manner of vLLM's scheduler.

Each engine step takes every running sequence's next token (decode) and fills the rest of its token budget
(`max_num_batched_tokens`) with prefill chunks of waiting requests, admitting them up to `max_num_seqs`
(chunked prefill) while their KV cache fits; when the cache is full the newest running sequence is preempted
and recomputed later, as vLLM does. A request's first token comes with its last prefill chunk; it then decodes
`o - 1` more. Between requests the engine idles at the measured loaded-idle power. Runs of pure-decode steps with
no event inside are advanced in one closed-form jump, and the waiting queue is touched only at its head, so the
cost is linear in requests and events. When the queue outgrows what the engine can ever drain the simulation stops
and says so: the rate is not sustainable, and the result carries the rate it did sustain.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from energy_predict.arrivals import poisson_arrivals
from energy_predict.fitted import KNEE, StepCosts

__all__ = ["Engine", "OnlineResult", "poisson_arrivals", "simulate"]


@dataclass(frozen=True)
class Engine:
    """One engine's limits and power bounds (all its GPUs together)."""

    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    kv_capacity_tokens: int = 10**12
    idle_w: float = 0.0  # loaded idle of all the engine's GPUs
    tdp_w: float = float("inf")  # power limit of all the engine's GPUs


@dataclass(frozen=True)
class OnlineResult:
    """Totals over the simulated period. Joules and seconds."""

    requests: int  # arrived in the period
    completed: int
    period_s: float
    energy_j: float
    busy_energy_j: float
    idle_energy_j: float
    prefill_j: float  # of the busy energy
    decode_j: float
    busy_s: float
    input_tokens: int
    output_tokens: int
    ttft_s: np.ndarray  # per completed request
    tpot_s: np.ndarray  # per completed request with more than one output token
    preemptions: int = 0
    overloaded: bool = False
    backlog: int = 0  # requests waiting when the simulation stopped
    service_rate_per_s: float | None = None  # completions per second while saturated (overloaded runs)
    prefill_tokens_skipped: int = 0  # prompt tokens found in the prefix cache (of `input_tokens`)
    peak_power_w: float = 0.0  # the highest power of any step (the engine's GPUs together)
    max_running: int = 0  # most sequences a step held (running and admitted): below a batch cap, the cap never bound
    budget_limited: bool = False  # whether the token budget ever cut a step's prefill short
    max_step_tokens: int = 0  # most tokens (decodes and prefill) one step scheduled

    @property
    def utilization(self) -> float:
        return self.busy_s / self.period_s if self.period_s else 0.0

    @property
    def served_rate_per_s(self) -> float:
        """What the engine sustains: its saturated completion rate where overloaded, else its completion rate."""
        if self.service_rate_per_s is not None:
            return self.service_rate_per_s
        return self.completed / self.period_s if self.period_s else 0.0


def _bounded(de: float, dt: float, engine: Engine) -> tuple[float, float]:
    """A step's power strictly inside idle..TDP, as `fitted.bounded_power` does for batches (scalars, for speed)."""
    if dt <= 0 or engine.tdp_w == float("inf"):
        return de, dt
    raw = de / dt
    span = engine.tdp_w - engine.idle_w
    hi, lo, band = engine.idle_w + KNEE * span, engine.idle_w + (1 - KNEE) * span, (1 - KNEE) * span
    if raw > hi:
        return de, de / (hi + band * math.tanh((raw - hi) / band))
    if raw < lo:
        return (lo - band * math.tanh((lo - raw) / band)) * dt, dt
    return de, dt


def simulate(inputs: np.ndarray, outputs: np.ndarray, arrivals: np.ndarray, energy: StepCosts,
             time: StepCosts, engine: Engine = Engine(), period_s: float | None = None,
             backlog_limit: int | None = None, cached: np.ndarray | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> OnlineResult:
    """Walk the requests through engine steps; return energy (busy and idle), latencies and whether it kept up.

    `cached`: each request's prompt tokens found in the prefix cache. Its first prefill chunk starts after them
    (attending to them) and their KV counts in the cache from admission on; a preempted request recomputes all.
    `on_progress(arrived, requests)`: called every 4,096 arrivals (a progress bar's; the loop pays one test).
    """
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
            if on_progress is not None and not nxt & 4095:
                on_progress(nxt, n_req)
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

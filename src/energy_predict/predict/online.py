"""Online serving: a continuous-batching simulation in the manner of vLLM's scheduler.

Each engine step takes every running sequence's next token (decode) and fills the rest of its token budget
(`max_num_batched_tokens`) with prefill chunks of waiting requests, admitting them up to `max_num_seqs`
(chunked prefill) while their KV cache fits; when the cache is full the newest running sequence is preempted
and recomputed later, as vLLM does. A request's first token comes with its last prefill chunk; it then decodes
`o - 1` more; under speculative decoding a decode step advances each sequence by `StepCosts.tokens_per_step`
tokens on average (1 + the drafted tokens accepted), so it needs ceil((o - 1) / that) steps. Between requests the
engine idles at the measured loaded-idle power. Runs of pure-decode steps with no event inside are advanced in one
closed-form jump, and the waiting queue is touched only at its head, so the cost is linear in requests and events.
When the queue outgrows what the engine can ever drain the simulation stops and says so: the rate is not
sustainable, and the result carries the rate it did sustain.
"""

from __future__ import annotations

import heapq
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
    # overloaded runs: arrivals per second over the same window as `service_rate_per_s` (or, where the queue outgrew
    # the limit, as `served_rate_per_s`), so that offered and served rates are stated over one span of time
    arrival_rate_per_s: float | None = None

    @property
    def utilization(self) -> float:
        return self.busy_s / self.period_s if self.period_s else 0.0

    @property
    def offered_while_saturated_per_s(self) -> float:
        """Arrivals per second over the window the served rate is measured in (the whole period where it kept up)."""
        if self.arrival_rate_per_s is not None:
            return self.arrival_rate_per_s
        return self.requests / self.period_s if self.period_s else 0.0

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


def _step_constants(c: StepCosts, most: int) -> list[float]:
    """A pure-decode step's constant cost for 0 .. most - 1 sequences (the routed experts they touch included)."""
    return [c.step_const + c.per_expert * c.experts_touched(n) for n in range(most)]


def _ascending(x: np.ndarray) -> bool:
    """Whether x never decreases (then a stable argsort is the identity and is skipped)."""
    return len(x) < 2 or bool(np.all(x[1:] >= x[:-1]))


def simulate(inputs: np.ndarray, outputs: np.ndarray, arrivals: np.ndarray, energy: StepCosts,
             time: StepCosts, engine: Engine = Engine(), period_s: float | None = None,
             backlog_limit: int | None = None, cached: np.ndarray | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> OnlineResult:
    """Walk the requests through engine steps; return energy (busy and idle), latencies and whether it kept up.

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
    # tests/unit/predict/test_online_reference.py holds them equal to the methods. The common step (one new request
    # whose prompt fits at once) and runs of decode jumps with nothing in between take shorter paths through the
    # loop; tests/unit/predict/test_online_previous.py holds the results equal to the loop without them.
    max_seqs, budget_cap = engine.max_num_seqs, engine.max_num_batched_tokens
    e_pc, e_pl, e_pa = energy.prefill_const, energy.prefill_linear, energy.prefill_attention
    t_pc, t_pl, t_pa = time.prefill_const, time.prefill_linear, time.prefill_attention
    e_ps, e_pct, t_ps, t_pct = energy.per_sequence, energy.per_context_token, time.per_sequence, time.per_context_token
    e_mix, t_mix = energy.mixed_const, time.mixed_const  # 0 without speculation
    most = min(max_seqs, n_req) + 1
    e_step, t_step = _step_constants(energy, most), _step_constants(time, most)
    e_run = [e_step[n] + e_ps * n for n in range(most)]  # a pure-decode step's cost beyond the context it reads
    t_run = [t_step[n] + t_ps * n for n in range(most)]
    limited = engine.tdp_w != float("inf")
    span = engine.tdp_w - engine.idle_w
    p_hi, p_lo, band = engine.idle_w + KNEE * span, engine.idle_w + (1 - KNEE) * span, (1 - KNEE) * span
    tanh, ceil, heappop, heappush = math.tanh, math.ceil, heapq.heappop, heapq.heappush
    arrivals.append(math.inf)  # a sentinel: no arrival comes after the last, and the loop needs no bounds test
    # arrival counts at which something is noted (progress, the queue at mid and end), as a stack
    notes = sorted({mid_at + 1, n_req} | (set(range(4096, n_req + 1, 4096)) if on_progress is not None else set()),
                   reverse=True)
    note = notes.pop() if n_req else -1
    # a new request's prompt beyond its cached prefix, and the prefill step's cost where it is all of a step's prefill
    fresh_a = inputs_a - np.asarray(skip, np.int64)
    fresh_pairs = fresh_a * (inputs_a - fresh_a) + fresh_a * (fresh_a + 1) / 2
    fresh, fresh_e, fresh_t = (fresh_a.tolist(), (e_pc + e_pl * fresh_a + e_pa * fresh_pairs).tolist(),
                               (t_pc + t_pl * fresh_a + t_pa * fresh_pairs).tolist())
    fresh_steps = (outputs_a - 1 if per_step == 1 else np.ceil((outputs_a - 1) / per_step - 1e-9).astype(np.int64)
                   ).tolist()  # decode steps of a request admitted once, as `end` counts them below
    n = 0  # running sequences (len(running), kept by hand: the loop reads it at every step)
    grew = False  # whether preemption lengthened the queue since it was last held against `limit`

    while True:
        if arrivals[nxt] <= now or grew:
            while arrivals[nxt] <= now:
                waiting.append(nxt)
                nxt += 1
                if nxt == note:
                    if on_progress is not None and not nxt & 4095:
                        on_progress(nxt, n_req)
                    if nxt == mid_at + 1 or nxt == n_req:
                        marks["mid" if nxt == mid_at + 1 and "mid" not in marks else "end"] = (len(waiting), now,
                                                                                              busy_s, done)
                    note = notes.pop() if notes else -1
            if len(waiting) > limit:  # more queued than the engine could ever catch up with
                overloaded = True
                break
            grew = False
        if not n and not waiting:
            if nxt == n_req:
                break
            now = arrivals[nxt]  # idle until the next arrival
            continue
        if context + kv_prefill + n * per_step > cap:  # the cache cannot grow by a step per sequence
            while n and context + kv_prefill + n * per_step > cap:
                r = running.popitem()[0]  # newest first, as vLLM's recompute preemption
                n -= 1
                kv = base[r] + tick * per_step
                context -= kv
                need[r] = round(kv)  # recompute the prompt and what it had generated
                left[r] = (end[r] - tick) * per_step
                prefilled[r] = 0
                waiting.appendleft(r)
                preemptions += 1
                grew = True
        if waiting and n < max_seqs and context + kv_prefill < cap:
            # one mixed step: decodes plus prefill chunks within the token budget and the free KV cache
            r = waiting[0]
            if (len(waiting) == 1 and not prefilled[r] and first_token[r] != first_token[r]
                    and 0 < fresh[r] <= budget_cap - n and need[r] + watermark <= cap - context - kv_prefill - n):
                # the common step, written out: one new request, its whole prompt within the budget and the cache
                hit = skip[r]
                if hit:
                    skipped += hit
                    skip[r] = 0
                tokens, admitted, one = fresh[r], 1, r
                e_pre, t_pre = fresh_e[r], fresh_t[r]
            else:
                one = -1
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
            # every running sequence decodes a step (ending at `now`); finished ones leave and free their cache
            context += n * per_step
            tick += 1
            while ends and ends[0][0] <= tick:
                e, r = heappop(ends)
                if not preemptions or (r in running and end[r] == e):
                    del running[r]
                    n -= 1
                    finish[r] = now
                    done += 1
                    context -= base[r] + tick * per_step
            if one >= 0:  # the one new request (its prompt's KV never counted as partly prefilled): it starts
                waiting.popleft()
                first_token[one] = now
                if left[one] > 0:
                    running[one] = None
                    n += 1
                    base[one] = need[one] - tick * per_step
                    end[one] = tick + fresh_steps[one]
                    heappush(ends, (end[one], one))
                    context += need[one]
                else:
                    finish[one] = now
                    done += 1
                continue
            for _ in range(admitted):
                r = waiting.popleft()
                kv_prefill -= need[r]
                if first_token[r] != first_token[r]:  # NaN: first time through
                    first_token[r] = now
                else:
                    left[r] -= 1  # a recomputed sequence's prefill step yields its next token
                if left[r] > 0:  # it decodes from the next step on, its whole context in the cache
                    running[r] = None
                    n += 1
                    base[r] = need[r] - tick * per_step
                    end[r] = tick + (left[r] if per_step == 1 else ceil(left[r] / per_step - 1e-9))
                    heappush(ends, (end[r], r))
                    context += need[r]  # an int: the prompt's tokens, or round() of a preempted context
                else:
                    finish[r] = now
                    done += 1
        else:
            if not n:  # nothing fits and nothing runs: the cache cannot hold even the head request
                overloaded = True
                break
            # pure decode: jump k steps, up to the first finish, the next admissible arrival, or a full cache; jump
            # again while nothing else happens (no queue, no arrival due, room for a step): the main loop's tests
            # would all fall through to here
            while True:
                e = ends[0][0]
                while preemptions:  # the next finish: the heap's head, less stale entries (only preemption leaves them)
                    e, r = ends[0]
                    if r in running and end[r] == e:
                        break
                    heappop(ends)
                k = e - tick
                if n < max_seqs:  # (after the last arrival, the sentinel's `until` is infinite)
                    step_t = t_ps * n + t_pct * context + t_step[n]
                    until = (arrivals[nxt] - now) / (step_t if step_t > 1e-9 else 1e-9)
                    if until <= k - 1:  # ceil(until) < k: the arrival comes first
                        until = ceil(until)
                        k = until if until > 1 else 1
                if context + kv_prefill + k * n * per_step > cap:  # the cache fills before then
                    room = int((cap - context - kv_prefill) // (n * per_step))
                    if room < k:
                        k = room if room > 1 else 1
                context_sum = k * context + n * per_step * k * (k - 1) / 2
                de = k * e_run[n] + e_pct * context_sum
                dt = k * t_run[n] + t_pct * context_sum
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
                # every running sequence decodes k steps (ending at `now`); the first to end (at tick e) leave
                context += n * k * per_step
                tick += k
                if tick < e:
                    break  # cut short: an arrival is due, or the cache is full
                while ends and ends[0][0] <= tick:
                    e, r = heappop(ends)
                    if not preemptions or (r in running and end[r] == e):
                        del running[r]
                        n -= 1
                        finish[r] = now
                        done += 1
                        context -= base[r] + tick * per_step
                if waiting or not n or arrivals[nxt] <= now or context + kv_prefill + n * per_step > cap:
                    break

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
        span = max(float(period_s) if period_s else 0.0, now, float(arrivals_a[-1]) if n_req else 0.0)
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
                        max(peak_w, engine.idle_w), max(max_running, n), budget_limited,
                        max_step_tokens, arrival_rate)

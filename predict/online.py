"""Online serving: a continuous-batching simulation in the manner of vLLM's scheduler.

Each engine step takes every running sequence's next token (decode) and fills the rest of its token budget
(`max_num_batched_tokens`) with prefill chunks of waiting requests, admitting them up to `max_num_seqs`
(chunked prefill). A request's first token comes with its last prefill chunk; it then decodes `o - 1` more.
Between requests the GPU idles at the measured loaded-idle power. Runs of pure-decode steps with no event
inside are advanced in one closed-form jump, which is what makes an hour of traffic take seconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from energy_predict.predict.steps import StepCoefficients


@dataclass(frozen=True)
class OnlineResult:
    """Totals over the simulated period. Joules and seconds."""

    requests: int
    period_s: float
    energy_j: float
    busy_energy_j: float
    idle_energy_j: float
    busy_s: float
    input_tokens: int
    output_tokens: int
    ttft_s: np.ndarray  # per request
    tpot_s: np.ndarray  # per request with more than one output token

    @property
    def utilization(self) -> float:
        return self.busy_s / self.period_s if self.period_s else 0.0

    def summary(self) -> dict:
        def q(x, p):
            return float(np.quantile(x, p)) if len(x) else None

        return {
            "requests": self.requests, "period_s": self.period_s, "energy_kwh": self.energy_j / 3.6e6,
            "busy_kwh": self.busy_energy_j / 3.6e6, "idle_kwh": self.idle_energy_j / 3.6e6,
            "idle_share": self.idle_energy_j / self.energy_j if self.energy_j else None,
            "energy_per_request_j": self.energy_j / max(self.requests, 1),
            "energy_per_output_token_j": self.energy_j / max(self.output_tokens, 1),
            "gpu_utilization": self.utilization, "mean_power_w": self.energy_j / self.period_s,
            "ttft_s": {"p50": q(self.ttft_s, 0.5), "p90": q(self.ttft_s, 0.9)},
            "tpot_s": {"p50": q(self.tpot_s, 0.5), "p90": q(self.tpot_s, 0.9)},
        }


def poisson_arrivals(n: int, rate_per_s: float, seed: int = 0, cv: float = 1.0) -> np.ndarray:
    """Arrival times of n requests: Poisson (cv = 1) or gamma inter-arrivals with that coefficient of variation."""
    rng = np.random.default_rng(seed)
    if cv == 1.0:
        gaps = rng.exponential(1.0 / rate_per_s, n)
    else:
        shape = 1.0 / cv**2
        gaps = rng.gamma(shape, 1.0 / (rate_per_s * shape), n)
    return np.cumsum(gaps) - gaps[0]


def simulate(inputs: np.ndarray, outputs: np.ndarray, arrivals: np.ndarray, energy: StepCoefficients,
             time: StepCoefficients, idle_w: float, max_num_seqs: int = 256, max_num_batched_tokens: int = 8192,
             period_s: float | None = None) -> OnlineResult:
    """Walk the requests through engine steps; return energy (busy and idle) and latencies."""
    order = np.argsort(arrivals, kind="stable")
    inputs = np.asarray(inputs)[order].astype(np.int64)
    outputs = np.asarray(outputs)[order].astype(np.int64)
    arrivals = np.asarray(arrivals, float)[order]
    n_req = len(inputs)
    first_token = np.full(n_req, np.nan)
    finish = np.full(n_req, np.nan)
    waiting: deque[int] = deque()  # admitted order; the head may be partly prefilled
    prefilled = np.zeros(n_req, np.int64)
    run_ids: list[int] = []  # decoding
    run_left: list[int] = []  # decode tokens still to produce
    context = 0  # total context tokens of decoding sequences
    now, busy_s, busy_j, nxt = 0.0, 0.0, 0.0, 0
    ec, tc = energy, time

    while nxt < n_req or waiting or run_ids:
        while nxt < n_req and arrivals[nxt] <= now:
            waiting.append(nxt)
            nxt += 1
        if not waiting and not run_ids:
            now = arrivals[nxt]  # idle until the next arrival
            continue
        n = len(run_ids)
        if waiting and n < max_num_seqs:
            # one mixed step: decodes plus prefill chunks within the token budget
            budget = max_num_batched_tokens - n
            tokens, pairs, done_prefill = 0, 0.0, []
            slots = max_num_seqs - n
            for r in list(waiting):
                if budget <= 0 or slots <= 0:
                    break
                need = inputs[r] - prefilled[r]
                take = min(need, budget)
                start = prefilled[r]
                pairs += take * start + take * (take + 1) / 2  # chunk attends to its prefix and itself
                prefilled[r] += take
                tokens += take
                budget -= take
                if prefilled[r] >= inputs[r]:
                    done_prefill.append(r)
                    slots -= 1
                else:
                    break  # a partly prefilled request keeps the rest of the budget from later ones
            dt = float(tc.cost(n, context, tokens, pairs))
            busy_j += float(ec.cost(n, context, tokens, pairs))
            now += dt
            busy_s += dt
            context += n
            for k in range(len(run_left) - 1, -1, -1):
                run_left[k] -= 1
                if run_left[k] <= 0:
                    finish[run_ids[k]] = now
                    context -= inputs[run_ids[k]] + outputs[run_ids[k]] - 1
                    del run_ids[k], run_left[k]
            for r in done_prefill:
                waiting.remove(r)
                first_token[r] = now
                if outputs[r] > 1:
                    run_ids.append(r)
                    run_left.append(int(outputs[r] - 1))
                    context += int(inputs[r]) + 1
                else:
                    finish[r] = now
            continue
        # pure decode: jump k steps, up to the first finish or the next arrival that could be admitted
        step_t = float(tc.cost(n, context, 0, 0.0))
        k = min(run_left)
        if nxt < n_req and n < max_num_seqs:
            k = max(1, min(k, int(np.ceil((arrivals[nxt] - now) / max(step_t, 1e-9)))))
        # context grows by n each step: sum over j < k of cost(n, context + j n)
        ctx_sum = k * context + n * k * (k - 1) / 2
        dt = k * (tc.step_const + tc.per_sequence * n) + tc.per_context_token * ctx_sum
        busy_j += k * (ec.step_const + ec.per_sequence * n) + ec.per_context_token * ctx_sum
        now += dt
        busy_s += dt
        context += n * k
        keep_ids, keep_left = [], []
        for rid, left in zip(run_ids, run_left):
            if left - k <= 0:
                finish[rid] = now
                context -= inputs[rid] + outputs[rid] - 1
            else:
                keep_ids.append(rid)
                keep_left.append(left - k)
        run_ids, run_left = keep_ids, keep_left

    span = float(period_s) if period_s else max(now, float(arrivals[-1]) if n_req else 0.0)
    span = max(span, now)
    idle_j = max(span - busy_s, 0.0) * idle_w
    ttft = first_token - arrivals
    multi = outputs > 1
    tpot = (finish[multi] - first_token[multi]) / (outputs[multi] - 1)
    return OnlineResult(n_req, span, busy_j + idle_j, busy_j, idle_j, busy_s, int(inputs.sum()), int(outputs.sum()),
                        ttft, tpot)

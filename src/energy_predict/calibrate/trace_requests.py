"""The requests a replay replays: sampled from a trace (lengths, arrival gaps, prefix blocks), then as prompts.

Sampling is pure and seeded (its own `default_rng`): the same trace, seed and window give the same requests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from energy_predict.calibrate.backends.base import Request
from energy_predict.prefix import block_prompt, clip_blocks, conversation_rows, trace_hit_rate


@dataclass(frozen=True)
class ReplaySet:
    """Requests to replay: lengths, arrival times (s, from 0) and, from a Mooncake trace, prefix block ids."""

    trace: str
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    arrival_s: np.ndarray
    hash_ids: tuple[tuple[int, ...], ...] | None = None  # per request, cut with its prompt (clip_blocks)

    @property
    def hit_rate(self) -> float | None:
        """Share of prompt tokens in blocks seen earlier in arrival order (None without block ids)."""
        if self.hash_ids is None:
            return None
        return trace_hit_rate(self.hash_ids, self.input_tokens, arrival_s=self.arrival_s)

    def scaled_to_rate(self, rate_per_s: float) -> ReplaySet:
        """The same requests with arrival gaps scaled so the mean rate is `rate_per_s`."""
        span = float(self.arrival_s.max() - self.arrival_s.min())
        if span <= 0 or rate_per_s <= 0:
            raise ValueError("need distinct arrival times and a positive rate")
        factor = (len(self.arrival_s) / rate_per_s) / span
        arrivals = (self.arrival_s - self.arrival_s.min()) * factor
        return replace(self, arrival_s=arrivals)

    def poisson(self, rate_per_s: float, seed: int = 0) -> ReplaySet:
        """The same requests (lengths, order) arriving as a Poisson process at `rate_per_s`."""
        from energy_predict.arrivals import poisson_arrivals

        if rate_per_s <= 0:
            raise ValueError("need a positive rate")
        arrivals = poisson_arrivals(len(self.input_tokens), rate_per_s, seed)
        return replace(self, arrival_s=arrivals)


SAMPLES = ("window", "conversations")


def sample_requests(frame: pd.DataFrame, n: int, seed: int, trace: str, max_input: int, max_output: int,
                    sample: str = "window") -> ReplaySet:
    """`n` requests from a random offset, in arrival order (their gaps kept); lengths clipped.

    `window`: a contiguous window. `conversations` (traces with block ids): whole conversations as they first
    appear from the offset (prefix.conversation_rows), so later turns reuse earlier ones as in the trace.
    A prompt with block ids is clipped by whole trailing blocks (prefix.clip_blocks); one without, to `max_input`.
    """
    if sample not in SAMPLES:
        raise ValueError(f"sample must be one of {SAMPLES}")
    blocks = "hash_ids" in frame.columns
    if sample == "conversations" and not blocks:
        raise ValueError("sampling conversations needs a trace with prefix block ids (hash_ids)")
    rng = np.random.default_rng(seed)
    start = int(rng.integers(0, max(len(frame) - n, 0) + 1))
    if sample == "conversations":
        window = frame.iloc[conversation_rows(list(frame["hash_ids"]), start, n)]
    else:
        window = frame.iloc[start:start + n]
    arrivals = window["arrival_s"].to_numpy(float)
    arrivals = arrivals - np.nanmin(arrivals) if np.isfinite(arrivals).all() else np.zeros(len(window))
    outputs = np.clip(window["output_tokens"].to_numpy(), 1, max_output)
    if not blocks:
        return ReplaySet(trace, np.clip(window["input_tokens"].to_numpy(), 1, max_input), outputs, arrivals)
    cut = [clip_blocks(ids, int(i), max_input) if i > 0 else ((2**63 + int(row),), 1)  # an empty prompt: 1 token
           for row, ids, i in zip(window.index, window["hash_ids"], window["input_tokens"])]
    return ReplaySet(trace, np.array([i for _, i in cut], dtype=np.int64), outputs, arrivals,
                     tuple(ids for ids, _ in cut))


def replay_prompts(reqs: ReplaySet, vocab_size: int) -> list[list[int]]:
    """Token ids of each request: built from its blocks when the trace has them, else random and distinct."""
    if reqs.hash_ids is None:
        rng = np.random.default_rng(0)
        return [rng.integers(3, vocab_size - 1, int(n)).tolist() for n in reqs.input_tokens]
    cache: dict[int, np.ndarray] = {}
    return [block_prompt(ids, int(n), vocab_size, cache=cache) for ids, n in zip(reqs.hash_ids, reqs.input_tokens)]


def replay_requests(reqs: ReplaySet, vocab_size: int) -> list[Request]:
    """The requests as a backend serves them: prompts from `replay_prompts`, each its own output length."""
    return [Request(tuple(ids), int(o)) for ids, o in zip(replay_prompts(reqs, vocab_size), reqs.output_tokens)]

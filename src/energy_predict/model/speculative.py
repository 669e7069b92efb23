"""Speculative decoding (vLLM, a draft model proposing k tokens a step): what a step costs and what it yields.

One step: the draft proposes k tokens per sequence (k draft forwards, the first also catching up on the tokens the
last step accepted), the target verifies k + 1 tokens per sequence in one forward, and each sequence advances by
one token plus the drafted tokens accepted (`acc`: acceptance rate x k, the rate as vLLM's metrics count it,
accepted / drafted tokens).

A step's cost (energy or time) of a batch of B sequences is fitted on measured cells:
    p0 + p1 B + k (r0 + r1 B) + acc (q0 + q1 B)
plus the target's read of the KV cache, which grows with the context as in plain decoding and is taken from the
fitted phase model (`per_context_token` of its step costs), so that a step cost fitted at one prompt length carries
to others. The k terms are the draft's forwards and the wider verification; the acc terms the work accepted tokens
add (the draft's catch-up over them, their KV writes, the rejection sampler).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_TERMS = 6


def steps_for(output_tokens, accepted) -> np.ndarray:
    """Speculative steps a sequence takes for its output.

    The first token comes from prefill, then 1 + accepted tokens a step (the last step may overshoot; vLLM stops
    the sequence there).
    """
    o = np.asarray(output_tokens, dtype=float)
    return np.ceil(np.maximum(o - 1, 0) / (1 + np.asarray(accepted, dtype=float)))


def context_read(batch_size, input_tokens, steps, accepted) -> np.ndarray:
    """Context tokens the target's verification steps read from the KV cache, summed over a batch's steps.

    Step j (0-based) of a sequence sees its prompt, the prefill's token and j steps of 1 + accepted tokens.
    """
    b, i, s, acc = (np.asarray(x, dtype=float) for x in (batch_size, input_tokens, steps, accepted))
    return b * (s * (i + 1) + (1 + acc) * s * (s - 1) / 2)


def _design(batch_size, k, accepted) -> np.ndarray:
    b, k, acc = (a.ravel() for a in np.broadcast_arrays(*(np.asarray(x, float) for x in (batch_size, k, accepted))))
    return np.column_stack([np.ones(b.size), b, k, k * b, acc, acc * b])


@dataclass(frozen=True)
class StepCost:
    """A speculative step's cost without its context read (J or s): p0, p1, r0, r1, q0, q1 (module docstring)."""

    coef: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.coef) != N_TERMS:
            raise ValueError(f"a step cost has {N_TERMS} coefficients, not {len(self.coef)}")

    @classmethod
    def fit(cls, batch_size, k, accepted, per_step) -> StepCost:
        """Least squares in relative error (each step cost weighs by its own size), so batch 1 counts as batch 128."""
        y = np.asarray(per_step, dtype=float)
        X = _design(batch_size, k, accepted)
        if np.linalg.matrix_rank(X) < N_TERMS:
            raise ValueError("a step cost needs cells at two or more draft lengths, acceptances and batch sizes")
        coef, *_ = np.linalg.lstsq(X / y[:, None], np.ones(len(y)), rcond=None)
        return cls(tuple(float(c) for c in coef))

    def __call__(self, batch_size, k, accepted) -> np.ndarray:
        shape = np.broadcast(np.asarray(batch_size), np.asarray(k), np.asarray(accepted)).shape
        return (_design(batch_size, k, accepted) @ np.asarray(self.coef)).reshape(shape)


def decode_cost(cost: StepCost, per_context_token: float, batch_size, input_tokens, output_tokens, k: int,
                accepted) -> np.ndarray:
    """Energy (J) or time (s) of a batch's decode under speculative decoding: steps x step cost + context read."""
    steps = steps_for(output_tokens, accepted)
    return (steps * cost(batch_size, k, accepted)
            + per_context_token * context_read(batch_size, input_tokens, steps, accepted))


def step_cost_of_cells(total, prefill, per_context_token: float, batch_size, input_tokens, steps, accepted
                       ) -> np.ndarray:
    """A measured cell's step cost: its energy (or time) less the prefill and the context read, over its steps."""
    return (np.asarray(total, float) - np.asarray(prefill, float)
            - per_context_token * context_read(batch_size, input_tokens, steps, accepted)) / np.asarray(steps, float)

"""Speculative decoding (vLLM, a draft model proposing k tokens a step): what a step costs and what it yields.

One step: the draft proposes k tokens per sequence (k draft forwards, the first also catching up on the tokens the
last step accepted), the target verifies k + 1 tokens per sequence in one forward, and each sequence advances by
one token plus the drafted tokens accepted. With an independent per-token acceptance a, a step accepts
a + a^2 + ... + a^k drafted tokens per sequence on average.

A step's cost is fitted on measured cells (benchmarks/speculative.py): energy (or time) of a step of batch B that
accepts `acc` tokens per sequence = p0 + p1 B + acc (q0 + q1 B). The `acc` terms are the work accepted tokens add
(the draft's catch-up forward over them, their KV writes, the rejection sampler). Measured so far: the 8B target
with a 1B-shaped draft, k = 4, at acceptance 0 (the draft's own greedy proposals, counted by the engine) and 1
(vLLM's synthetic acceptance), batch 1 to 128, on the H100; other k are not measured, so not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def accepted_per_step(acceptance, k: int) -> np.ndarray:
    """Drafted tokens a step accepts per sequence on average: a + a^2 + ... + a^k for per-token acceptance a."""
    a = np.asarray(acceptance, dtype=float)
    if np.any((a < 0) | (a > 1)) or k < 1:
        raise ValueError("acceptance must be in [0, 1] and k >= 1")
    return sum(a ** i for i in range(1, k + 1))


def steps_for(output_tokens, accepted) -> np.ndarray:
    """Speculative steps a sequence takes for its output.

    The first token comes from prefill, then 1 + accepted tokens a step (the last step may overshoot; vLLM stops
    the sequence there).
    """
    o = np.asarray(output_tokens, dtype=float)
    return np.ceil(np.maximum(o - 1, 0) / (1 + np.asarray(accepted, dtype=float)))


def _design(batch_size, accepted) -> np.ndarray:
    b, acc = np.broadcast_arrays(np.asarray(batch_size, float), np.asarray(accepted, float))
    return np.column_stack([np.ones(b.size), b.ravel(), acc.ravel(), (acc * b).ravel()])


@dataclass(frozen=True)
class StepCost:
    """A speculative step's cost (J or s) by batch size and accepted tokens per sequence: p0, p1, q0, q1."""

    coef: tuple[float, float, float, float]

    @classmethod
    def fit(cls, batch_size, accepted, per_step) -> StepCost:
        """Least squares in relative error (each step cost weighs by its own size), so batch 1 counts as batch 128."""
        y = np.asarray(per_step, dtype=float)
        X = _design(batch_size, accepted)
        coef, *_ = np.linalg.lstsq(X / y[:, None], np.ones(len(y)), rcond=None)
        return cls(tuple(float(c) for c in coef))

    def __call__(self, batch_size, accepted) -> np.ndarray:
        shape = np.broadcast(np.asarray(batch_size), np.asarray(accepted)).shape
        return (_design(batch_size, accepted) @ np.asarray(self.coef)).reshape(shape)


def decode_energy(cost: StepCost, batch_size, output_tokens, acceptance, k: int) -> np.ndarray:
    """Energy (J) of a batch's decode under speculative decoding: its steps times a step's cost."""
    acc = accepted_per_step(acceptance, k)
    return steps_for(output_tokens, acc) * cost(batch_size, acc)

"""HF `generate` pads every batch to its longest request: what a workload costs served that way.

The workload estimate serves each request in a batch of its own lengths (the reference study's framing), which
vLLM's continuous batching comes close to. HF has no such scheduler: a batch of B requests runs at its longest
input and longest output, and any padding switches attention to its masked path (model/padding.py). Here the
workload's requests are drawn from its length distribution, grouped B at a time as they come (in random order), and
costed as padded batches; the HF offline replays in docs/validation.md check this way of costing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energy_predict.fitted import KNEE, EnergyModel, bounded_power
from energy_predict.predict.estimate import batch_sizes
from energy_predict.predict.serving import sample_requests
from energy_predict.serving import Deployment
from energy_predict.workload import Workload


@dataclass(frozen=True)
class PaddedPhases:
    """Energy (J) of padded `generate` batches by phase, the masked attention padding switches on, and engine time."""

    prefill_j: float
    decode_j: float
    padding_j: float
    engine_s: float

    @property
    def energy_j(self) -> float:
        return self.prefill_j + self.decode_j + self.padding_j


@dataclass(frozen=True)
class PaddedBatches:
    """A workload served as HF `generate` serves it: padded batches of `batch_cap` requests as they come.

    The masked attention of padding is counted with decode (`decode_j_per_request`); `padding_share` of the energy.
    """

    energy_kwh: float
    energy_per_request_j: float
    padding_share: float
    batches: int
    sampled_requests: int
    batch_cap: int
    prefill_j_per_request: float
    decode_j_per_request: float
    engine_s_per_request: float


def batches_phases(model: EnergyModel, dep: Deployment, inputs: np.ndarray, outputs: np.ndarray,
                   batches: list[list[int]]) -> PaddedPhases:
    """Energy by phase and engine seconds of `generate` batches of request indices.

    Each batch runs at its size, longest input and longest output, plus the masked-attention cost where its rows
    differ in length (one short row is enough).
    """
    sizes = np.array([len(b) for b in batches])
    widths = np.array([int(inputs[b].max()) for b in batches])
    news = np.array([int(outputs[b].max()) for b in batches])
    phases = model.batch_phases(dep, sizes, widths, news)
    extra_j = model.padding_extra_j(dep, sizes, widths, news)
    padded = np.array([len(set(inputs[b].tolist())) > 1 for b in batches])
    extra_b = extra_j * padded if extra_j is not None else np.zeros(len(batches))
    # the masked path is extra compute-bound attention over the padding: its energy takes time at the power such
    # work draws, the knee of the power limiter (then the batch is bounded inside idle..TDP like any other)
    tp = dep.serving.tensor_parallel
    idle_w, tdp_w = model.loaded_idle_w(dep) * tp, dep.gpu.tdp_w * tp
    knee_w = idle_w + KNEE * (tdp_w - idle_w)
    _, seconds = bounded_power(phases.energy_j + extra_b, phases.duration_s + extra_b / knee_w, idle_w, tdp_w)
    return PaddedPhases(float(phases.prefill_j.sum()), float(phases.decode_j.sum()), float(extra_b.sum()),
                        float(seconds.sum()))


def padded_batches(w: Workload, dep: Deployment, model: EnergyModel, n: int = 4096, seed: int = 0
                   ) -> PaddedBatches | None:
    """Energy of the workload as padded HF batches, or None where it does not apply (not HF, no padding fit)."""
    if dep.serving.framework != "hf" or model.padding_extra_j(dep, 1, 1, 2) is None:
        return None
    # a batch holds at most the requests there are: a workload of 3 requests is one batch of 3, not 4096 sampled
    # requests in full batches of the cap
    sampled = sample_requests(w, int(min(n, max(1, np.ceil(w.requests)))), seed)
    i, o = sampled.input_tokens, sampled.output_tokens
    cap = dep.serving.max_batch
    batches = []
    k = 0
    while k < len(i):
        b = len(i[k:k + cap])
        b = max(1, min(b, int(batch_sizes(dep, np.array([i[k:k + b].max()]), np.array([o[k:k + b].max()]))[0])))
        batches.append(list(range(k, k + b)))
        k += b
    p = batches_phases(model, dep, i, o, batches)
    per_request = p.energy_j / len(i)
    return PaddedBatches(energy_kwh=per_request * w.requests / 3.6e6, energy_per_request_j=per_request,
                         padding_share=p.padding_j / p.energy_j, batches=len(batches), sampled_requests=int(len(i)),
                         batch_cap=cap, prefill_j_per_request=p.prefill_j / len(i),
                         decode_j_per_request=(p.decode_j + p.padding_j) / len(i),
                         engine_s_per_request=p.engine_s / len(i))

"""The seam between a fitted model and prediction: what `predict/` may ask of any energy model.

`model/` implements it (the measured phase model, the analytic baselines); `predict/` composes it and never reads
coefficients or builds model features. Everything crossing the seam is a plain value defined here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from energy_predict.contracts.card import Ranges
from energy_predict.contracts.scores import HeldOutScore, LogBounds
from energy_predict.serving import Deployment

# What a prediction rests on, from firmest to weakest.
MEASURED, TRANSFERRED, EXTRAPOLATED, ANALYTIC = "measured", "transferred", "extrapolated", "analytic"


@dataclass(frozen=True)
class HeldOut:
    """The held-out error an answer's interval comes from, and what was done to it on the way.

    `scheme`: how the cells were held out (`in-domain` pools the within-configuration schemes, one score each);
    `widening`: the factor on the scores' log bounds where the answer reaches further than they were measured;
    `adds_to`: the error this one adds to (a transfer on top of another, an option's rule on the greedy answer).
    """

    scheme: str
    scores: tuple[HeldOutScore, ...]
    source_gpu: str | None = None  # the GPU whose coefficients answer, where it is another
    transfer: str | None = None  # sibling | datasheet: how a GPU transfer scaled the coefficients
    widening: float | None = None
    adds_to: HeldOut | None = None


@dataclass(frozen=True)
class Basis:
    """What a model's answer for one deployment rests on, and how far it can be trusted.

    `log_bounds`: the multiplicative 90% interval, exp(lo) .. exp(hi) x estimate, from the held-out error of this
    kind of prediction (in-domain cells, or the transfer used). `ranges`: measured batch/input/output ranges.
    """

    kind: str
    log_bounds: LogBounds
    reason: str
    ranges: Ranges | None = None  # None: no measured range (an analytic baseline)
    held_out: HeldOut | None = None  # the cross-validation score behind the interval
    extrapolation_log_bounds: LogBounds | None = None  # the interval of a request beyond `ranges`
    idle_measured: bool = True  # False where the idle power is a rule (a GPU never measured): idle energy is uncertain
    # where idle is measured: the 5th and 95th percentile of the loaded-idle readings over the median the answer
    # charges, the interval of the idle energy; (1, 1) where the card records no spread
    idle_bounds: tuple[float, float] = (1.0, 1.0)
    option: str | None = None  # what a decoding or speculative option's rule did to the greedy answer, and its error
    # log(published / tool) of independent published measurements under this key, which `log_bounds` was widened to
    # span (model/agreement.py); None where no band applied or it lay inside the interval
    external_log_bounds: LogBounds | None = None

    def idle_relative(self, busy: tuple[float, float]) -> tuple[float, float]:
        """The idle energy's interval as multiples of it.

        The loaded-idle readings' spread where idle is measured, else (a rule) the busy energy's interval `busy`.
        """
        return self.idle_bounds if self.idle_measured else busy


@dataclass(frozen=True)
class Phases:
    """Whole-batch energy (J) by phase and duration (s) of each cell; arrays."""

    prefill_j: np.ndarray
    decode_j: np.ndarray
    duration_s: np.ndarray

    @property
    def energy_j(self) -> np.ndarray:
        return self.prefill_j + self.decode_j


@dataclass(frozen=True)
class StepCosts:
    """Joules (or seconds) per unit of each physical term of one engine step (the simulator's cost model)."""

    prefill_const: float
    prefill_linear: float  # per prefill token
    prefill_attention: float  # per attention (query, key) pair
    step_const: float
    per_sequence: float  # per decoding sequence
    per_context_token: float  # per context token read from the KV cache
    # a mixture of experts' routed weights: per distinct expert a decode step's sequences touch (every layer's copy of
    # one expert), E (1 - (1 - k/E)^n) experts for n sequences each choosing k of E; 0 for a dense model
    per_expert: float = 0.0
    experts: int = 0
    experts_per_token: int = 0
    # speculative decoding: tokens a decode step advances each sequence by on average (1 + drafted tokens accepted),
    # and what a decode alongside prefill adds to the step beyond the weight reads the prefill constant holds (the
    # draft's further forwards, the wider verification); 1 and 0 without speculation
    tokens_per_step: float = 1.0
    mixed_const: float = 0.0

    def experts_touched(self, sequences: float) -> float:
        """Distinct routed experts per layer that `sequences` decoding tokens touch (expected, uniform routing)."""
        if not self.experts:
            return 0.0
        return self.experts * (1.0 - (1.0 - self.experts_per_token / self.experts) ** sequences)

    def split(self, n_decode: int, context_tokens: float, prefill_tokens: int, attention_pairs: float
              ) -> tuple[float, float]:
        """(prefill part, decode part) of one step's cost; a step with nothing in it costs nothing.

        One constant per step: a step holding prefill reads the weights once for its chunk, which the prefill
        constant (fitted on whole prefill batches) already holds; measured chunked prefill says so (findings).
        Plain floats: the simulator calls this once per step.
        """
        prefill = (self.prefill_const + self.prefill_linear * prefill_tokens
                   + self.prefill_attention * attention_pairs) if prefill_tokens else 0.0
        decode = self.per_sequence * n_decode + self.per_context_token * context_tokens if n_decode else 0.0
        if n_decode and not prefill_tokens:
            decode += self.step_const + self.per_expert * self.experts_touched(n_decode)
        elif n_decode:
            decode += self.mixed_const
        return prefill, decode

    def cost(self, n_decode: int, context_tokens: float, prefill_tokens: int, attention_pairs: float) -> float:
        """The whole cost of one step."""
        return sum(self.split(n_decode, context_tokens, prefill_tokens, attention_pairs))

    def decode_run(self, n_decode: int, context_tokens: float, steps: int) -> float:
        """The cost of `steps` pure-decode steps in a row, in closed form (context grows n x tokens_per_step a step)."""
        context_sum = steps * context_tokens + n_decode * self.tokens_per_step * steps * (steps - 1) / 2
        return (steps * (self.step_const + self.per_expert * self.experts_touched(n_decode)
                         + self.per_sequence * n_decode) + self.per_context_token * context_sum)


@dataclass(frozen=True)
class EngineStepCosts:
    """An engine step's energy (J) and time (s) per unit of each term, for the online simulator."""

    energy: StepCosts
    time: StepCosts


class EnergyModel(Protocol):
    """What prediction needs of a model. Energies are of the whole engine (all its GPUs)."""

    name: str
    kind: str  # "measured" or "analytic"

    def basis(self, dep: Deployment) -> Basis:
        """What an answer for `dep` rests on; raises EnergyPredictError where the model must refuse."""

    def batch_phases(self, dep: Deployment, batch_size, input_tokens, output_tokens, cached_tokens=0) -> Phases:
        """Energy by phase and duration of batches of equal requests (arrays broadcast).

        `cached_tokens`: each request's prompt prefix whose KV is already cached (prefix caching); its prefill is
        skipped, the rest of the prompt attends to it, decode is unchanged.
        """

    def step_costs(self, dep: Deployment) -> EngineStepCosts:
        """Energy and time per engine step, for the online simulator; EnergyPredictError where it has none."""

    def loaded_idle_w(self, dep: Deployment) -> float:
        """Power of one GPU holding a loaded engine with nothing to do (W)."""

    def padding_extra_j(self, dep: Deployment, batch_size, input_tokens, output_tokens) -> np.ndarray | None:
        """Extra energy of batches whose rows differ in length (HF masked attention), or None where not modelled."""


KNEE = 0.9  # share of the idle..TDP range above which a card's power limiter starts to bite


def soft_power_w(power_w, idle_w, tdp_w):
    """Power as the card delivers it: unchanged in the middle of idle..TDP, bent smoothly into the bounds near them.

    A card asked for more than its limit lowers its clocks, and does so before it reaches the limit: measured H100
    cells at full load sit at 660-700 W, not at 700 W. Above the knee, tanh folds any demand into (knee, TDP);
    below the mirrored knee it folds into (idle, knee). Strictly inside idle..TDP, monotone, and the identity
    between the knees.
    """
    p = np.asarray(power_w, float)
    span = tdp_w - idle_w
    hi, lo = idle_w + KNEE * span, idle_w + (1 - KNEE) * span
    band = (1 - KNEE) * span
    p = np.where(p > hi, hi + band * np.tanh((p - hi) / band), p)
    return np.where(p < lo, lo - band * np.tanh((lo - p) / band), p)


def bounded_power(energy_j, duration_s, idle_w: float, tdp_w: float) -> tuple[np.ndarray, np.ndarray]:
    """Reconcile separately fitted energy and time so that mean power lies strictly inside idle..TDP.

    Energy and duration are fitted apart, so their ratio can leave the physical range near its ends. Above it the
    card is power-limited, so the work took longer (energy kept, time = energy / power); below it the card still drew
    at least its idle power (time kept, energy = power x time).
    """
    e = np.asarray(energy_j, float)
    t = np.maximum(np.asarray(duration_s, float), 1e-12)
    raw = e / t
    p = soft_power_w(raw, idle_w, tdp_w)
    capped = p < raw
    return np.where(capped, e, p * t), np.where(capped, e / p, t)

"""The measured model behind `energy_predict.fitted.EnergyModel`: fitted coefficients answering as the card says.

`resolve(card, deployment)` (model/resolve.py) decides what an answer rests on (the coefficients of which fit key,
reached how, with which interval) or refuses; this class only carries the coefficients there (a sibling or a
datasheet GPU transfer, a tensor-parallel law) and computes batch phases, step costs and idle power with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from energy_predict.contracts.agreement import PublishedAgreement
from energy_predict.contracts.card import ModelCard
from energy_predict.fitted import Basis, EngineStepCosts, Phases, StepCosts, bounded_power
from energy_predict.gpus import resolve_gpu
from energy_predict.model import options
from energy_predict.model.padding import padding_extra_j
from energy_predict.model.phases import PhaseCoefficients, cell_terms
from energy_predict.model.resolution import Resolution
from energy_predict.model.resolve import resolve
from energy_predict.model.steps import step_costs
from energy_predict.model.tp import degree_coefficients
from energy_predict.model.transfer import transfer_coefficients
from energy_predict.serving import Deployment, Serving


@dataclass(frozen=True)
class PhaseModels:
    """The energy (J) and duration (s) phase coefficients that answer for one deployment."""

    energy: PhaseCoefficients
    duration: PhaseCoefficients


@dataclass
class MeasuredModel:
    """Energy and duration phase models fitted on measurements, their in-domain interval and their card."""

    energy: PhaseCoefficients
    duration: PhaseCoefficients
    log_bounds: tuple[float, float]  # in-domain 90% interval: exp(lo) .. exp(hi) x estimate
    card: ModelCard
    kind: str = "measured"
    # published-agreement bands scored against this very model (model/agreement.py); the loader sets them
    agreement: PublishedAgreement | None = None
    _resolved: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _moved: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.card.name

    def resolution(self, dep: Deployment) -> Resolution:
        """What the answer for `dep` rests on (`resolve`, once per deployment); `Refusal` where it must refuse."""
        if dep not in self._resolved:
            self._resolved[dep] = resolve(self.card, dep, self.agreement)
        return self._resolved[dep]

    def basis(self, dep: Deployment) -> Basis:
        basis = self.resolution(dep).basis()
        if not basis.idle_measured:
            return basis
        bounds = self.loaded_idle_bounds(dep)
        # no loaded reading to take a spread from: the empty GPU's idle stands for a loaded engine's (an
        # understatement), a rule as much as a datasheet's, so idle carries the busy energy's interval
        return replace(basis, idle_bounds=bounds) if bounds else replace(basis, idle_measured=False)

    def loaded_idle_bounds(self, dep: Deployment) -> tuple[float, float] | None:
        """The spread (5th, 95th percentile over the median) of the loaded-idle readings `loaded_idle_w` charges.

        None where it charges a rule (a GPU never measured) or the empty GPU's idle (no loaded reading).
        """
        loaded = self._loaded_idle(dep.base)
        return loaded[1] if loaded else None

    def _loaded_idle(self, dep: Deployment) -> tuple[float, tuple[float, float] | None] | None:
        """(watts, spread) of the loaded-engine idle a greedy `dep` is charged, or None.

        Measured on its GPU, else on the GPU its configuration is transferred from; None where neither has a loaded
        reading or the GPU follows a datasheet rule. A reading too few to give a spread takes the widest one the card
        records for any loaded engine.
        """
        resolution = self.resolution(dep)
        if resolution.route.datasheet is not None:
            return None
        framework = dep.serving.framework
        for readings in (self.card.idle(dep.gpu.name), self.card.idle(resolution.source_gpu)):
            if watts := readings.loaded(framework):
                return watts, readings.loaded_bounds(framework) or self.card.widest_loaded_idle_bounds()
        return None

    def _fitted(self, dep: Deployment) -> PhaseModels:
        """The coefficients for a greedy `dep`: the fitted ones, or carried there as its resolution's route says."""
        route = self.resolution(dep).route
        if route.tp_law is not None:
            key = route.key
            if key not in self._moved:
                energy, time = degree_coefficients(route.tp_law, key.tensor_parallel)
                scale_e, scale_t = self.energy.scale_, self.duration.scale_
                self._moved[key] = PhaseModels(PhaseCoefficients({key.flat: energy}, scale_e, 1, 1),
                                               PhaseCoefficients({key.flat: time}, scale_t, 1, 1))
            return self._moved[key]
        if route.gpu_transfer is None:
            return PhaseModels(self.energy, self.duration)
        src, dst = route.key.gpu, dep.gpu.name
        if route.datasheet is not None:  # the power map depends on the framework's loaded idle
            at = (src, dst, dep.serving.framework)
            if at not in self._moved:
                self._moved[at] = PhaseModels(*route.datasheet.coefficients(self.energy, self.duration))
            return self._moved[at]
        if (src, dst) not in self._moved:
            g_src = resolve_gpu(src)
            self._moved[(src, dst)] = PhaseModels(transfer_coefficients(self.energy, g_src, dep.gpu),
                                                  transfer_coefficients(self.duration, g_src, dep.gpu))
        return self._moved[(src, dst)]

    def phase_split(self, dep: Deployment, batch_size, input_tokens, output_tokens, cached_tokens=0):
        """(prefill J, decode J, prefill s, decode s) of greedy batches, as fitted (power not yet bounded)."""
        fitted = self._fitted(dep)
        terms = cell_terms(dep.arch, dep.serving, batch_size, input_tokens, output_tokens, cached_tokens)
        prefill_j, decode_j = fitted.energy.predict_cells(dep.arch, dep.gpu.name, dep.serving, terms)
        prefill_s, decode_s = fitted.duration.predict_cells(dep.arch, dep.gpu.name, dep.serving, terms)
        return prefill_j, decode_j, prefill_s, decode_s

    def batch_phases(self, dep: Deployment, batch_size, input_tokens, output_tokens, cached_tokens=0) -> Phases:
        s, base = dep.serving, dep.base
        if s.speculative:  # the target's and the draft's greedy prefill, then the measured steps
            option = options.speculative_option(self.card, dep)
            draft = options.draft_deployment(dep)
            prefill, _, prefill_s, _ = self.phase_split(base, batch_size, input_tokens, output_tokens, cached_tokens)
            draft_j, _, draft_s, _ = self.phase_split(draft, batch_size, input_tokens, output_tokens, cached_tokens)
            prefill, prefill_s = prefill + draft_j, prefill_s + draft_s
            decode, decode_s = options.speculative_decode(option, dep, self._greedy_step_costs(base),
                                                          self._greedy_step_costs(draft), batch_size, input_tokens,
                                                          output_tokens)
        else:  # a beam of width w is a greedy batch of w x the sequences, moved by its factor
            prefill, decode, prefill_s, decode_s = self.phase_split(
                base, np.asarray(batch_size) * s.beam_width, input_tokens, output_tokens, cached_tokens)
            if s.decoding != "greedy":
                option = options.decoding_option(self.card, dep)
                decode, decode_s = decode * option.energy_factor, decode_s * option.time_factor
        gpus = s.tensor_parallel
        whole = prefill + decode
        energy, duration = bounded_power(whole, prefill_s + decode_s, self.loaded_idle_w(dep) * gpus,
                                         dep.gpu.tdp_w * gpus)
        scale = np.divide(energy, whole, out=np.ones_like(energy), where=whole > 0)
        return Phases(prefill * scale, decode * scale, duration)

    def step_costs(self, dep: Deployment) -> EngineStepCosts:
        self.basis(dep)
        s = dep.serving
        if s.speculative:  # the measured speculative step, with the target's and the draft's greedy terms
            return options.speculative_step_costs(options.speculative_option(self.card, dep), dep,
                                                  self._greedy_step_costs(dep.base),
                                                  self._greedy_step_costs(options.draft_deployment(dep)))
        costs = self._greedy_step_costs(dep.base)
        if s.decoding == "greedy":
            return costs
        option = options.decoding_option(self.card, dep)
        return EngineStepCosts(_decode_scaled(costs.energy, option.energy_factor),
                               _decode_scaled(costs.time, option.time_factor))

    def _greedy_step_costs(self, dep: Deployment) -> EngineStepCosts:
        fitted = self._fitted(dep)
        return EngineStepCosts(step_costs(fitted.energy, dep), step_costs(fitted.duration, dep))

    def loaded_idle_w(self, dep: Deployment) -> float:
        """Measured idle power of a GPU holding this framework's engine (empty-GPU idle where not measured).

        A GPU never measured idles as its datasheet transfer says (a published figure, else the stated rule). The
        serving options idle as the greedy configuration does (the same engine, loaded).
        """
        dep = dep.base
        resolution = self.resolution(dep)
        if resolution.route.datasheet is not None:
            return resolution.route.datasheet.idle_dst_w
        # a loaded engine's idle where measured (`_loaded_idle`); else the empty card's, which understates it
        loaded = self._loaded_idle(dep)
        if loaded:
            return float(loaded[0])
        own, source = self.card.idle(dep.gpu.name), self.card.idle(resolution.source_gpu)
        return float(own.empty or source.empty or 0.0)

    def padding_extra_j(self, dep: Deployment, batch_size, input_tokens, output_tokens) -> np.ndarray | None:
        padding = self.card.hf_padding
        if dep.serving.framework != "hf" or not padding:
            return None
        rows = np.asarray(batch_size) * dep.serving.beam_width  # a beam pads each of its sequences
        return padding_extra_j(padding.coef, dep.arch, rows, input_tokens, output_tokens)

    def configurations(self, gpu: str) -> list[Serving]:
        """The serving configurations the model was fitted on for a GPU kind (for `compare`)."""
        return [Serving.from_dict(e.serving) for e in self.card.valid.serving_configs if e.gpu == gpu]


def _decode_scaled(costs: StepCosts, factor: float) -> StepCosts:
    """Step costs with their decode terms times a decoding option's factor (prefill unchanged)."""
    return replace(costs, step_const=costs.step_const * factor, per_sequence=costs.per_sequence * factor,
                   per_context_token=costs.per_context_token * factor, per_expert=costs.per_expert * factor)

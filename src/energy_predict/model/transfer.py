"""Transfer of fitted coefficients to a GPU where a configuration was not measured.

Two transfers, both from the fitted phase coefficients of a GPU that was measured:

- **Sibling** (`transfer_coefficients`): between GPUs of one architecture generation that share FLOP/s, clocks
  and TDP (the H100 SXM and H200 SXM share the Hopper die and differ in HBM), the kernels are the same and what
  changes is how fast memory is read. So the terms that count bytes (weights read per step, KV cache read per
  token) take the bandwidth ratio, in time and in energy (a memory-bound step draws power for as long as it waits
  on memory); every other term carries over. Its error is measured leave-one-GPU-out in both directions
  (`fit.gpu_transfer`), and a transferred answer carries that interval.
- **Datasheet** (`DatasheetTransfer`): to a GPU never measured (A100, L40S, B200, H100 PCIe, H200 NVL ...), from
  the nearest measured GPU, by the figures of both datasheets. Time: compute terms take the ratio of dense FLOP/s
  (fp8 or bf16, as the configuration computes), byte terms the ratio of memory bandwidth, and the terms set by
  launches and the host (per batch, per step, per layer, per sequence) carry over. Power: a GPU at the same load
  draws the same share of its idle..TDP range, `P_dst = idle_dst + (P_src - idle_src) x (TDP_dst - idle_dst) /
  (TDP_src - idle_src)`, applied to every term. No primary source gives the idle power of these GPUs, so the
  destination's loaded-engine idle follows a stated rule: the source's measured loaded idle scaled by the TDP ratio.
  Under that rule the power map is one factor, TDP_dst / TDP_src, so the energy coefficients are the time-scaled
  source coefficients times that factor: linear, never negative, and, between the H100 SXM and H200 SXM (equal
  FLOP/s and TDP), exactly the sibling transfer whose error was measured. Where a catalog entry does carry a
  published idle (an empty card), its loaded idle is that figure times the source's measured loaded/empty ratio.

The datasheet transfer's interval is the measured leave-one-GPU-out interval widened by a stated factor, because it
crosses a wider gap than the pair it was measured on: `SAME_GENERATION_WIDENING` within Hopper (FLOP/s and power
scaling, which the validated pair never exercised, since its two GPUs share both), `OTHER_GENERATION_WIDENING`
across generations (other kernels, memory and achieved fractions of the datasheet peaks as well). These factors are
priors, not measurements; a leave-one-generation-out score replaces them once a second generation is calibrated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from energy_predict.contracts.keys import FitKey
from energy_predict.gpus import GPU
from energy_predict.model.phases import TERMS, PhaseCoefficients
from energy_predict.model.power_curve import SHARE_BOUNDS, PowerCurve
from energy_predict.precision import Precision, precision_of

BANDWIDTH_TERMS = ("step_weight_bytes", "decode_kv_bytes")
ATTENTION_TERMS = ("decode_kv_bytes", "prefill_attention_flops")  # what attention kernels do
COMPUTE_TERMS = ("prefill_linear_flops", "prefill_attention_flops", "decode_linear_flops")
# The validated pair (H100 SXM <-> H200 SXM) scales bandwidth only. Another Hopper SKU also scales FLOP/s and the
# power range, never exercised by that pair: double the measured log interval. Another generation also changes the
# kernels (attention and GEMM paths per architecture), the memory (GDDR6 on Ada and Ampere workstation parts) and
# the share of the datasheet peaks they reach: triple it.
SAME_GENERATION_WIDENING = 2.0
# A GPU never measured reaches this share of the measured GPU's achieved fractions of the datasheet bandwidth and
# FLOP rate (1: the fractions carry over). Calibrated on the published time per output token of ML.ENERGY v3's B200
# runs (vLLM 0.11.1): 0.60 on all six models, 0.50-0.65 with each model held out (benchmarks/never_measured.py,
# benchmarks/results/never_measured.md). The one constant of the transfer calibrated on published data.
ACHIEVED_FRACTION_CARRY = 0.60
# The same for the attention kernels (KV-cache reads of decode, attention FLOPs of prefill), which are per
# architecture (FlashAttention 3 is Hopper's). Calibrated apart, leave-one-model-out, it scored worse held out than
# one carry for both (benchmarks/results/never_measured.md, variant "per-op, attention apart"): one carry it is.
ATTENTION_FRACTION_CARRY = ACHIEVED_FRACTION_CARRY
# Whether a GPU never measured takes the fitted power curve and the carried fractions (above) rather than the
# TDP-ratio rule at the measured fractions (docs/measurements/2026-12-07-power-curve-transfer.md); off, the TDP-ratio
# rule answers, as for a card fitted before the curves.
USE_POWER_CURVE = True
POWER_RULES = ("per-op", "per-byte", "share")
POWER_RULE = "per-byte"
OTHER_GENERATION_WIDENING = 3.0


def transfer_coefficients(pc: PhaseCoefficients, src: GPU, dst: GPU) -> PhaseCoefficients:
    """The source GPU's coefficients re-keyed to the destination GPU, byte terms scaled by the bandwidth ratio."""
    ratio = src.memory_bandwidth_bps / dst.memory_bandwidth_bps
    scale = np.array([ratio if t in BANDWIDTH_TERMS else 1.0 for t in TERMS])
    return _rekeyed(pc, src, dst, lambda config: scale)


def _rekeyed(pc: PhaseCoefficients, src: GPU, dst: GPU, scale_of) -> PhaseCoefficients:
    """`pc`'s coefficients of `src`, each multiplied by `scale_of(config)` and keyed to `dst` (None: left out)."""
    coef = {}
    for key, c in pc.coef_.items():
        config, model = key if isinstance(key[0], tuple) else (key, None)
        at = FitKey.from_flat(config)
        if at.gpu != src.name:
            continue
        scale = scale_of(config)
        if scale is None:
            continue
        moved = at.on(dst.name).flat
        coef[moved if model is None else (moved, model)] = c * scale
    return PhaseCoefficients(coef, np.asarray(pc.scale_), pc.min_cells, pc.min_cells_per_model)


def spec_distance(a: GPU, b: GPU) -> float:
    """How far apart two GPUs are in the figures the transfer scales by.

    The summed |log ratio| of memory bandwidth, dense bf16 FLOP/s and TDP.
    """
    return sum(abs(math.log(x / y)) for x, y in ((a.memory_bandwidth_bps, b.memory_bandwidth_bps),
                                                 (a.bf16_flops, b.bf16_flops), (a.tdp_w, b.tdp_w)))


def nearest_gpu(dst: GPU, candidates: list[GPU]) -> GPU | None:
    """The candidate nearest to `dst` by `spec_distance` (the first of equals); None where there is none."""
    return min(candidates, key=lambda g: spec_distance(g, dst), default=None)


@dataclass(frozen=True)
class DatasheetTransfer:
    """A measured GPU's coefficients carried to a GPU never measured, by both datasheets (see the module doc).

    `idle_src_w`: the source's measured loaded-engine idle power; `empty_src_w`: its measured empty-card idle
    (only used where the destination's catalog entry publishes an idle figure).
    """

    src: GPU
    dst: GPU
    idle_src_w: float
    empty_src_w: float | None = None
    curve: PowerCurve | None = None  # the source's fitted power curve (its framework's)
    carry: float = 1.0  # destination's achieved fraction of its peaks / the source's (ACHIEVED_FRACTION_CARRY)
    power_rule: str = "per-byte"  # how the curve's memory and compute terms carry (`curve_dst`; POWER_RULE)
    attention_carry: float = 1.0  # the same for the attention terms (ATTENTION_FRACTION_CARRY)

    def __post_init__(self) -> None:
        for name in ("carry", "attention_carry"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in (0, 1], got {getattr(self, name)!r}")
        if self.power_rule not in POWER_RULES:
            raise ValueError(f"power_rule must be one of {', '.join(POWER_RULES)}, got {self.power_rule!r}")

    @property
    def widening(self) -> float:
        """The stated factor on the measured leave-one-GPU-out log interval."""
        same = self.src.generation == self.dst.generation
        return SAME_GENERATION_WIDENING if same else OTHER_GENERATION_WIDENING

    @property
    def idle_dst_w(self) -> float:
        """The destination's loaded-engine idle power (W).

        A published empty-card idle x the loaded/empty ratio measured on the source; else (no primary source gives
        one) the source's measured loaded idle x the TDP ratio, the stated rule.
        """
        if self.dst.idle_w is not None and self.empty_src_w:
            return self.dst.idle_w * self.idle_src_w / self.empty_src_w
        return self.idle_src_w * self.dst.tdp_w / self.src.tdp_w

    @property
    def idle_rule(self) -> str:
        if self.dst.idle_w is not None and self.empty_src_w:
            return (f"its published idle {self.dst.idle_w:.0f} W x the loaded/empty idle ratio measured on "
                    f"{self.src.name}")
        return f"{self.src.name}'s measured loaded idle x the TDP ratio (no primary source gives an idle figure)"

    def time_scale(self, precision: Precision) -> np.ndarray:
        """Per term: destination seconds per source second.

        Compute terms: the FLOP/s ratio, byte terms: the bandwidth ratio, each over `carry` (the share of the
        source's achieved fraction of its peak the destination reaches; `attention_carry` for the attention terms);
        launch and host terms carry over.
        """
        flops = precision.peak_flops(self.src) / precision.peak_flops(self.dst)
        bandwidth = self.src.memory_bandwidth_bps / self.dst.memory_bandwidth_bps
        return np.array([(flops if t in COMPUTE_TERMS else bandwidth if t in BANDWIDTH_TERMS else 1.0)
                         / (self.attention_carry if t in ATTENTION_TERMS else
                            self.carry if t in COMPUTE_TERMS + BANDWIDTH_TERMS else 1.0) for t in TERMS])

    def curve_dst(self, precision: Precision) -> PowerCurve | None:
        """The source's power curve carried between the destination's idle and limit (None: no curve).

        `busy` keeps its share of the range. `per-op`: memory and compute keep the source's energy per byte and per
        FLOP (J/B, J/FLOP of the work), expressed as shares of the destination's range at its peaks, within
        `SHARE_BOUNDS`; `share`: they keep their shares of the range; `per-byte`: memory keeps its energy per byte (a
        property of the HBM), compute its share of the range at the same fraction of the datasheet FLOP rate (the
        rate the datasheet says the power limit allows).
        """
        if self.curve is None:
            return None
        c = self.curve.on(self.dst.name, self.idle_dst_w, self.dst.tdp_w)
        if self.power_rule == "share":
            return c
        memory = self.curve.joules_per_byte(self.src.memory_bandwidth_bps) * self.dst.memory_bandwidth_bps
        c = replace(c, memory=min(memory / c.range_w, SHARE_BOUNDS["memory"][1]))
        if self.power_rule == "per-byte":
            return c
        compute = self.curve.joules_per_flop(precision.peak_flops(self.src)) * precision.peak_flops(self.dst)
        return replace(c, compute=min(compute / c.range_w, SHARE_BOUNDS["compute"][1]))

    def coefficients(self, energy: PhaseCoefficients, duration: PhaseCoefficients
                     ) -> tuple[PhaseCoefficients, PhaseCoefficients]:
        """(energy, duration) coefficients keyed to the destination, less the keys it cannot run.

        A key in a precision whose tensor cores the destination lacks (fp8 on an A100) is left out
        (`Precision.transfer_refusal`). Per term, with r its time scale, t' = r t. Energy, with a power curve
        (model/power_curve.py) carried to the destination's idle..limit: e' = tp (idle + range busy) t', plus
        range memory / BW per byte read and range compute / R per FLOP (BW, R the destination's peaks): the step's
        mean power follows from its shares on the destination. Without one (a card fitted before the curves), the
        TDP-ratio rule: e' = r max(idle_dst t + a (e - idle_src t), 0), a = (TDP_dst - idle_dst) /
        (TDP_src - idle_src).
        """
        a = (self.dst.tdp_w - self.idle_dst_w) / (self.src.tdp_w - self.idle_src_w)

        def precision_of_key(config: tuple) -> Precision | None:
            # a fit key stands for the dtype every calibration ran
            p = precision_of(FitKey.from_flat(config).quantization)
            return None if p.transfer_refusal(self.dst) else p

        def time_scale(config):
            p = precision_of_key(config)
            return None if p is None else self.time_scale(p)

        moved_duration = _rekeyed(duration, self.src, self.dst, time_scale)
        coef = {}
        for key, e in energy.coef_.items():
            config, _model = key if isinstance(key[0], tuple) else (key, None)
            fit_key = FitKey.from_flat(config)
            p = precision_of_key(config) if fit_key.gpu == self.src.name else None
            if p is None:
                continue
            t = duration.coef_.get(key, np.zeros_like(e))
            moved = fit_key.on(self.dst.name).flat
            curve = self.curve_dst(p)
            if curve is None:
                dynamic = np.maximum(self.idle_dst_w * t + a * (e - self.idle_src_w * t), 0.0)
                value = self.time_scale(p) * dynamic
            else:
                work = np.array([curve.joules_per_byte(self.dst.memory_bandwidth_bps) if term in BANDWIDTH_TERMS
                                 else curve.joules_per_flop(p.peak_flops(self.dst)) if term in COMPUTE_TERMS
                                 else 0.0 for term in TERMS])
                busy_w = int(fit_key.tensor_parallel) * (curve.idle_w + curve.range_w * curve.busy)
                value = busy_w * self.time_scale(p) * t + work
            coef[moved if _model is None else (moved, _model)] = value
        moved_energy = PhaseCoefficients(coef, np.asarray(energy.scale_), energy.min_cells, energy.min_cells_per_model)
        return moved_energy, moved_duration

    def describe(self, precision: Precision) -> str:
        """What was scaled and by how much, for a basis reason."""
        flops = precision.peak_flops(self.dst) / precision.peak_flops(self.src)
        bandwidth = self.dst.memory_bandwidth_bps / self.src.memory_bandwidth_bps
        apart = f" ({self.attention_carry:.2f}x for attention)" if self.attention_carry != self.carry else ""
        carried = (f", reached at {self.carry:.2f}x {self.src.name}'s achieved fractions of the peaks{apart}"
                   if (self.carry, self.attention_carry) != (1, 1) else "")
        if self.curve is None:
            power = (f"power mapped from idle..TDP {self.idle_src_w:.0f}-{self.src.tdp_w:.0f} W to "
                     f"{self.idle_dst_w:.0f}-{self.dst.tdp_w:.0f} W")
        elif self.power_rule == "share":
            power = (f"power from {self.src.name}'s fitted curve (busy {self.curve.busy:.2f}, memory "
                     f"{self.curve.memory:.2f}, compute {self.curve.compute:.2f} of the range) between "
                     f"{self.dst.name}'s idle and limit {self.idle_dst_w:.0f}-{self.dst.tdp_w:.0f} W")
        else:
            flop = " and per FLOP" if self.power_rule == "per-op" else ", compute at its share of the range"
            power = (f"power from {self.src.name}'s fitted curve: its busy share of {self.dst.name}'s idle..limit "
                     f"{self.idle_dst_w:.0f}-{self.dst.tdp_w:.0f} W, its energy per byte "
                     f"({1e12 * self.curve.joules_per_byte(self.src.memory_bandwidth_bps):.0f} pJ/B){flop}, "
                     "within that limit")
        return (f"{precision.peak} FLOP/s x{flops:.2f}, bandwidth x{bandwidth:.2f}{carried}; {power}; "
                f"idle: {self.idle_rule}")

    def widening_reason(self) -> str:
        if self.src.generation == self.dst.generation:
            return (f"x{self.widening:g}: same generation ({self.dst.generation}), but FLOP/s and power scaling were "
                    "never exercised by the validated pair")
        return (f"x{self.widening:g}: another generation ({self.dst.generation} vs {self.src.generation}: other "
                "kernels, memory and achieved shares of the datasheet peaks)")

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
from dataclasses import dataclass

import numpy as np

from energy_predict.contracts.keys import FitKey
from energy_predict.gpus import GPU
from energy_predict.model.phases import TERMS, PhaseCoefficients
from energy_predict.precision import Precision, precision_of

BANDWIDTH_TERMS = ("step_weight_bytes", "decode_kv_bytes")
COMPUTE_TERMS = ("prefill_linear_flops", "prefill_attention_flops", "decode_linear_flops")
# The validated pair (H100 SXM <-> H200 SXM) scales bandwidth only. Another Hopper SKU also scales FLOP/s and the
# power range, never exercised by that pair: double the measured log interval. Another generation also changes the
# kernels (attention and GEMM paths per architecture), the memory (GDDR6 on Ada and Ampere workstation parts) and
# the share of the datasheet peaks they reach: triple it.
SAME_GENERATION_WIDENING = 2.0
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
        """Per term: destination seconds per source second (compute: FLOP/s ratio; bytes: bandwidth ratio)."""
        flops = precision.peak_flops(self.src) / precision.peak_flops(self.dst)
        bandwidth = self.src.memory_bandwidth_bps / self.dst.memory_bandwidth_bps
        return np.array([flops if t in COMPUTE_TERMS else bandwidth if t in BANDWIDTH_TERMS else 1.0
                         for t in TERMS])

    def coefficients(self, energy: PhaseCoefficients, duration: PhaseCoefficients
                     ) -> tuple[PhaseCoefficients, PhaseCoefficients]:
        """(energy, duration) coefficients keyed to the destination, less the keys it cannot run.

        A key in a precision whose tensor cores the destination lacks (fp8 on an A100) is left out
        (`Precision.transfer_refusal`).

        Per term, with r its time scale: t' = r t and e' = r max(idle_dst t + a (e - idle_src t), 0), where
        a = (TDP_dst - idle_dst) / (TDP_src - idle_src). Under the TDP rule for idle this is e' = r e TDP_dst/TDP_src.
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
            dynamic = np.maximum(self.idle_dst_w * t + a * (e - self.idle_src_w * t), 0.0)
            moved = fit_key.on(self.dst.name).flat
            coef[moved if _model is None else (moved, _model)] = self.time_scale(p) * dynamic
        moved_energy = PhaseCoefficients(coef, np.asarray(energy.scale_), energy.min_cells, energy.min_cells_per_model)
        return moved_energy, moved_duration

    def describe(self, precision: Precision) -> str:
        """What was scaled and by how much, for a basis reason."""
        flops = precision.peak_flops(self.dst) / precision.peak_flops(self.src)
        bandwidth = self.dst.memory_bandwidth_bps / self.src.memory_bandwidth_bps
        return (f"{precision.peak} FLOP/s x{flops:.2f}, bandwidth x{bandwidth:.2f}, power "
                f"mapped from idle..TDP {self.idle_src_w:.0f}-{self.src.tdp_w:.0f} W to "
                f"{self.idle_dst_w:.0f}-{self.dst.tdp_w:.0f} W; idle: {self.idle_rule}")

    def widening_reason(self) -> str:
        if self.src.generation == self.dst.generation:
            return (f"x{self.widening:g}: same generation ({self.dst.generation}), but FLOP/s and power scaling were "
                    "never exercised by the validated pair")
        return (f"x{self.widening:g}: another generation ({self.dst.generation} vs {self.src.generation}: other "
                "kernels, memory and achieved shares of the datasheet peaks)")

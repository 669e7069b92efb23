"""Analytic energy baselines. Neither is fitted to measurements; they show how far theory is from a meter.

(a) FLOPs/TDP, the reference study's estimate (Fernandez et al., 2025):
        E = TDP / peak FLOP/s x FLOPs
    i.e. the GPU runs at its datasheet peak and draws its full TDP while doing so.
(b) Roofline, per phase and per batch of B sequences:
        prefill time  = max(B x F_prefill / peak, bytes_prefill / bandwidth)
        decode time   = sum over steps t of max(B x F_step(t) / peak, bytes_step(t) / bandwidth)
        energy        = time x TDP
    The decode sum is exact: both terms are linear in the context, so their maximum switches at most once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energy_predict import flops
from energy_predict.architectures import Architecture
from energy_predict.gpus import GPU
from energy_predict.precision import KEY_DTYPE, PRECISIONS, Precision
from energy_predict.serving import Deployment


def _precision(p: Precision | None) -> Precision:
    """The precision asked for; by default the one every calibration ran."""
    return PRECISIONS[KEY_DTYPE] if p is None else p


def flops_tdp_energy_j(total_flops, gpu: GPU, precision: Precision | None = None):
    """Joules for `total_flops` at the GPU's peak rate (of the precision's datasheet column) and TDP."""
    if np.any(np.asarray(total_flops) < 0):
        raise ValueError("total_flops must be >= 0")
    return np.asarray(total_flops, dtype=float) * gpu.tdp_w / _precision(precision).peak_flops(gpu)


def _sum_linear(lo, hi, a, b):
    """Sum of a + b*t over integers t in [lo, hi] (0 where hi < lo)."""
    n = np.maximum(hi - lo + 1, 0)
    return n * a + b * (lo + hi) * n / 2


def sum_of_max_linear(lo, hi, f0, f1, g0, g1):
    """Sum over integers t in [lo, hi] of max(f0 + f1 t, g0 + g1 t), vectorised."""
    lo, hi, f0, f1, g0, g1 = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (lo, hi, f0, f1, g0, g1)))
    d0, d1 = f0 - g0, f1 - g1
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = np.where(d1 != 0, -d0 / np.where(d1 == 0, 1, d1), 0.0)
    # f >= g on [f_lo, f_hi]; g elsewhere
    f_lo = np.where(d1 > 0, np.maximum(lo, np.ceil(cross)), lo)
    f_hi = np.where(d1 < 0, np.minimum(hi, np.floor(cross)), hi)
    flat = d1 == 0
    f_lo = np.where(flat & (d0 < 0), hi + 1, f_lo)
    f_sum = _sum_linear(f_lo, np.minimum(f_hi, hi), f0, f1)
    # g takes the rest: [lo, f_lo-1] and [f_hi+1, hi] (f's region is one interval)
    g_sum = _sum_linear(lo, np.minimum(f_lo - 1, hi), g0, g1) + _sum_linear(np.maximum(f_hi + 1, lo), hi, g0, g1)
    empty_f = f_lo > f_hi
    return np.where(empty_f, _sum_linear(lo, hi, g0, g1), f_sum + g_sum)


@dataclass(frozen=True)
class PhaseEstimate:
    """Time and energy of one batch, split by phase. Arrays where the inputs were arrays."""

    prefill_s: np.ndarray
    decode_s: np.ndarray
    prefill_j: np.ndarray
    decode_j: np.ndarray

    @property
    def energy_j(self) -> np.ndarray:
        return self.prefill_j + self.decode_j

    @property
    def duration_s(self) -> np.ndarray:
        return self.prefill_s + self.decode_s


def roofline_batch(arch: Architecture, gpu: GPU, batch_size, input_tokens, output_tokens,
                   precision: Precision | None = None, cached_tokens=0) -> PhaseEstimate:
    """Roofline time and energy (at TDP) of a batch of `batch_size` requests of equal lengths.

    `precision`: its peak FLOP/s and bytes per weight and KV value (default: what every calibration ran).
    `cached_tokens`: each request's prompt prefix found in the prefix cache (not computed in prefill).
    """
    p = _precision(precision)
    bpp, kv = p.weight_bytes_per_param, p.kv_bytes_per_value
    b = np.asarray(batch_size, dtype=float)
    i = np.asarray(input_tokens, dtype=float)
    o = np.asarray(output_tokens, dtype=float)
    if np.any(b < 1) or np.any(i < 0) or np.any(o < 0):
        raise ValueError("batch_size must be >= 1 and token counts >= 0")
    peak, bw = p.peak_flops(gpu), gpu.memory_bandwidth_bps
    prefill_s = np.maximum(b * flops.prefill_flops(arch, i, cached_tokens=cached_tokens) / peak,
                           flops.prefill_bytes(arch, b, i, bpp, cached_tokens, kv) / bw)
    # decode step t (1..o-1) has context c = i + t: compute and bytes are both linear in t
    step0 = flops.decode_step_flops(arch, i)  # context i, so step t adds t x slope
    slope_f = flops.decode_step_flops(arch, i + 1) - step0
    bytes0 = flops.decode_step_bytes(arch, b, i, bpp, kv)
    slope_b = flops.decode_step_bytes(arch, b, i + 1, bpp, kv) - bytes0
    decode_s = sum_of_max_linear(1, o - 1, b * step0 / peak, b * slope_f / peak, bytes0 / bw, slope_b / bw)
    return PhaseEstimate(prefill_s, decode_s, prefill_s * gpu.tdp_w, decode_s * gpu.tdp_w)


def flops_tdp_batch(arch: Architecture, gpu: GPU, batch_size, input_tokens, output_tokens,
                    precision: Precision | None = None, cached_tokens=0) -> PhaseEstimate:
    """FLOPs/TDP of a batch of `batch_size` requests of equal lengths, per phase: its FLOPs at peak, at TDP."""
    b = np.asarray(batch_size, dtype=float)
    peak = _precision(precision).peak_flops(gpu)
    prefill_s = b * flops.prefill_flops(arch, input_tokens, cached_tokens=cached_tokens) / peak
    decode_s = b * flops.decode_flops(arch, input_tokens, output_tokens) / peak
    return PhaseEstimate(prefill_s, decode_s, prefill_s * gpu.tdp_w, decode_s * gpu.tdp_w)


@dataclass(frozen=True)
class Baselines:
    """Both analytic baselines of the same batches."""

    flops_tdp: PhaseEstimate
    roofline: PhaseEstimate


def deployment_baselines(dep: Deployment, batch_size, input_tokens, output_tokens, cached_tokens=0) -> Baselines:
    """Both baselines of batches of `batch_size` requests served by `dep`, in its precision (peak and bytes).

    A beam of width w decodes w sequences per request (HF expands the prompts to B x w rows before prefill), so a
    batch of B requests is costed as B x w sequences. The analytic models' answers (`--energy-model roofline`) and the
    baselines beside every report both come from here.
    """
    s = dep.serving
    rows = np.asarray(batch_size) * s.beam_width
    return Baselines(flops_tdp_batch(dep.arch, dep.gpu, rows, input_tokens, output_tokens, s.precision, cached_tokens),
                     roofline_batch(dep.arch, dep.gpu, rows, input_tokens, output_tokens, s.precision, cached_tokens))


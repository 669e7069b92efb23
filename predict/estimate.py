"""Workload energy: exact-length and ceiling-bin estimates from a batch-energy model, beside the baselines.

A request of lengths (i, o) is served in a full batch of B equal requests (B = the serving cap, or the
largest batch that fits in memory), so it costs E_batch(B, i, o) / B: the reference study's assumption for
offline serving. The binned estimate applies the same model at the bins' ceilings, as the study did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from energy_predict.architectures import Architecture, resolve_architecture
from energy_predict.baselines import max_batch_that_fits
from energy_predict.bins import BIN_SETS, ceiling_bin
from energy_predict.gpus import GPU, resolve_gpu
from energy_predict.model.analytic import baseline_phases
from energy_predict.model.features import cell_frame
from energy_predict.profile import Profile
from energy_predict.workload import Workload


class EnergyModel(Protocol):
    """What predict needs of a model: batch energy by phase (and, if it has one, an interval)."""

    name: str
    kind: str

    def predict_phases(self, X: pd.DataFrame) -> pd.DataFrame:
        """Columns prefill_j, decode_j, duration_s, and optionally low_j, high_j (whole batch)."""


@dataclass(frozen=True)
class Deployment:
    arch: Architecture
    gpu: GPU
    serving: dict
    gpu_count: int = 1


def deployment_from_profile(p: Profile, base_dir: Path | None = None) -> Deployment:
    """Resolve the profile's model and GPU (InputError naming the field when unknown)."""
    spec = p.model
    if base_dir is not None and (spec.endswith(".json") or "/" in spec) and not Path(spec).is_absolute():
        spec = str(base_dir / spec)
    arch = resolve_architecture(spec)
    serving = p.serving.model_dump()
    serving["backend"] = serving["framework"]
    return Deployment(arch, resolve_gpu(p.hardware.gpu), serving, p.serving.tensor_parallel)


def batch_sizes(dep: Deployment, input_tokens, output_tokens) -> np.ndarray:
    """The batch each request is served in: the cap, or fewer where memory runs out (never below 1)."""
    bpp = 1.0 if dep.serving.get("quantization") == "fp8" else 2.0
    fits = max_batch_that_fits(dep.arch, dep.gpu, input_tokens, output_tokens, dep.gpu_count, bpp)
    return np.clip(fits, 1, int(dep.serving.get("max_batch", 256)))


@dataclass
class Estimate:
    """A workload's energy and what it is made of. Joules and seconds unless a name says otherwise."""

    model_name: str
    model_kind: str
    requests: float
    energy_j: float
    low_j: float
    high_j: float
    prefill_j: float
    decode_j: float
    gpu_s: float
    input_tokens: float
    output_tokens: float
    per_request_j: dict[str, float]
    binned_energy_j: float
    flops_tdp_j: float
    roofline_j: float
    bins: pd.DataFrame
    out_of_range: dict[str, int]
    latency_p90_s: float = 0.0  # p90 over requests of their batch's duration
    notes: list[str] = field(default_factory=list)


def _unique_rows(w: Workload) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse equal (input, output) rows, summing weights: prediction cost scales with distinct lengths."""
    key = w.input_tokens.astype(np.int64) * (1 << 32) + w.output_tokens.astype(np.int64)
    uniq, inverse = np.unique(key, return_inverse=True)
    weight = np.bincount(inverse, weights=w.weight)
    return uniq >> 32, uniq & ((1 << 32) - 1), weight


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


def _cells(dep: Deployment, i: np.ndarray, o: np.ndarray) -> pd.DataFrame:
    """One row per request length, at the batch it is served in."""
    return cell_frame(dep.arch, dep.gpu, dep.serving, batch_sizes(dep, i, o), i, o)


def _per_request(model: EnergyModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Per-request phases: the model's whole-batch phases divided by the batch size."""
    b = frame["batch_size"].to_numpy()
    phases = model.predict_phases(frame).reset_index(drop=True)
    out = pd.DataFrame({"batch_size": b})
    for col in ("prefill_j", "decode_j", "duration_s", "low_j", "high_j"):
        if col in phases:
            out[col] = phases[col].to_numpy() / b
    out["energy_j"] = out["prefill_j"] + out["decode_j"]
    if "low_j" not in out:
        out["low_j"] = out["high_j"] = out["energy_j"]
    return out


def _range_notes(model: EnergyModel, i, o, weight, b) -> list[str]:
    """Say how much of the workload lies beyond what the model's measurements cover."""
    card = getattr(model, "card", None)
    if card is None:
        return [f"'{model.name}' is an analytic baseline, not fitted to measurements; its interval is a point"]
    v = card["valid"]
    notes = []
    for label, values, (lo, hi) in (("input", i, v["input_tokens"]), ("output", o, v["output_tokens"]),
                                    ("batch", b, v["batch_size"])):
        share = float(weight[(values < lo) | (values > hi)].sum() / weight.sum())
        if share > 0:
            notes.append(f"{100 * share:.1f}% of requests have {label} sizes outside the measured {lo}-{hi}: "
                         "extrapolated from the measured phases")
    return notes


def estimate_workload(w: Workload, dep: Deployment, model: EnergyModel) -> Estimate:
    """Energy of the workload under `model`, with baselines, bins and the binned (reference) estimate."""
    i, o, weight = _unique_rows(w)
    cells = _cells(dep, i, o)
    exact = _per_request(model, cells)
    b = exact["batch_size"].to_numpy()
    flops_phases, roof_phases = baseline_phases(cells)
    flops_tdp = (flops_phases["prefill_j"] + flops_phases["decode_j"]).to_numpy() / b
    roofline = (roof_phases["prefill_j"] + roof_phases["decode_j"]).to_numpy() / b

    bins = BIN_SETS["extended"]
    bi, in_i = ceiling_bin(i, bins.input_bins)
    bo, in_o = ceiling_bin(o, bins.output_bins)
    ref = BIN_SETS["reference"]
    _, ref_i = ceiling_bin(i, ref.input_bins)
    _, ref_o = ceiling_bin(o, ref.output_bins)
    rows = pd.DataFrame({"input_bin": bi, "output_bin": bo, "requests": weight,
                         "energy_j": weight * exact["energy_j"], "prefill_j": weight * exact["prefill_j"],
                         "decode_j": weight * exact["decode_j"], "flops_tdp_j": weight * flops_tdp,
                         "roofline_j": weight * roofline})
    table = rows.groupby(["input_bin", "output_bin"], as_index=False).sum()
    at_ceiling = _per_request(model, _cells(dep, table["input_bin"].to_numpy(), table["output_bin"].to_numpy()))
    table["binned_energy_j"] = table["requests"].to_numpy() * at_ceiling["energy_j"].to_numpy()

    e = exact["energy_j"].to_numpy()
    notes = _range_notes(model, i, o, weight, exact["batch_size"].to_numpy())
    beyond = int(weight[~(in_i & in_o)].sum().round())
    if beyond:
        notes.append(f"{beyond} requests exceed the extended bins (inputs > 131072 or outputs > 4096): "
                     "they are estimated at their own lengths, outside any measured range")
    return Estimate(
        model_name=model.name, model_kind=model.kind, requests=float(weight.sum()),
        energy_j=float(weight @ e), low_j=float(weight @ exact["low_j"]), high_j=float(weight @ exact["high_j"]),
        prefill_j=float(weight @ exact["prefill_j"]), decode_j=float(weight @ exact["decode_j"]),
        gpu_s=float(weight @ exact["duration_s"]) * dep.gpu_count,
        input_tokens=float(weight @ i), output_tokens=float(weight @ o),
        per_request_j={"mean": float(weight @ e / weight.sum()), "p50": _weighted_quantile(e, weight, 0.5),
                       "p90": _weighted_quantile(e, weight, 0.9)},
        binned_energy_j=float(table["binned_energy_j"].sum()),
        flops_tdp_j=float(weight @ flops_tdp), roofline_j=float(weight @ roofline),
        bins=table,
        latency_p90_s=_weighted_quantile(exact["duration_s"].to_numpy() * exact["batch_size"].to_numpy(), weight, 0.9),
        out_of_range={"reference_bins": int(weight[~(ref_i & ref_o)].sum().round()), "extended_bins": beyond},
        notes=notes,
    )

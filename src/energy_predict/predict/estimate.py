"""Offline workload energy: exact-length and ceiling-bin estimates from a fitted model, beside the baselines.

A request of lengths (i, o) is served in a full batch of B equal requests (B = the serving cap, or the largest
batch whose KV cache fits), so it costs E_batch(B, i, o) / B: the reference study's assumption for offline
serving. The binned estimate applies the same model at the bins' ceilings, as the study did.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from energy_predict.baselines import Baselines, deployment_baselines
from energy_predict.bins import BIN_SETS, ceiling_bin
from energy_predict.fitted import EXTRAPOLATED, Basis, EnergyModel
from energy_predict.memory import (
    check_feasible,
    kv_token_capacity,
    max_batch_that_fits,
    running_sequences_that_fit,
)
from energy_predict.prefix import PrefixReuse, prefix_reuse
from energy_predict.serving import Deployment
from energy_predict.workload import Workload

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class PerRequest:
    """Energy per request (J): the mean, and the median and p90 where requests are costed one by one (offline)."""

    mean: float
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class BatchUsed:
    """The batch sizes requests were served in.

    Smallest, request-weighted mean, largest, and the share of requests in batches below the cap (their KV cache
    would not fit).
    """

    min: int
    mean: float
    max: int
    reduced_share: float


@dataclass(frozen=True)
class OutOfRange:
    """Requests beyond the reference study's bins (input > 8192 or output > 512) and beyond the extended bins."""

    reference_bins: int
    extended_bins: int


@dataclass(frozen=True)
class LengthRows:
    """A workload's distinct (input, output) lengths and how many requests have each."""

    input_tokens: np.ndarray
    output_tokens: np.ndarray
    weight: np.ndarray


class BinRow(NamedTuple):
    """One row of `BinTable`: a (input, output) ceiling bin's requests and energies (J)."""

    input_bin: int
    output_bin: int
    requests: float
    energy_j: float
    prefill_j: float
    decode_j: float
    flops_tdp_j: float
    roofline_j: float
    binned_energy_j: float  # NaN where the bin's ceiling lengths do not fit in memory


@dataclass(frozen=True)
class BinTable:
    """The offline estimate by ceiling bin, one array per column, rows ordered by (input_bin, output_bin)."""

    input_bin: np.ndarray
    output_bin: np.ndarray
    requests: np.ndarray
    energy_j: np.ndarray
    prefill_j: np.ndarray
    decode_j: np.ndarray
    flops_tdp_j: np.ndarray
    roofline_j: np.ndarray
    binned_energy_j: np.ndarray

    def __len__(self) -> int:
        return len(self.input_bin)

    def rows(self) -> Iterator[BinRow]:
        """The rows, in order."""
        return (BinRow(*row) for row in zip(*(getattr(self, f.name).tolist() for f in fields(self))))

    def to_frame(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (its columns in this order)."""
        import pandas as pd  # a prediction does not need pandas until a frame is asked for

        return pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self)})


def bin_table(input_bin: np.ndarray, output_bin: np.ndarray, requests: np.ndarray, energy_j: np.ndarray,
              prefill_j: np.ndarray, decode_j: np.ndarray, flops_tdp_j: np.ndarray, roofline_j: np.ndarray
              ) -> BinTable:
    """Rows summed by (input_bin, output_bin), ordered by bin; `binned_energy_j` NaN until it is known."""
    pairs, inverse = np.unique(np.stack([input_bin, output_bin], axis=1), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)

    def summed(values: np.ndarray) -> np.ndarray:
        return np.bincount(inverse, weights=values, minlength=len(pairs))

    return BinTable(pairs[:, 0], pairs[:, 1], summed(requests), summed(energy_j), summed(prefill_j),
                    summed(decode_j), summed(flops_tdp_j), summed(roofline_j), np.full(len(pairs), np.nan))


@dataclass(frozen=True)
class RequestCosts:
    """Per request: its batch's size, phases (J) and duration (s) divided among the batch, and the batch's time."""

    batch_size: np.ndarray
    prefill_j: np.ndarray
    decode_j: np.ndarray
    energy_j: np.ndarray
    duration_s: np.ndarray
    batch_duration_s: np.ndarray


@dataclass(frozen=True)
class IntervalUsed:
    """The 90% interval a whole answer carries, and which bounds made it.

    `log_bounds`: log(low / estimate), log(high / estimate) over the workload (each request's bounds weighted by its
    energy); `used`: which of the basis's bounds applied (`basis`: its route's, every request inside the measured
    ranges; `extrapolation`: every request beyond them; `basis and extrapolation`: some of each) and what they are.
    """

    log_bounds: tuple[float, float]
    used: str


def interval_used(basis: Basis, extrapolated_share: float, low_j: float, energy_j: float, high_j: float
                  ) -> IntervalUsed:
    """What the answer's interval is made of (`IntervalUsed`); pure."""
    bounds = (float(np.log(low_j / energy_j)), float(np.log(high_j / energy_j))) if energy_j > 0 else (0.0, 0.0)
    route = (f"the {basis.kind} basis's bounds {basis.log_bounds[0]:+.3f}..{basis.log_bounds[1]:+.3f} "
             f"(its held-out error: {basis.held_out.scheme if basis.held_out else 'none'}")
    if (band := basis.external_log_bounds) is not None:
        route += (f"; widened to span independent published measurements, published / tool "
                  f"{np.exp(band[0]):.2f}-{np.exp(band[1]):.2f}x: artifacts/external/published_agreement.json")
    route += ")"
    extra = basis.extrapolation_log_bounds
    if extra is None or extrapolated_share <= 0:
        return IntervalUsed(bounds, f"basis: {route}")
    beyond = (f"the extrapolation bounds {extra[0]:+.3f}..{extra[1]:+.3f} (held-out edge folds beyond the measured "
              "ranges, never narrower than their p90 error" + (" nor the published band" if band is not None else "")
              + ")")
    if extrapolated_share >= 1:
        return IntervalUsed(bounds, f"extrapolation: every request lies beyond the measured ranges: {beyond}")
    return IntervalUsed(bounds, f"basis and extrapolation: {100 * extrapolated_share:.1f}% of requests beyond the "
                                f"measured ranges take {beyond}, the rest {route}")


@dataclass
class Estimate:
    """A workload's offline energy and what it is made of. Joules and seconds unless a name says otherwise."""

    model_name: str
    basis: Basis
    requests: float
    energy_j: float
    low_j: float
    high_j: float
    prefill_j: float
    decode_j: float
    busy_s: float  # engine time (each engine spans tensor_parallel GPUs)
    input_tokens: float
    output_tokens: float
    per_request_j: PerRequest
    binned_energy_j: float
    flops_tdp_j: float
    roofline_j: float
    bins: BinTable
    out_of_range: OutOfRange
    batch: BatchUsed
    extrapolated_share: float
    latency_p90_s: float = 0.0  # p90 over requests of their batch's duration
    notes: list[str] = field(default_factory=list)
    prefix: PrefixReuse = PrefixReuse(False)  # prefix caching: off, or the hit rate used and where it came from
    prefill_tokens_skipped: float = 0.0  # prompt tokens served from the prefix cache (in `input_tokens`)
    interval: IntervalUsed | None = None  # which bounds made low_j..high_j

    @property
    def relative_interval(self) -> tuple[float, float]:
        """(low, high) as multiples of the estimate: what a headline built from this estimate carries."""
        return (self.low_j / self.energy_j, self.high_j / self.energy_j) if self.energy_j else (1.0, 1.0)

    @property
    def basis_kind(self) -> str:
        """The basis of the whole answer: `extrapolated` where part of the workload lies outside the ranges."""
        return EXTRAPOLATED if self.basis.kind == "measured" and self.extrapolated_share > 0 else self.basis.kind


def unique_rows(w: Workload) -> LengthRows:
    """Collapse equal (input, output) rows, summing weights: prediction cost scales with distinct lengths."""
    i, o = w.input_tokens.astype(np.int64), w.output_tokens.astype(np.int64)
    if len(i) and 0 <= min(i.min(), o.min()) and max(i.max(), o.max()) < 2**31:  # one int64 key: fast
        uniq, inverse = np.unique(i * 2**31 + o, return_inverse=True)
        return LengthRows(uniq // 2**31, uniq % 2**31, np.bincount(inverse.reshape(-1), weights=w.weight))
    pairs = np.stack([i, o], axis=1)  # any other lengths: exact, slower
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return LengthRows(uniq[:, 0], uniq[:, 1], np.bincount(inverse.reshape(-1), weights=w.weight))


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-quantile of values, each counted with its weight."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][min(np.searchsorted(cum, q * cum[-1]), len(cum) - 1)])


def batch_sizes(dep: Deployment, input_tokens, output_tokens, requests: float | None = None, weight=None
                ) -> np.ndarray:
    """The batch each request is served in, never below 1.

    The cap, or fewer where the KV cache runs out or the workload has fewer requests than the cap (a batch
    cannot hold requests that do not exist). Where the KV cache runs out: a static batch (HF `generate`, or no
    `weight` given: the reference study's full batch of equal requests) must hold every sequence at its final
    length; vLLM's continuous batching, given the workload's rows and their `weight`, keeps running as many as fit
    at the workload's mean KV occupancy (`memory.running_sequences_that_fit`), the same for every request of the
    workload, since they share its running set.
    """
    cap = dep.serving.max_batch if requests is None else max(1, min(dep.serving.max_batch, int(requests)))
    if weight is None or dep.serving.framework != "vllm":
        return np.clip(max_batch_that_fits(dep, input_tokens, output_tokens), 1, cap)
    running = running_sequences_that_fit(kv_token_capacity(dep), input_tokens, output_tokens, weight,
                                         dep.serving.beam_width)
    return np.full(np.shape(np.asarray(input_tokens)), int(np.clip(running, 1, cap)), dtype=np.int64)


def _per_request(model: EnergyModel, dep: Deployment, b, i, o, c=0) -> RequestCosts:
    """Per-request phases and duration: the model's whole-batch figures divided by the batch size.

    `c`: each request's prompt tokens found in the prefix cache (not computed).
    """
    p = model.batch_phases(dep, b, i, o, c)
    return RequestCosts(batch_size=b, prefill_j=p.prefill_j / b, decode_j=p.decode_j / b, energy_j=p.energy_j / b,
                        duration_s=p.duration_s / b, batch_duration_s=p.duration_s)


def _baselines(dep: Deployment, b, i, o, c=0) -> Baselines:
    """FLOPs/TDP and roofline of each request's batch (`baselines.deployment_baselines`, as `--energy-model roofline`).

    Cached prefixes are skipped, as in the estimate. A beam of width w computes w sequences per request; a draft's
    work under speculative decoding is not in these formulas (the analytic basis says so).
    """
    return deployment_baselines(dep, b, i, o, c)


def _outside(basis: Basis, i, o, b, weight) -> tuple[np.ndarray, list[str]]:
    """Which request rows lie beyond the measured lengths or batches, and a note per dimension saying how many."""
    outside = np.zeros(len(weight), bool)
    notes = []
    if basis.ranges is None:  # nothing measured: nothing to lie outside of
        return outside, notes
    for label, values, key in (("input", i, "input_tokens"), ("output", o, "output_tokens"),
                               ("batch", b, "batch_size")):
        lo, hi = getattr(basis.ranges, key)
        beyond = (values < lo) | (values > hi)
        outside |= beyond
        share = float(weight[beyond].sum() / weight.sum())
        if share > 0:
            pct = f"{100 * share:.1f}" if share >= 0.001 else f"{100 * share:.1g}"  # never a "0.0%" that is not 0
            notes.append(f"{pct}% of requests have {label} sizes outside the measured {lo}-{hi}: "
                         "extrapolated from the measured phases")
    return outside, notes


def workload_prefix_reuse(w: Workload, dep: Deployment) -> PrefixReuse:
    """Prefix caching for this workload on this deployment (refuses caching on with no reuse given)."""
    return prefix_reuse(dep, w.prefix_hit_rate, w.prefix_blocks, w.input_tokens, w.arrival_s, kv_token_capacity(dep))


def estimate_workload(w: Workload, dep: Deployment, model: EnergyModel, prefix: PrefixReuse | None = None
                      ) -> Estimate:
    """Energy of the workload under `model`, with baselines, bins and the binned (reference) estimate.

    `prefix`: the prefix reuse to apply (default: the workload's, `workload_prefix_reuse`); a benchmark passes
    `PrefixReuse(True, hit_rate)` to predict a cell at a given hit rate. Each request skips that share of its prompt
    in prefill; its KV cache (and so its batch) is that of the whole prompt. Raises EnergyPredictError where the
    model refuses the deployment or the deployment cannot run.
    """
    basis = model.basis(dep)
    prefix = workload_prefix_reuse(w, dep) if prefix is None else prefix
    lengths = unique_rows(w)
    i, o, weight = lengths.input_tokens, lengths.output_tokens, lengths.weight
    check_feasible(dep, i, o)
    b = batch_sizes(dep, i, o, float(weight.sum()), weight)
    c = prefix.cached_tokens(i)
    exact = _per_request(model, dep, b, i, o, c)
    baselines = _baselines(dep, b, i, o, c)
    flops_tdp, roofline = baselines.flops_tdp.energy_j / b, baselines.roofline.energy_j / b  # per request

    bins = BIN_SETS["extended"]
    bi, in_i = ceiling_bin(i, bins.input_bins)
    bo, in_o = ceiling_bin(o, bins.output_bins)
    ref = BIN_SETS["reference"]
    _, ref_i = ceiling_bin(i, ref.input_bins)
    _, ref_o = ceiling_bin(o, ref.output_bins)
    table = bin_table(bi, bo, requests=weight, energy_j=weight * exact.energy_j, prefill_j=weight * exact.prefill_j,
                      decode_j=weight * exact.decode_j, flops_tdp_j=weight * flops_tdp, roofline_j=weight * roofline)
    ti, to = table.input_bin, table.output_bin
    fits_at_ceiling = max_batch_that_fits(dep, ti, to) >= 1
    ceiling = np.zeros(len(table))
    if fits_at_ceiling.any():
        tb = batch_sizes(dep, ti[fits_at_ceiling], to[fits_at_ceiling], float(weight.sum()))
        ceiling[fits_at_ceiling] = _per_request(model, dep, tb, ti[fits_at_ceiling], to[fits_at_ceiling],
                                                prefix.cached_tokens(ti[fits_at_ceiling])).energy_j
    table.binned_energy_j[:] = table.requests * np.where(fits_at_ceiling, ceiling, np.nan)

    outside, notes = _outside(basis, i, o, b, weight)
    notes += prefix.notes
    notes += [a.note for a in (dep.arch, dep.serving.speculative.arch if dep.serving.speculative else None)
              if a is not None and a.note]
    share = float(weight[outside].sum() / weight.sum())
    if basis.kind != "measured":
        notes.insert(0, basis.reason)  # its reason already names any published band it spans
    elif (band := basis.external_log_bounds) is not None:
        notes.insert(0, f"the interval of the busy energy (all of an offline answer) is widened to span independent "
                        f"published measurements of this GPU and engine, which read {np.exp(band[0]):.2f}-"
                        f"{np.exp(band[1]):.2f}x the tool's answer for the configurations they cover "
                        "(artifacts/external/published_agreement.json); online, idle energy carries the measured "
                        "loaded-idle readings' own 5-95% spread, not this band")
    reduced = b < min(dep.serving.max_batch, max(1, int(weight.sum())))
    reduced_share = float(weight[reduced].sum() / weight.sum())
    if int(weight.sum()) < dep.serving.max_batch:
        notes.append(f"the workload has {weight.sum():.0f} requests, fewer than the batch cap of "
                     f"{dep.serving.max_batch}: offline batches hold at most that many")
    if reduced_share > 0:
        held = ("the KV cache holds no more running sequences at the workload's mean occupancy (sequences grow and "
                "finish at different steps)" if dep.serving.framework == "vllm" else
                "their KV cache would not fit at its final length")
        notes.append(f"{100 * reduced_share:.1f}% of requests are served in batches below the cap of "
                     f"{dep.serving.max_batch} because {held} (smallest batch {int(b.min())})")
    capacity = kv_token_capacity(dep)
    if capacity < dep.arch.max_context:
        notes.append(f"the KV cache holds {capacity:,} tokens per engine, fewer than {dep.arch.name}'s "
                     f"{dep.arch.max_context:,}-token context: vLLM starts this deployment only with max_model_len "
                     f"set to at most {capacity:,}")
    beyond = int(weight[~(in_i & in_o)].sum().round())
    if beyond:
        notes.append(f"{beyond} requests exceed the extended bins (inputs > 131072 or outputs > 4096): "
                     "they are estimated at their own lengths, outside any measured range")
    e = exact.energy_j
    energy = float(weight @ e)
    # each request's interval: the basis's, widened to the held-out extrapolation error where it lies beyond the
    # measured ranges
    lo, hi = np.full(len(e), basis.log_bounds[0]), np.full(len(e), basis.log_bounds[1])
    if basis.extrapolation_log_bounds is not None:
        lo[outside] = np.minimum(lo[outside], basis.extrapolation_log_bounds[0])
        hi[outside] = np.maximum(hi[outside], basis.extrapolation_log_bounds[1])
        if outside.any():
            notes.append(f"the interval widens to the held-out extrapolation error for the "
                         f"{100 * share:.1f}% of requests beyond the measured ranges")
    low_j, high_j = float(weight @ (e * np.exp(lo))), float(weight @ (e * np.exp(hi)))
    return Estimate(
        model_name=model.name, basis=basis, requests=float(weight.sum()),
        energy_j=energy, low_j=low_j, high_j=high_j,
        prefill_j=float(weight @ exact.prefill_j), decode_j=float(weight @ exact.decode_j),
        busy_s=float(weight @ exact.duration_s),
        input_tokens=float(weight @ i), output_tokens=float(weight @ o),
        per_request_j=PerRequest(energy / float(weight.sum()), weighted_quantile(e, weight, 0.5),
                                 weighted_quantile(e, weight, 0.9)),
        binned_energy_j=float(np.nansum(table.binned_energy_j)),
        flops_tdp_j=float(weight @ flops_tdp), roofline_j=float(weight @ roofline),
        bins=table,
        batch=BatchUsed(int(b.min()), float(weight @ b / weight.sum()), int(b.max()), reduced_share),
        extrapolated_share=share,
        latency_p90_s=weighted_quantile(exact.batch_duration_s, weight, 0.9),
        out_of_range=OutOfRange(int(weight[~(ref_i & ref_o)].sum().round()), beyond),
        notes=notes, prefix=prefix, prefill_tokens_skipped=float(weight @ c),
        interval=interval_used(basis, share, low_j, energy, high_j),
    )

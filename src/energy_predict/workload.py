"""A workload as arrays: request lengths with weights, and the traffic they arrive with.

Profiles give the token distribution three ways (histogram, samples, trace file); all become a `Workload`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from energy_predict import profile as schema
from energy_predict.errors import InputError
from energy_predict.prefix import trace_hit_rate

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Workload:
    """Requests as (input, output) lengths, each row standing for `weight` requests of the period."""

    input_tokens: np.ndarray
    output_tokens: np.ndarray
    weight: np.ndarray  # requests each row stands for, over the period
    period_s: float | None
    arrival_s: np.ndarray | None = None  # per request, when known (trace files)
    prefix_hit_rate: float | None = None  # share of prompt tokens already in the prefix cache (the profile's)
    prefix_blocks: list[list[int]] | None = None  # per request: prompt block ids (traces that have them)

    @property
    def requests(self) -> float:
        return float(self.weight.sum())

    @property
    def rate_per_s(self) -> float | None:
        return self.requests / self.period_s if self.period_s else None


def fine_edges(max_tokens: int, steps_per_octave: int = 4) -> list[int]:
    """Histogram edges 0, 1, ... at `steps_per_octave` per doubling.

    Every power of two is an edge, so the histogram re-bins exactly into the reference study's ceiling bins.
    """
    top = max(int(np.ceil(np.log2(max(max_tokens, 1)))), 1)
    edges = {0} | {int(round(2 ** (k / steps_per_octave))) for k in range(0, top * steps_per_octave + 1)}
    return sorted(edges)


def histogram_from_lengths(inputs: np.ndarray, outputs: np.ndarray) -> dict:
    """A profile histogram (counts and mean lengths per cell) on fine edges."""
    in_edges, out_edges = fine_edges(int(inputs.max())), fine_edges(int(outputs.max()))
    a = np.searchsorted(in_edges, inputs, side="left") - 1
    b = np.searchsorted(out_edges, outputs, side="left") - 1
    a, b = np.maximum(a, 0), np.maximum(b, 0)
    shape = (len(in_edges) - 1, len(out_edges) - 1)
    counts = np.zeros(shape)
    np.add.at(counts, (a, b), 1)
    sums_in, sums_out = np.zeros(shape), np.zeros(shape)
    np.add.at(sums_in, (a, b), inputs)
    np.add.at(sums_out, (a, b), outputs)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in, mean_out = sums_in / counts, sums_out / counts

    def nullable(m: np.ndarray) -> list[list[float | None]]:
        return [[None if np.isnan(x) else round(float(x), 2) for x in row] for row in m]

    return {
        "kind": "histogram",
        "input_edges": in_edges,
        "output_edges": out_edges,
        "counts": counts.astype(int).tolist(),
        "input_mean": nullable(mean_in),
        "output_mean": nullable(mean_out),
    }


def _histogram_rows(h: schema.Histogram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = np.asarray(h.counts, dtype=float)
    ie, oe = np.asarray(h.input_edges, float), np.asarray(h.output_edges, float)
    # without means a cell stands at its geometric middle (arithmetic where the lower edge is 0)
    mid_in = np.where(ie[:-1] > 0, np.sqrt(ie[:-1] * ie[1:]), (ie[:-1] + ie[1:]) / 2)
    mid_out = np.where(oe[:-1] > 0, np.sqrt(oe[:-1] * oe[1:]), (oe[:-1] + oe[1:]) / 2)
    rep_in = np.broadcast_to(mid_in[:, None], counts.shape).copy()
    rep_out = np.broadcast_to(mid_out[None, :], counts.shape).copy()
    for mean, rep in ((h.input_mean, rep_in), (h.output_mean, rep_out)):
        if mean is not None:
            m = np.array([[np.nan if x is None else x for x in row] for row in mean], dtype=float)
            rep[:] = np.where(np.isnan(m), rep, m)
    rows, cols = np.nonzero(counts)
    return (np.maximum(np.round(rep_in[rows, cols]), 0).astype(np.int64),
            np.maximum(np.round(rep_out[rows, cols]), 1).astype(np.int64), counts[rows, cols])


def workload_from_profile(p: schema.Profile, base_dir: Path | None = None) -> Workload:
    """Turn the profile's token distribution and traffic into a Workload."""
    tokens, w = p.workload.tokens, p.workload
    arrivals = None
    trace_period = None
    blocks = None
    if isinstance(tokens, schema.Histogram):
        inputs, outputs, counts = _histogram_rows(tokens)
        if counts.sum() <= 0:
            raise InputError("workload.tokens.counts", "all counts are zero", "give at least one request")
    elif isinstance(tokens, schema.Samples):
        arr = np.asarray(tokens.samples, dtype=np.int64)
        inputs, outputs, counts = arr[:, 0], arr[:, 1], np.ones(len(arr))
    else:
        from energy_predict.traces import read_trace  # pandas and the readers, only for a profile with a trace

        path = Path(tokens.path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        frame = read_trace(path, tokens.format, tokens.input_column, tokens.output_column, tokens.time_column,
                           from_profile=True, time_unit=tokens.time_unit)
        inputs, outputs = frame["input_tokens"].to_numpy(), np.maximum(frame["output_tokens"].to_numpy(), 1)
        counts = np.ones(len(frame))
        if "hash_ids" in frame:
            blocks = frame["hash_ids"].tolist()
        if frame["arrival_s"].notna().all() and len(frame) > 1:
            arrivals = frame["arrival_s"].to_numpy()
            trace_period = float(arrivals.max() - arrivals.min()) or None
    period = w.period_s or trace_period
    total = w.requests
    if total is None and w.rate_per_s is not None:
        if period is None:
            raise InputError("workload.period_s", "a rate needs a period to count requests", "add period_s")
        total = w.rate_per_s * period
    # shares first: total / counts.sum() overflows for subnormal counts
    weight = counts if total is None else (counts / counts.sum()) * total
    _check_total(float(weight.sum()), "workload.requests" if w.requests is not None else
                 "workload.rate_per_s" if w.rate_per_s is not None else "workload.tokens")
    if w.period_s is not None and p.serving.mode == "online":
        _check_rate(float(weight.sum()), w.period_s)
    return Workload(inputs, outputs, weight, period, arrivals, w.prefix_hit_rate, blocks)


def _check_rate(requests: float, period_s: float) -> None:
    """An online profile's period holds its requests at a rate the tool simulates (as --rate): <= MAX_RATE_PER_S.

    A period shorter than the arrival gap of one request at that rate (1,000 requests in a nanosecond) is a typo of
    the period, not a workload; it was answered, the period quietly replaced by the time the batch took. Offline,
    the period only spreads energy over time, and is not checked.
    """
    rate = requests / period_s
    if rate > schema.MAX_RATE_PER_S:
        raise InputError("workload.period_s", f"{requests:.3g} requests over {period_s:.3g} s arrive at a rate of "
                         f"{rate:.3g} req/s, more than {schema.MAX_RATE_PER_S:.0e} (the most --rate takes)",
                         "give the period in seconds, or fewer requests")


def _check_total(requests: float, field: str) -> None:
    """A workload holds at least one request and at most the profile's cap, however its parts multiply out."""
    if not np.isfinite(requests) or requests < 1:
        raise InputError(field, f"the workload comes to {requests:.3g} requests, less than one",
                         "give at least one request over the period")
    if requests > schema.MAX_REQUESTS:
        raise InputError(field, f"the workload comes to {requests:.3g} requests, more than "
                         f"{schema.MAX_REQUESTS:.0e}", "give fewer requests, a lower rate or a shorter period")


def profile_from_trace(frame: pd.DataFrame, name: str, model: str, gpu: str, source: str,
                       kv_capacity_tokens: int | None = None) -> dict:
    """A profile dict (schema version 1) with the trace's histogram and arrival rate.

    A trace with prompt block ids also gives `workload.prefix_hit_rate`: the share of prompt tokens a prefix cache
    of `kv_capacity_tokens` (least recently used evicted; None: never evicting) finds, requests in arrival order.
    """
    tokens = histogram_from_lengths(frame["input_tokens"].to_numpy(), np.maximum(frame["output_tokens"].to_numpy(), 1))
    workload: dict = {"requests": int(len(frame)), "tokens": tokens}
    if "hash_ids" in frame:
        rate = trace_hit_rate(frame["hash_ids"].tolist(), frame["input_tokens"].to_numpy(),
                              capacity_tokens=kv_capacity_tokens, arrival_s=frame["arrival_s"].to_numpy(float))
        workload["prefix_hit_rate"] = round(rate, 4)
    t = frame["arrival_s"]
    if t.notna().all() and len(frame) > 1 and t.max() > t.min():
        period = float(f"{float(t.max() - t.min()):.6g}")  # significant digits: a short trace keeps its rate
        rate = float(f"{len(frame) / period:.6g}")
        if 0 < period <= schema.MAX_PERIOD_S and 0 < rate <= schema.MAX_RATE_PER_S:
            workload["period_s"], workload["rate_per_s"] = period, rate
    data = {
        "schema_version": schema.SCHEMA_VERSION,
        "name": name,
        "source": source,
        "model": model,
        "hardware": {"gpu": gpu, "count": 1},
        "serving": schema.Serving().model_dump(),
        "workload": workload,
        "site": {"pue": 1.2, "carbon_g_per_kwh": 380.0, "price_per_kwh": 0.12, "currency": "USD"},
    }
    schema.parse_profile(data)  # what from-trace writes is itself valid input
    return data

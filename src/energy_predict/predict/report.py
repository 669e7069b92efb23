"""One report, built once from the headline of the mode that produced it (offline batches or online serving).

Every derived figure (facility energy, CO2e, cost, the ratio to the baselines, power, per-request and per-token
figures) is computed here from that headline, so no two parts of a report can disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energy_predict.predict.estimate import Estimate, PerRequest
from energy_predict.predict.padded import PaddedBatches
from energy_predict.predict.report_types import (
    REPORT_SCHEMA,
    BaselinesKwh,
    BasisReport,
    Binned,
    BinRow,
    DeploymentUsed,
    EnergyKwh,
    Latency,
    ModelUsed,
    PerToken,
    PhasesKwh,
    PrefixCaching,
    Report,
    Site,
    SpeculationUsed,
    Tokens,
)
from energy_predict.predict.serving import DeploymentResult, summary
from energy_predict.profile import Profile
from energy_predict.serving import Deployment
from energy_predict.units import J_PER_KWH, ms, per, wh


@dataclass(frozen=True)
class Headline:
    """The figures a report is built from. Joules and seconds; energies of the whole deployment."""

    mode: str  # offline | online
    energy_j: float
    low_j: float
    high_j: float
    requests: float
    period_s: float | None
    gpu_s: float  # GPU-seconds the energy was spent over (offline: busy; online: the period on every GPU)
    prefill_j: float
    decode_j: float
    idle_j: float
    input_tokens: float
    output_tokens: float
    per_request_j: PerRequest
    flops_tdp_j: float
    roofline_j: float
    prefill_tokens_skipped: float = 0.0  # of input_tokens: served from the prefix cache, not computed


def offline_headline(est: Estimate, dep: Deployment, period_s: float | None) -> Headline:
    """Offline totals: full batches, busy time only (GPU-seconds on every GPU of the engine)."""
    return Headline("offline", est.energy_j, est.low_j, est.high_j, est.requests, period_s,
                    est.busy_s * dep.serving.tensor_parallel, est.prefill_j, est.decode_j, 0.0, est.input_tokens,
                    est.output_tokens, est.per_request_j, est.flops_tdp_j, est.roofline_j,
                    est.prefill_tokens_skipped)


def padded_headline(est: Estimate, dep: Deployment, period_s: float | None, padded: PaddedBatches) -> Headline:
    """HF offline as `generate` serves it: padded batches (the replays validate this, not equal lengths).

    Its interval is the equal-length estimate's relative one; the masked-attention cost of padding is counted
    with decode; per-request quantiles do not exist for padded batches (a request's cost is its batch's share).
    """
    n = est.requests
    energy = padded.energy_per_request_j * n
    lo, hi = est.relative_interval
    return Headline("offline", energy, energy * lo, energy * hi, n, period_s,
                    padded.engine_s_per_request * n * dep.serving.tensor_parallel,
                    padded.prefill_j_per_request * n, padded.decode_j_per_request * n, 0.0,
                    est.input_tokens, est.output_tokens, PerRequest(padded.energy_per_request_j, None, None),
                    est.flops_tdp_j, est.roofline_j)


def online_headline(r: DeploymentResult, est: Estimate) -> Headline:
    """Online totals; the baselines are the offline per-request baselines times the requests simulated."""
    res = r.result
    # the busy energy carries the offline estimate's relative interval (basis and extrapolation); idle carries the
    # measured loaded-idle readings' 5-95% spread, except on a GPU never measured, whose idle follows a rule: there
    # it carries the busy energy's interval
    lo, hi = est.relative_interval
    idle_lo, idle_hi = est.basis.idle_relative((lo, hi))
    per = res.requests / est.requests if est.requests else 0.0
    return Headline("online", res.energy_j, res.busy_energy_j * lo + res.idle_energy_j * idle_lo,
                    res.busy_energy_j * hi + res.idle_energy_j * idle_hi, float(res.requests), res.period_s,
                    res.period_s * r.dep.gpu_count, res.prefill_j, res.decode_j, res.idle_energy_j,
                    float(res.input_tokens), float(res.output_tokens),
                    PerRequest(res.energy_j / max(res.requests, 1), None, None),
                    est.flops_tdp_j * per, est.roofline_j * per, float(res.prefill_tokens_skipped))


def online_figure_note(r: DeploymentResult, est: Estimate, offline_j: float) -> str:
    """The one line an offline report of a workload with a rate gives: the deployment's figure at that rate.

    An offline headline counts full batches' busy work; a deployment at the rate also idles and runs partial batches,
    so a planner must not read it as the deployment's energy.
    """
    if r.overloaded:
        return (f"online at the profile's rate of {r.offered_rate_per_s:.3g} req/s this deployment cannot keep up "
                f"(it serves about {r.sustainable_rate_per_s or 0:.3g} req/s): the offline headline is not what it "
                "would draw; give --gpus or use `plan`")
    h = online_headline(r, est)
    day = 86400.0 / h.period_s / J_PER_KWH if h.period_s else 0.0
    return (f"online at the profile's rate of {r.offered_rate_per_s:.3g} req/s this deployment draws "
            f"{h.energy_j * day:.3g} kWh a day ({h.low_j * day:.3g}-{h.high_j * day:.3g}; busy + idle), "
            f"{per(h.energy_j, offline_j) or 0:.2f}x this offline headline, which counts full batches' busy work "
            "only: give --rate or serving.mode online for the deployment's figure")


def _kwh(j: float) -> float:
    return j / J_PER_KWH


_ratio = per


def _bin_row(r) -> BinRow:
    """One row of the estimate's bins (joules) in the report's units."""
    binned = float(r.binned_energy_j) if np.isfinite(r.binned_energy_j) else None
    return BinRow(input_bin=int(r.input_bin), output_bin=int(r.output_bin), requests=float(r.requests),
                  energy_kwh=_kwh(r.energy_j), prefill_kwh=_kwh(r.prefill_j), decode_kwh=_kwh(r.decode_j),
                  binned_energy_kwh=None if binned is None else _kwh(binned),
                  flops_tdp_kwh=_kwh(r.flops_tdp_j), roofline_kwh=_kwh(r.roofline_j),
                  energy_wh=wh(r.energy_j), prefill_wh=wh(r.prefill_j), decode_wh=wh(r.decode_j),
                  binned_energy_wh=None if binned is None else wh(binned), flops_tdp_wh=wh(r.flops_tdp_j),
                  roofline_wh=wh(r.roofline_j), decode_share=per(r.decode_j, r.energy_j),
                  estimate_over_flops_tdp=per(r.energy_j, r.flops_tdp_j))


def _latency(online) -> Latency:
    """The online latency quantiles in ms."""
    return Latency(ttft_p50_ms=ms(online.ttft_s.p50), ttft_p90_ms=ms(online.ttft_s.p90),
                   tpot_p50_ms=ms(online.tpot_s.p50), tpot_p90_ms=ms(online.tpot_s.p90))


def _per_token(h: Headline) -> PerToken:
    """Energy per token with the denominator named (the energy_ ones count idle too, online)."""
    all_j = h.prefill_j + h.decode_j + h.idle_j
    return PerToken(prefill_j_per_input_token=per(h.prefill_j, h.input_tokens),
                    decode_j_per_output_token=per(h.decode_j, h.output_tokens),
                    energy_j_per_output_token=per(all_j, h.output_tokens),
                    energy_j_per_total_token=per(all_j, h.input_tokens + h.output_tokens))


def _prefix_caching(est: Estimate, h: Headline) -> PrefixCaching:
    """Prefix caching as the prediction applied it: on or off, the hit rate, its source, the tokens skipped."""
    p = est.prefix
    computed = h.input_tokens - h.prefill_tokens_skipped
    return PrefixCaching(enabled=p.enabled, hit_rate=p.hit_rate, hit_rate_source=p.source,
                         unbounded_hit_rate=p.unbounded_hit_rate, prefill_tokens_skipped=h.prefill_tokens_skipped,
                         prefill_tokens_computed=computed,
                         energy_per_computed_input_token_j=_ratio(h.prefill_j, computed) if p.enabled else None)


def _site(profile: Profile, energy_j: float) -> Site | None:
    s = profile.site
    if s is None:
        return None
    facility = _kwh(energy_j) * s.pue
    return Site(pue=s.pue, facility_kwh=facility,
                co2e_kg=facility * s.carbon_g_per_kwh / 1000 if s.carbon_g_per_kwh is not None else None,
                cost=facility * s.price_per_kwh if s.price_per_kwh is not None else None, currency=s.currency)


def build_report(profile: Profile, dep: Deployment, est: Estimate, h: Headline,
                 online: DeploymentResult | None = None, padded: PaddedBatches | None = None,
                 notes: list[str] | None = None) -> Report:
    """The report (`Report`; `docs/report.schema.json` is its schema)."""
    total = h.prefill_j + h.decode_j + h.idle_j
    s = dep.serving
    spec = s.speculative
    return Report(
        schema=REPORT_SCHEMA,
        profile=profile.name,
        mode=h.mode,
        model=ModelUsed(name=est.model_name, kind="analytic" if est.basis.kind == "analytic" else "measured"),
        basis=BasisReport(kind=est.basis_kind, reason=est.basis.reason, extrapolated_share=est.extrapolated_share,
                          interval_log_bounds=est.interval.log_bounds if est.interval else est.basis.log_bounds,
                          route_log_bounds=est.basis.log_bounds,
                          interval_used=est.interval.used if est.interval else "basis",
                          held_out=est.basis.held_out,
                          serving_option=est.basis.option),
        deployment=DeploymentUsed(
            model=dep.arch.name, gpu=dep.gpu.name, gpu_count=dep.gpu_count, replicas=dep.replicas,
            tensor_parallel=s.tensor_parallel, serving=s.label, framework=s.framework, max_batch=s.max_batch,
            cuda_graphs=s.cuda_graphs, compile=s.compile, quantization=s.quantization, decoding=s.decoding,
            beam_width=s.beam_width if s.decoding == "beam" else None,
            speculative=SpeculationUsed(draft=spec.draft, draft_tokens=spec.draft_tokens,
                                        acceptance_rate=spec.acceptance_rate) if spec else None,
            mode=h.mode, prefix_caching=s.prefix_caching, batch_used=est.batch),
        prefix_caching=_prefix_caching(est, h),
        requests=h.requests,
        period_s=h.period_s,
        energy_kwh=EnergyKwh(estimate=_kwh(h.energy_j), low=_kwh(h.low_j), high=_kwh(h.high_j)),
        energy_per_request_j=h.per_request_j.mean,
        per_request_j=h.per_request_j,
        energy_per_input_token_j=_ratio(h.prefill_j, h.input_tokens),
        energy_per_output_token_j=_ratio(h.decode_j, h.output_tokens),
        per_token_j=_per_token(h),
        tokens=Tokens(input=h.input_tokens, output=h.output_tokens),
        phases=PhasesKwh(prefill_kwh=_kwh(h.prefill_j), decode_kwh=_kwh(h.decode_j), idle_kwh=_kwh(h.idle_j),
                         prefill_share=_ratio(h.prefill_j, total), decode_share=_ratio(h.decode_j, total),
                         idle_share=_ratio(h.idle_j, total)),
        gpu_hours=h.gpu_s / 3600,
        mean_power_per_gpu_w=_ratio(h.energy_j, h.gpu_s),
        baselines=BaselinesKwh(flops_tdp_kwh=_kwh(h.flops_tdp_j), roofline_kwh=_kwh(h.roofline_j),
                               estimate_over_flops_tdp=_ratio(h.energy_j, h.flops_tdp_j),
                               estimate_over_roofline=_ratio(h.energy_j, h.roofline_j)),
        binned=Binned(reference_estimate_kwh=_kwh(est.binned_energy_j), offline_estimate_kwh=_kwh(est.energy_j),
                      binning_error_pct=100 * (est.binned_energy_j / est.energy_j - 1) if est.energy_j else None),
        out_of_range=est.out_of_range,
        site=_site(profile, h.energy_j),
        bins=[_bin_row(r) for r in est.bins.rows()],
        online=summary(online) if online is not None else None,
        latency=_latency(summary(online)) if online is not None else None,
        hf_padded_batches=padded,
        notes=list(notes or []),
    )

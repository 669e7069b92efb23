"""The report's type: what `energy-predict --profile P --json` prints, and where docs/report.schema.json comes from.

`Report` is built once by predict/report.py; its JSON is `Report.to_json()` and its schema `report_schema()`
(docs/make_report_schema.py writes it; a test keeps the committed file equal to it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from energy_predict.fitted import HeldOut
from energy_predict.predict.estimate import BatchUsed, OutOfRange, PerRequest
from energy_predict.predict.padded import PaddedBatches
from energy_predict.predict.serving import OnlineSummary

# v3 added unit-named keys beside v2's (bins in Wh, the per-token figures with their denominators, latencies in ms);
# every v2 key is still there with its v2 meaning.
REPORT_SCHEMA = "energy-predict/report/v3"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ModelUsed(_Part):
    name: str
    kind: Literal["measured", "analytic"] = Field(
        description="measured: fitted on calibration data; analytic: a baseline formula")


class BasisReport(_Part):
    kind: Literal["measured", "extrapolated", "transferred", "analytic"] = Field(
        description="what the answer rests on: measured (calibrated model, GPU and serving configuration, inside "
                    "measured lengths and batches); extrapolated (measured, with part of the workload beyond the "
                    "measured ranges: extrapolated_share); transferred (another model, GPU or tensor-parallel degree, "
                    "with the held-out error of that transfer as its interval); analytic (datasheet formula, no "
                    "measured error)")
    reason: str
    extrapolated_share: float = Field(ge=0, le=1)
    interval_log_bounds: tuple[float, float] = Field(
        description="the 90% interval is exp(lo) .. exp(hi) x the busy energy: the bounds this answer carries over "
                    "its workload (a request beyond the measured ranges takes the extrapolation bounds)")
    route_log_bounds: tuple[float, float] = Field(
        description="the route's own bounds (measured, or each transfer's held-out error, widened where narrower to "
                    "its measured p90 error), which a request inside the measured ranges carries")
    interval_used: str = Field(
        description="which bounds made the interval and why: basis (the route's held-out error, every transfer's "
                    "widened where narrower to its measured p90 error), extrapolation (every request beyond the "
                    "measured ranges), or basis and extrapolation (the share beyond)")
    held_out: HeldOut | None = Field(
        description="the held-out error behind the interval: its scheme and scores, the GPU it was carried from, "
                    "the widening applied, and the error it adds to (a transfer on top of another, an option's rule "
                    "on the greedy answer)")
    serving_option: str | None = Field(
        description="where the serving asks for a decoding strategy or speculative decoding: the measured rule that "
                    "moved the greedy configuration's answer, the cells it was fitted on and its held-out error (its "
                    "log bounds are added to the interval); null for greedy decoding")


class SpeculationUsed(_Part):
    draft: str
    draft_tokens: int
    acceptance_rate: float


class DeploymentUsed(_Part):
    """Model, GPU and serving options the estimate is for."""

    model: str
    gpu: str
    gpu_count: int
    replicas: int
    tensor_parallel: int
    serving: str
    framework: str
    max_batch: int
    cuda_graphs: bool
    compile: bool
    quantization: str | None
    decoding: str
    beam_width: int | None
    speculative: SpeculationUsed | None
    mode: Literal["offline", "online"]
    prefix_caching: bool
    batch_used: BatchUsed


class PrefixCaching(_Part):
    """Prefix caching as the prediction applied it.

    A prompt token whose KV is already cached is not computed in prefill (decode unchanged); energy_per_input_token_j
    divides prefill energy by all input tokens, cached ones included.
    """

    enabled: bool = Field(description="serving.prefix_caching")
    hit_rate: float | None = Field(description="share of every prompt served from the cache (null when off)")
    hit_rate_source: Literal["profile", "trace"] | None = Field(
        description="profile: workload.prefix_hit_rate as given; trace: computed from the trace's block ids within "
                    "the KV cache's capacity")
    unbounded_hit_rate: float | None = Field(description="from block ids: the hit rate of a cache that never evicts")
    prefill_tokens_skipped: float = Field(description="input tokens served from the cache, not computed")
    prefill_tokens_computed: float = Field(
        description="input tokens computed in prefill (tokens.input - prefill_tokens_skipped)")
    energy_per_computed_input_token_j: float | None = Field(
        description="prefill energy / computed input tokens (J); null when off")


class EnergyKwh(_Part):
    """GPU energy over the period: estimate and its interval.

    90% where the model is measured; low = high = estimate for an analytic baseline.
    """

    estimate: float = Field(ge=0, description="estimate (kWh)")
    low: float = Field(ge=0, description="low (kWh)")
    high: float = Field(ge=0, description="high (kWh)")


class Tokens(_Part):
    input: float
    output: float


class PhasesKwh(_Part):
    prefill_kwh: float
    decode_kwh: float
    idle_kwh: float
    prefill_share: float | None
    decode_share: float | None
    idle_share: float | None


class BaselinesKwh(_Part):
    flops_tdp_kwh: float = Field(description="TDP / peak FLOP/s x FLOPs")
    roofline_kwh: float = Field(description="max(compute, memory) time per phase x TDP")
    estimate_over_flops_tdp: float | None
    estimate_over_roofline: float | None


class Binned(_Part):
    """The reference study's ceiling-bin estimate and its difference from the offline exact-length estimate.

    Offline, whatever the mode.
    """

    reference_estimate_kwh: float
    offline_estimate_kwh: float
    binning_error_pct: float | None


class Site(_Part):
    """Facility energy (PUE), CO2e (kg) and cost, when the profile has a site."""

    pue: float
    facility_kwh: float
    co2e_kg: float | None
    cost: float | None
    currency: str | None


class BinRow(_Part):
    """One ceiling bin of the offline estimate; its energies in kWh (v2) and in Wh (the unit its table prints)."""

    input_bin: int
    output_bin: int
    requests: float
    energy_kwh: float
    prefill_kwh: float
    decode_kwh: float
    binned_energy_kwh: float | None
    flops_tdp_kwh: float
    roofline_kwh: float
    energy_wh: float
    prefill_wh: float
    decode_wh: float
    binned_energy_wh: float | None
    flops_tdp_wh: float
    roofline_wh: float
    decode_share: float | None = Field(description="decode_wh / energy_wh")
    estimate_over_flops_tdp: float | None = Field(description="energy_wh / flops_tdp_wh")


class PerToken(_Part):
    """Energy per token (J), each with its denominator named; idle energy (online) is only in the energy_ ones."""

    prefill_j_per_input_token: float | None = Field(description="prefill energy / input tokens (J)")
    decode_j_per_output_token: float | None = Field(description="decode energy / output tokens (J)")
    energy_j_per_output_token: float | None = Field(
        description="all the energy (prefill, decode and, online, idle) / output tokens (J): compare's column")
    energy_j_per_total_token: float | None = Field(
        description="all the energy / (input + output tokens) (J)")


class Latency(_Part):
    """Online latency quantiles over completed requests, in ms (online.ttft_s and online.tpot_s in s)."""

    ttft_p50_ms: float | None
    ttft_p90_ms: float | None
    tpot_p50_ms: float | None
    tpot_p90_ms: float | None


class Report(_Part):
    """The report of `energy-predict --profile P --json`, built once from the headline of the mode that produced it.

    Offline full batches, or the online simulation with --rate: energy, facility energy, CO2e, cost, power,
    per-request and per-token figures and the baseline ratios all come from that headline. Energies are GPU energy
    of the whole deployment.
    """

    model_config = ConfigDict(title="energy-predict report")

    schema_: Literal["energy-predict/report/v3"] = Field(alias="schema")
    profile: str = Field(description="the profile's name")
    mode: Literal["offline", "online"] = Field(
        description="offline: full batches of equal requests; online: continuous-batching simulation at a rate, idle "
                    "included")
    model: ModelUsed
    basis: BasisReport
    deployment: DeploymentUsed
    prefix_caching: PrefixCaching
    requests: float = Field(ge=0, description="requests over the period")
    period_s: float | None = Field(description="the period the requests arrive in (s), when known")
    energy_kwh: EnergyKwh
    energy_per_request_j: float = Field(description="mean GPU energy per request (J)")
    per_request_j: PerRequest = Field(
        description="GPU energy per request (J); quantiles only offline (the simulator does not attribute steps to "
                    "requests)")
    energy_per_input_token_j: float | None = Field(
        description="prefill energy / input tokens (J); with energy_per_output_token_j it does not double count "
                    "(per_token_j.prefill_j_per_input_token)")
    energy_per_output_token_j: float | None = Field(
        description="decode energy / output tokens (J); idle energy (online) is in neither "
                    "(per_token_j.decode_j_per_output_token; not compare's all-in figure, "
                    "per_token_j.energy_j_per_output_token)")
    per_token_j: PerToken
    tokens: Tokens
    phases: PhasesKwh
    gpu_hours: float = Field(
        description="GPU-hours the energy is spent over: offline the busy time of every GPU of the engine; online the "
                    "period on every GPU of the deployment")
    mean_power_per_gpu_w: float | None = Field(
        description="energy / gpu_hours (W per GPU); between loaded idle and TDP by construction")
    baselines: BaselinesKwh
    binned: Binned
    out_of_range: OutOfRange = Field(
        description="requests beyond the reference study's bins (input > 8192 or output > 512) and beyond the "
                    "extended bins")
    site: Site | None
    bins: list[BinRow]
    online: OnlineSummary | None = Field(
        description="online serving (profile mode online, or --rate): simulated energy at the rate, utilisation, idle "
                    "share, TTFT/TPOT; null offline")
    latency: Latency | None = Field(description="online: TTFT and TPOT quantiles in ms; null offline")
    hf_padded_batches: PaddedBatches | None = Field(
        description="HF only: the workload as generate serves it, padded batches of max_batch requests")
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (the keys of docs/report.schema.json)."""
        return self.model_dump(mode="json", by_alias=True)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain Python values: the JSON of `energy-predict --profile P --json`."""
        return self.to_json()

    def to_dataframe(self):
        """The per-bin breakdown as a pandas DataFrame: one row per (input bin, output bin), the JSON's `bins`."""
        import pandas as pd  # the prediction path does not need pandas until a table is asked for

        return pd.DataFrame([row.model_dump(mode="json") for row in self.bins], columns=list(BinRow.model_fields))

    def to_html(self, with_plots: bool = True) -> str:
        """The self-contained HTML page of `energy-predict --profile P --html FILE`.

        Plots are inline where matplotlib is installed (the `plots` extra); `with_plots=False` leaves them out.
        """
        from energy_predict.predict.html_report import report_html

        return report_html(self, with_plots)


def report_schema() -> dict[str, Any]:
    """The JSON schema of `Report` (docs/report.schema.json): its `$id` is the report's `schema` field."""
    schema = Report.model_json_schema(by_alias=True)
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": REPORT_SCHEMA, **schema}

"""The model card: what a fitted model rests on, as `energy-predict model fit` writes it beside the coefficients.

Validity (GPUs, serving configurations, models and ranges measured), the transfers with their held-out errors
(across GPUs, tensor-parallel degrees, models), the serving options' rules, idle power, the in-domain interval and
the training provenance. Read once, validated (`extra="forbid"`), and written back byte for byte as it was read.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, PrivateAttr, model_validator

from energy_predict.contracts.keys import FitKey
from energy_predict.contracts.scores import (
    AccuracyScore,
    DegreeScore,
    EstimateBounds,
    ExtrapolationScore,
    HeldOutScore,
    IntRange,
    LogBounds,
    LomoScore,
)
from energy_predict.contracts.stored import Stored
from energy_predict.serving import Serving


def _serving_key(value: dict[str, Any]) -> dict[str, Any]:
    Serving.from_dict(value)  # a key the serving vocabulary can build (unknown fields, bad values refused)
    return value


ServingKeyJson = Annotated[dict[str, str | bool | int | None], AfterValidator(_serving_key)]


class Keyed(Stored):
    """An entry for one fit key, stored as {gpu, serving: {the key's fields}}."""

    gpu: str
    serving: ServingKeyJson
    _key: FitKey = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        self._key = FitKey.from_json(self.gpu, self.serving)

    @property
    def key(self) -> FitKey:
        return self._key


class TooFewCells(Keyed):
    cells: int


class ModelAtKey(Keyed):
    """A model measured with enough cells under a fit key."""

    model: str


class Ranges(Stored):
    """Measured batch sizes and lengths (inclusive)."""

    batch_size: IntRange
    input_tokens: IntRange
    output_tokens: IntRange


class RangesAtKey(Keyed, Ranges):
    def ranges(self) -> Ranges:
        return Ranges(batch_size=self.batch_size, input_tokens=self.input_tokens, output_tokens=self.output_tokens)


class Validity(Stored):
    """What was measured: GPUs, fitted configurations (and those with too few cells), models, ranges."""

    gpus: list[str]
    serving_configs: list[Keyed]
    too_few_cells: list[TooFewCells] = []
    min_cells_per_config: int
    models_measured: list[str]
    measured_models: list[ModelAtKey]
    moe_measured: bool
    moe_models: list[str] = []
    ranges: list[RangesAtKey] = []
    batch_size: IntRange
    input_tokens: IntRange
    output_tokens: IntRange

    def overall(self) -> Ranges:
        """The ranges over every configuration."""
        return Ranges(batch_size=self.batch_size, input_tokens=self.input_tokens, output_tokens=self.output_tokens)


IdleWatts = Annotated[float, Field(gt=0, le=2000)]  # a GPU idles above 0 W and below any card's limit


class IdleReadings(Stored):
    """Median idle power of one GPU (W): empty, and holding each framework's loaded engine.

    For a loaded engine also the 5th and 95th percentile of its readings (a future deployment idles in that spread).
    """

    empty: IdleWatts | None = None
    loaded_hf: IdleWatts | None = None
    loaded_vllm: IdleWatts | None = None
    loaded_hf_p05: IdleWatts | None = None
    loaded_hf_p95: IdleWatts | None = None
    loaded_vllm_p05: IdleWatts | None = None
    loaded_vllm_p95: IdleWatts | None = None

    def loaded(self, framework: str) -> float | None:
        """The loaded-engine idle of `framework` where measured."""
        return getattr(self, f"loaded_{framework}", None)

    def loaded_bounds(self, framework: str) -> tuple[float, float] | None:
        """The 5th and 95th percentile of `framework`'s loaded-idle readings over their median; None: not recorded."""
        median = self.loaded(framework)
        p05, p95 = getattr(self, f"loaded_{framework}_p05", None), getattr(self, f"loaded_{framework}_p95", None)
        if not median or p05 is None or p95 is None:
            return None
        return p05 / median, p95 / median


class Training(Stored):
    """Provenance of the fit: the runs, cells, a hash of the training table, configurations, option runs."""

    runs: list[str]
    cells: int
    table_sha256_16: str
    configs: list[str]
    option_runs: list[str] = []


class Interval(Stored):
    level: float
    method: str
    log_bounds: EstimateBounds  # the in-domain interval holds the estimate


class HfPadding(Stored):
    """The HF left-padding overhead's coefficients (model/padding.py) and where they come from."""

    coef: list[float]
    terms: list[str]
    model_measured: str
    sources: list[str]
    method: str


class LomoAtKey(Keyed, LomoScore):
    """The leave-one-model-out score at one fit key.

    `interval_log_bounds` and `interval_rule`: where the pool is too thin to cover itself (few models, or low
    cross-model coverage), the wider interval an answer carries and the rule that set it
    (model/measured_error.py `thin_pool_bounds`); absent, the conformal `log_bounds` stand.
    """

    max_abs_log_error: float | None = Field(None, description="largest |log(measured / predicted)| of the pool")
    interval_log_bounds: LogBounds | None = None
    interval_rule: str | None = None

    def interval(self) -> LogBounds:
        """The log bounds an answer transferred through this pool carries (before its p90 band)."""
        return tuple(self.interval_log_bounds or self.log_bounds or (0.0, 0.0))


class ModelTransfer(LomoScore):
    """Predicting a model never measured, for one framework and family (dense, or mixtures of experts)."""

    family: str
    wide: LomoScore | None = None
    by_key: list[LomoAtKey] = []

    def at(self, key: FitKey) -> LomoAtKey | None:
        """The score at one fit key, where the card holds one."""
        return next((s for s in self.by_key if s.key == key), None)


class GpuTransferAtKey(Keyed, HeldOutScore):
    """One (configuration, model) carried from a source GPU to another it was measured on too."""

    direction: str
    source_gpu: str
    model: str
    source_ranges: Ranges
    outside_ranges: int


class GpuTransfer(HeldOutScore):
    """Leave-one-GPU-out: each GPU's cells predicted from another GPU's coefficients (model/transfer.py)."""

    gpus: list[str]
    directions: dict[str, HeldOutScore]
    by_key: list[GpuTransferAtKey] = []
    cells: str
    method: str
    outside_ranges: HeldOutScore | None = None


class TpLaw(Keyed):
    """The tensor-parallel law of one family (its fit key at degree 1) and its leave-one-degree-out error.

    The score's fields are stored flat beside the law and are absent where too few cells could be scored.
    """

    degrees: list[int]
    models: list[str]
    terms: list[str]
    idle_w: float
    theta_time: list[float]
    theta_energy: list[float]
    method: str
    scheme: str | None = None
    per_degree: dict[str, DegreeScore] = {}
    median_ape: float | None = None
    p90_ape: float | None = None
    time_median_ape: float | None = None
    time_p90_ape: float | None = None
    log_bounds: LogBounds | None = None
    coverage_90: float | None = None
    n: int | None = None

    def held_out(self) -> HeldOutScore | None:
        """The law's pooled leave-one-degree-out score (None where it has none)."""
        if self.log_bounds is None or self.median_ape is None or self.p90_ape is None or self.n is None:
            return None
        return HeldOutScore(scheme=self.scheme, median_ape=self.median_ape, p90_ape=self.p90_ape,
                            coverage_90=self.coverage_90, n=self.n, log_bounds=self.log_bounds,
                            time_median_ape=self.time_median_ape, time_p90_ape=self.time_p90_ape)


class Transfers(Stored):
    model: dict[str, ModelTransfer] = {}
    gpu: GpuTransfer | None = None
    tp: list[TpLaw] = []


class DecodingOption(Stored):
    """A decoding strategy's measured rule (model/options.py): the greedy prediction moved by its factors."""

    framework: str
    decoding: str
    rule: str
    energy_factor: Annotated[float, Field(gt=0, le=100, strict=True)]  # a factor on a positive energy stays positive
    time_factor: Annotated[float, Field(gt=0, le=100, strict=True)]
    beam_widths: list[int]
    measured: list[tuple[str, str]] = Field(description="(model, GPU) pairs measured")
    servings: list[ServingKeyJson]
    batch_size: IntRange
    cells: int
    runs: list[str]
    held_out: HeldOutScore


class SpeculativeHeldOut(Stored):
    """The step costs' held-out scores, four ways, and the pooled interval."""

    middle_from_ends: HeldOutScore | None = None
    leave_one_k_out: HeldOutScore | None = None
    leave_one_batch_out: HeldOutScore | None = None
    leave_one_shape_out: HeldOutScore | None = None
    log_bounds: LogBounds

    def scores(self) -> dict[str, HeldOutScore]:
        """The schemes scored, by name, in the order stored."""
        return {name: getattr(self, name) for name in self._order or type(self).model_fields
                if name != "log_bounds" and getattr(self, name) is not None}


class SpeculativeOption(Stored):
    """Speculative decoding's measured step costs for one (GPU, target, draft, greedy serving)."""

    gpu: str
    model: str
    draft: str
    serving: ServingKeyJson
    energy_coef: list[float]
    time_coef: list[float]
    draft_tokens: IntRange
    acceptance: tuple[float, float]
    batch_size: IntRange
    input_tokens: IntRange
    output_tokens: IntRange
    cells: int
    runs: list[str]
    fit: dict[str, HeldOutScore]
    held_out: SpeculativeHeldOut

    def ranges(self) -> Ranges:
        return Ranges(batch_size=self.batch_size, input_tokens=self.input_tokens, output_tokens=self.output_tokens)


class TermRate(Stored):
    """A rate term of a fitted duration set: its achieved rate (`unit`; None where fitted at 0) and peak fraction."""

    unit: str
    rate: float | None
    fraction_of_peak: float | None = Field(default=None, ge=0.0)


class TermsAtKey(Keyed):
    """A fit key's (or one model's) duration terms read as physics (model/term_physics.py), with units."""

    model: str | None
    rates: dict[str, TermRate]
    constants_s: dict[str, float]
    degenerate: list[str] = []
    pinned: dict[str, str] = {}  # term at its roofline floor (the datasheet peak) -> why (model/term_physics.py)


class PowerCurveFit(Stored):
    """One measured GPU's (and framework's) power curve (model/power_curve.py) with what it rests on.

    Shares of the idle..limit range (busy; at the full datasheet bandwidth; at the full dense FLOP rate of the
    compute dtype), the energy per byte and per bf16 FLOP they imply, and the curve's error over its own cells.
    """

    gpu: str
    framework: str
    idle_w: Annotated[float, Field(ge=0)]
    limit_w: Annotated[float, Field(gt=0)]
    busy: Annotated[float, Field(ge=0, le=1)]
    memory: Annotated[float, Field(ge=0, le=1)]
    compute: Annotated[float, Field(ge=0, le=3)]
    joules_per_byte: Annotated[float, Field(ge=0)]
    joules_per_bf16_flop: Annotated[float, Field(ge=0)]
    cells: Annotated[int, Field(ge=1)]
    median_abs_power_error: Annotated[float, Field(ge=0)]  # |curve / measured mean power - 1| over its cells
    p90_abs_power_error: Annotated[float, Field(ge=0)]


class Options(Stored):
    decoding: list[DecodingOption] = []
    speculative: list[SpeculativeOption] = []


class ModelCard(Stored):
    """Everything a fitted model says about itself; `card.json` of a model folder."""

    idle_power_w: dict[str, IdleReadings] = {}
    name: str
    estimator: str
    kind: str
    created: str
    commit: str | None
    command: str
    training: Training
    features: list[str]
    target: str
    interval: Interval
    versions: dict[str, str]
    valid: Validity
    hf_padding: HfPadding | None = None
    transfer: Transfers = Transfers()
    extrapolation: ExtrapolationScore | None = None
    held_out: list[AccuracyScore] = []
    options: Options | None = None
    terms: list[TermsAtKey] = []
    power: list[PowerCurveFit] = []

    @model_validator(mode="after")
    def _idle_below_the_limit(self) -> ModelCard:
        """A GPU's idle power lies below its power limit (the catalog's TDP) where the catalog knows the GPU."""
        from energy_predict.gpus import CATALOG

        for gpu, readings in self.idle_power_w.items():
            tdp = CATALOG[gpu].tdp_w if gpu in CATALOG else None
            for name in ("empty", "loaded_hf", "loaded_vllm", "loaded_hf_p95", "loaded_vllm_p95"):
                watts = getattr(readings, name)
                if tdp is not None and watts is not None and watts >= tdp:
                    raise ValueError(f"idle_power_w.{gpu}.{name}: {watts:g} W is not below the GPU's {tdp:g} W limit")
            for framework in ("hf", "vllm"):
                median = readings.loaded(framework)
                p05, p95 = (getattr(readings, f"loaded_{framework}_{q}") for q in ("p05", "p95"))
                if (p05 is None) != (p95 is None) or (p05 is not None and not (median and p05 <= median <= p95)):
                    raise ValueError(f"idle_power_w.{gpu}.loaded_{framework}_p05/p95: give both with the median "
                                     f"between them (p05 {p05}, median {median}, p95 {p95})")
        return self

    def widest_loaded_idle_bounds(self) -> tuple[float, float] | None:
        """The widest loaded-idle spread (5th and 95th percentile over the median) recorded for any GPU and framework.

        None where none is recorded.
        """
        spreads = [b for r in self.idle_power_w.values() for f in ("hf", "vllm") if (b := r.loaded_bounds(f))]
        return (min(lo for lo, _ in spreads), max(hi for _, hi in spreads)) if spreads else None

    def idle(self, gpu: str) -> IdleReadings:
        """The idle readings of a GPU kind (none where it was never measured)."""
        return self.idle_power_w.get(gpu) or IdleReadings()

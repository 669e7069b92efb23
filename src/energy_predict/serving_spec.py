"""The serving configuration as people and calibration runs write it: one pydantic spec that becomes `Serving`.

A profile's `serving` block (`profile.py`) and a calibration grid's config (`ServingConfig`, the engine a sweep
loads) name the same things the same way: `ServingSpec`'s fields, validated here, become the frozen
`energy_predict.serving.Serving` (`to_serving`). A grid's config adds its name, the engine knobs that are not part of
the serving identity (`EngineKnobs`: memory share, context length, compilation passes, stat logging, HF's attention
kernels) and the cells' shared prompt prefix.

Records, `run.json` and replay files hold the configs calibration ran, some written before this module in the
grid's former spellings (`backend`, `max_num_seqs`, `enable_prefix_caching`, `tensor_parallel_size`, flat engine
knobs and `speculative_model`/`num_speculative_tokens`/`synthetic_acceptance`). Those spellings are accepted as
aliases, and `config_of_record` is the one translator from a record (a records.parquet row with NaN, None or "none"
for what it lacks, or a run.json/replay config) to a `ServingConfig` and its `Serving`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from energy_predict import precision
from energy_predict.serving import DEFAULT_TOKEN_BUDGET, Serving, Speculation

Framework = Literal["hf", "vllm"]
Decoding = Literal["greedy", "sampling", "beam"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, defer_build=True)


class SpeculativeSpec(_Spec):
    """Speculative decoding (vLLM): a draft model proposes `draft_tokens` tokens a step, the target verifies them."""

    draft: str = Field(max_length=200, description="draft model: registry name or config.json path")
    draft_tokens: int = Field(ge=1, le=16, description="tokens the draft proposes per step (vLLM's "
                              "num_speculative_tokens)")

    def to_speculation(self) -> Speculation:
        """The frozen value; a calibration config has no acceptance rate (its engine counts what it accepts)."""
        return Speculation(self.draft, self.draft_tokens, None)


class ServingSpec(_Spec):
    """How a model is served: the fields a profile's `serving` block and a grid's config share.

    `max_num_batched_tokens` None is the engine's own default (a grid passes nothing; a prediction schedules
    `DEFAULT_TOKEN_BUDGET` tokens a step). `dtype` and `quantization` name entries of the precision table
    (`energy_predict.precision`).
    """

    framework: Framework = Field("vllm", validation_alias=AliasChoices("framework", "backend"))
    tensor_parallel: int = Field(1, ge=1, le=64, validation_alias=AliasChoices("tensor_parallel",
                                                                                "tensor_parallel_size"),
                                 description="GPUs per engine (tensor parallelism)")
    cuda_graphs: bool = Field(True, description="vLLM's switch (HF has none of its own: read as false there)")
    compile: bool = False
    dtype: str = Field(precision.KEY_DTYPE, description="the number format the model is loaded in (precision "
                       "table: bfloat16, float16)")
    quantization: str | None = Field(None, description="weights in a narrower format (precision table: fp8), or "
                                     "null")
    max_batch: int = Field(256, ge=1, le=65536, validation_alias=AliasChoices("max_batch", "max_num_seqs"),
                           description="largest batch the server forms (vLLM's max_num_seqs)")
    max_num_batched_tokens: int | None = Field(None, ge=16, le=2**20, description="tokens per engine step; null: "
                                               f"the engine's default ({DEFAULT_TOKEN_BUDGET} in a prediction)")
    decoding: Decoding = "greedy"
    beam_width: int | None = Field(None, ge=2, le=16, description="sequences kept per request (beam only)")
    prefix_caching: bool = Field(False, validation_alias=AliasChoices("prefix_caching", "enable_prefix_caching"))
    speculative: SpeculativeSpec | None = None

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str) -> str:
        return precision.check_name("dtype", value)

    @field_validator("quantization")
    @classmethod
    def _quantization(cls, value: str | None) -> str | None:
        return None if value is None else precision.check_name("quantization", value)

    @model_validator(mode="after")
    def _hf_has_no_graph_switch(self) -> ServingSpec:
        if self.framework == "hf":
            self.cuda_graphs = False
        return self

    def to_serving(self) -> Serving:
        """The frozen value this spec describes (ValueError where its options contradict each other)."""
        return Serving(framework=self.framework, cuda_graphs=self.cuda_graphs, compile=self.compile,
                       quantization=self.quantization, tensor_parallel=self.tensor_parallel, max_batch=self.max_batch,
                       max_num_batched_tokens=self.max_num_batched_tokens or DEFAULT_TOKEN_BUDGET,
                       decoding=self.decoding, prefix_caching=self.prefix_caching,
                       speculative=self.speculative.to_speculation() if self.speculative else None,
                       beam_width=self.beam_width if self.decoding == "beam" and self.beam_width else 1,
                       dtype=self.dtype)


RouterField = Literal["scoring_func", "topk_method", "routed_scaling_factor", "norm_topk_prob", "n_group", "topk_group"]


class EngineKnobs(_Spec):
    """How an engine is set up beyond its serving identity: none of these is in `Serving.key`.

    Whether a configuration with a knob set is training data is the training rule's call (`model/dataset.py`).
    """

    attn_implementation: Literal["eager", "sdpa"] = Field("sdpa", description="HF's attention kernels")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="vLLM's share of each GPU's memory")
    max_model_len: int | None = Field(None, ge=16, description="context length (vLLM; the sweep sets it from "
                                      "the cells where not given)")
    # passed to vLLM as they are, e.g. {"pass_config": {"fuse_allreduce_rms": false}} (campaigns/h100-x2-tp)
    compilation_config: dict[str, Any] | None = None
    disable_custom_all_reduce: bool = False
    log_stats: bool = False  # vLLM's stat loggers (off by default in LLM): its prefix-cache counters need them
    enable_chunked_prefill: bool | None = None
    # written over the model's config.json before a random-weight engine is built: only fields that choose which
    # experts a token picks, never the shape. {"scoring_func": "softmax", "topk_method": "greedy"} lets random
    # weights spread a DeepSeek-V3-style router's tokens as a trained one does (a sigmoid router with a per-expert
    # bias sends every token to the same experts: campaigns/2026-12-07-h100-batch-moe/heldout-before-refit.md)
    router_overrides: dict[RouterField, Any] | None = None


KNOBS = tuple(EngineKnobs.model_fields)


class CalibrationSpeculative(SpeculativeSpec):
    """A grid's speculative decoding: a registry model as the draft, and optionally vLLM's synthetic acceptance.

    The draft has dummy weights like the target's (a draft of the target's own architecture gets the target's very
    weights, so it proposes what the target will choose). `synthetic_acceptance` (0..1, per drafted token,
    independent) makes vLLM's rejection sampler accept at that rate whatever the draft proposes.
    """

    synthetic_acceptance: float | None = Field(None, ge=0, le=1)


class ServingConfig(ServingSpec):
    """One engine configuration of a calibration grid: a named serving spec, its engine knobs, its cells' prefix.

    Options a backend does not know are an error, not ignored. A config written in the grid's former spelling
    (`backend` instead of `framework`) keeps that format's default of `cuda_graphs` false.
    """

    name: str
    speculative: CalibrationSpeculative | None = None
    engine: EngineKnobs = EngineKnobs()
    # Cells with a shared prompt prefix (issue 17): this share of each prompt's tokens is one prefix common to the
    # batch and cached by the warm-up; the rest is new in every run. Needs prefix caching.
    prefix_hit_rate: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _former_spelling(cls, data: Any) -> Any:
        """The grid format before issue 24: flat engine knobs and speculative fields, `cuda_graphs` off by default."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "backend" in data and "framework" not in data:
            data.setdefault("cuda_graphs", False)
        flat = {k: data.pop(k) for k in KNOBS if k in data}
        if flat:
            if "engine" in data:
                raise ValueError(f"give the engine options {sorted(flat)} inside `engine`, not beside it")
            data["engine"] = flat
        draft, k, rate = (data.pop(f, None) for f in ("speculative_model", "num_speculative_tokens",
                                                      "synthetic_acceptance"))
        if draft is not None or k is not None or rate is not None:
            if "speculative" in data:
                raise ValueError("give speculative decoding as `speculative` alone, not with speculative_model, "
                                 "num_speculative_tokens or synthetic_acceptance")
            if bool(draft) != bool(k):
                raise ValueError("speculative_model and num_speculative_tokens go together: give both (e.g. "
                                 "'Llama-3.2-1B' and 4) or neither")
            if rate is not None and not draft:
                raise ValueError("synthetic_acceptance needs speculative decoding: set speculative_model too")
            if draft:
                data["speculative"] = {"draft": draft, "draft_tokens": k,
                                       **({"synthetic_acceptance": rate} if rate is not None else {})}
        if data.get("beam_width") == 1 and data.get("decoding", "greedy") != "beam":
            del data["beam_width"]  # the former format's width of one sequence
        return data

    @property
    def serving(self) -> Serving:
        """The serving configuration this engine runs: the identity its records are fitted and looked up by."""
        return self.to_serving()

    def with_max_model_len(self, tokens: int) -> ServingConfig:
        """A copy whose engine holds contexts of `tokens` tokens."""
        return self.model_copy(update={"engine": self.engine.model_copy(update={"max_model_len": tokens})})

    def engine_fields(self) -> dict:
        """What the engine is built from: configs equal here share one loaded engine in a sweep.

        Per-request options (the name, decoding, the prompts' shared prefix) may differ.
        """
        per_request = {"name", "decoding", "beam_width", "prefix_hit_rate"}
        # HF compiles inside `generate` (a static cache per call): the loaded model is the same with or without it
        return self.model_dump(exclude=per_request | ({"compile"} if self.framework == "hf" else set()))


# What a record may say about its configuration: the config's fields, their former spellings, the record's name for
# the config's name ("config"); every other column (energy, timing, counters) is the measurement, not the config.
_ALIASES = {a for f in ServingConfig.model_fields.values() if isinstance(f.validation_alias, AliasChoices)
            for a in f.validation_alias.choices}
RECORD_FIELDS = frozenset({*ServingConfig.model_fields, *_ALIASES, *KNOBS, "speculative_model",
                           "num_speculative_tokens", "synthetic_acceptance"})


_MISSING = object()


def _plain(value: Any) -> Any:
    """A record's value as plain Python; `_MISSING` for NaN, None, pandas' NA and the string "none"."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)) and getattr(value, "ndim", 0) == 0:
        value = value.item()  # a numpy scalar
    if value is None or (isinstance(value, str) and value == "none"):
        return _MISSING
    try:
        if isinstance(value, float) and math.isnan(value):
            return _MISSING
        if value != value:
            return _MISSING
    except (TypeError, ValueError):  # pandas.NA compares to nothing
        return _MISSING
    return value


def config_of_record(record: Mapping[str, Any]) -> ServingConfig:
    """The engine configuration a calibration record ran.

    `record`: a records.parquet row (pandas Series or dict; NaN, None or "none" where it says nothing, a column
    written by a later version missing), or a config as run.json and replay files hold it, in the current or a
    former spelling. Columns that are not about the configuration are ignored. ValueError where what it says does
    not make a configuration.
    """
    data = {}
    for key in RECORD_FIELDS | {"config"}:
        if key in record:
            value = _plain(record[key])
            if value is not _MISSING:
                data["name" if key == "config" else key] = value
    data.setdefault("name", "record")
    return ServingConfig.model_validate(data, strict=False)


def serving_of_record(record: Mapping[str, Any]) -> Serving:
    """The serving configuration of a calibration record (`config_of_record`): the identity it is fitted by."""
    return config_of_record(record).serving

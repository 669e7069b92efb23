"""The workload profile: a versioned JSON schema, validated at the edge.

A profile says which model runs where and how (model, hardware, serving), what traffic it serves
(workload: a request count over a period or a rate, and the token-length distribution) and, optionally,
the site (PUE, grid carbon, price) that turns GPU energy into facility energy, CO2e and cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from energy_predict.errors import InputError
from energy_predict.jsonio import is_file, read_json
from energy_predict.serving import Speculation
from energy_predict.serving_spec import ServingSpec, SpeculativeSpec

SCHEMA_VERSION = 1
# Bounds at the edge: beyond them a number is a typo, not a workload. A request's prompt or output above
# MAX_TOKENS exceeds any model's context (and keeps length arithmetic, e.g. i * 2**32 + o, inside int64).
MAX_TOKENS = 1 << 24
MAX_REQUESTS = 1e15  # requests in one profile (a year of 30 million requests per second)
MAX_PERIOD_S = 1e10  # about 300 years
MAX_RATE_PER_S = 1e6

# Whole, non-negative token counts; request counts and mean lengths are finite numbers, never text or booleans.
TokenCount = Annotated[int, Field(strict=True, ge=0, le=MAX_TOKENS)]
RequestCount = Annotated[float, Field(strict=True, ge=0, le=MAX_REQUESTS)]
MeanTokens = Annotated[float, Field(strict=True, ge=0, le=MAX_TOKENS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)


class Hardware(_Strict):
    gpu: str = Field(description="GPU catalog name or NVML name, e.g. H100-SXM-80GB")
    count: StrictInt = Field(1, ge=1, le=4096, description="GPUs of the deployment: replicas x tensor_parallel")


class Speculative(SpeculativeSpec):
    """Speculative decoding (vLLM): what the draft proposes and how much of it the target keeps."""

    acceptance_rate: float = Field(ge=0, le=1, strict=True,
                                   description="share of drafted tokens the target accepts, as vLLM's metrics "
                                   "report it (accepted / drafted tokens)")

    def to_speculation(self) -> Speculation:
        return Speculation(self.draft, self.draft_tokens, self.acceptance_rate)


class Serving(ServingSpec):
    """The profile's serving block: the serving spec, how it is run (`mode`) and its sampling options.

    `energy_predict.serving.Serving` is the typed value it becomes (`to_serving`).
    """

    mode: Literal["offline", "online"] = "offline"
    temperature: float | None = Field(None, gt=0, le=100, strict=True, description="sampling temperature")
    top_p: float | None = Field(None, gt=0, le=1, strict=True, description="sampling nucleus (top-p)")
    speculative: Speculative | None = None

    @field_validator("speculative", mode="before")
    @classmethod
    def _speculative_object(cls, value):
        if isinstance(value, str):  # a draft's name alone, as the field read before it was modelled
            raise InputError("serving.speculative", f"a draft's name ({value!r}) alone does not say what speculation "
                             "costs", 'give {"draft": NAME, "draft_tokens": K, "acceptance_rate": A} (A: accepted '
                             "/ drafted tokens, as vLLM's metrics report it)")
        return value

    @model_validator(mode="after")
    def _decoding_options(self) -> Serving:
        if self.decoding == "beam" and self.beam_width is None:
            raise InputError("serving.beam_width", "beam search needs its width",
                             "give serving.beam_width (2-16; 4 was measured)")
        if self.beam_width is not None and self.decoding != "beam":
            raise InputError("serving.beam_width", f"only beam search keeps several sequences, not {self.decoding}",
                             "drop serving.beam_width, or set serving.decoding to \"beam\"")
        for name in ("temperature", "top_p"):
            if getattr(self, name) is not None and self.decoding != "sampling":
                raise InputError(f"serving.{name}", f"is a sampling option, not one of {self.decoding} decoding",
                                 f"drop serving.{name}, or set serving.decoding to \"sampling\"")
        return self


class Histogram(_Strict):
    """Counts of requests by (input, output) length: row a holds inputs in (input_edges[a], input_edges[a+1]]."""

    kind: Literal["histogram"]
    input_edges: list[TokenCount] = Field(min_length=2)
    output_edges: list[TokenCount] = Field(min_length=2)
    counts: list[list[RequestCount]]
    input_mean: list[list[MeanTokens | None]] | None = None
    output_mean: list[list[MeanTokens | None]] | None = None

    @model_validator(mode="after")
    def _shapes(self) -> Histogram:
        rows, cols = len(self.input_edges) - 1, len(self.output_edges) - 1
        for name, edges in (("input_edges", self.input_edges), ("output_edges", self.output_edges)):
            if any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] < 0:
                raise InputError(f"workload.tokens.{name}", "must be non-negative and strictly increasing",
                                 "list the bin edges in ascending order")
        for name in ("counts", "input_mean", "output_mean"):
            matrix = getattr(self, name)
            if matrix is None:
                continue
            if len(matrix) != rows or any(len(r) != cols for r in matrix):
                shape = f"{len(matrix)}x{len(matrix[0]) if matrix else 0}"
                raise InputError(f"workload.tokens.{name}", f"shape {shape} does not match the edges ({rows}x{cols})",
                                 "give one row per input bin and one column per output bin")
        if any(c < 0 for r in self.counts for c in r):
            raise InputError("workload.tokens.counts", "negative count", "counts must be >= 0")
        return self


class Samples(_Strict):
    kind: Literal["samples"]
    samples: list[tuple[TokenCount, TokenCount]] = Field(min_length=1,
                                                         description="(input_tokens, output_tokens) per request")

    @model_validator(mode="after")
    def _positive(self) -> Samples:
        if any(i < 0 or o < 1 for i, o in self.samples):
            raise InputError("workload.tokens.samples", "token counts must be input >= 0 and output >= 1",
                             "fix or remove the offending samples")
        return self


class TraceRef(_Strict):
    kind: Literal["trace"]
    path: str = Field(description="trace file, relative to the profile")
    format: Literal["vllm", "burstgpt", "sharegpt", "vidur", "llmservingsim", "openai", "azure", "mooncake", "csv",
                    "jsonl"] | None = None
    input_column: str | None = None
    output_column: str | None = None
    time_column: str | None = None
    time_unit: Literal["s", "ms", "us", "ns"] | None = Field(None, description="unit of the trace's times (default: "
                                                              "the format's, the column name's, or detected)")


Tokens = Annotated[Histogram | Samples | TraceRef, Field(discriminator="kind")]


class Workload(_Strict):
    requests: float | None = Field(None, gt=0, le=MAX_REQUESTS, strict=True, description="requests over period_s")
    period_s: float | None = Field(None, gt=0, le=MAX_PERIOD_S, strict=True,
                                   description="length of the period the requests arrive in")
    rate_per_s: float | None = Field(None, gt=0, le=MAX_RATE_PER_S, strict=True,
                                     description="mean arrival rate; with period_s gives requests")
    tokens: Tokens
    prefix_hit_rate: float | None = Field(
        None, ge=0, le=1, strict=True,
        description="share of prompt tokens whose KV is already in the prefix cache when the request comes (0-1); "
                    "used with serving.prefix_caching")


class Site(_Strict):
    pue: float = Field(1.0, ge=1.0, le=10.0, strict=True, description="facility power usage effectiveness")
    carbon_g_per_kwh: float | None = Field(None, ge=0, le=1e5, strict=True)
    price_per_kwh: float | None = Field(None, ge=0, le=1e6, strict=True)
    currency: str = "USD"


class Profile(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = "profile"
    source: str | None = Field(None, description="where the workload came from (trace file, study)")
    model: str = Field(description="registry name (e.g. Llama-3.1-8B) or path to a config.json")
    hardware: Hardware
    serving: Serving = Serving()
    workload: Workload
    site: Site | None = None


_FIXES = {
    "missing": "add it (see README, 'Profile format')",
    "extra_forbidden": "remove it or check its spelling (see README, 'Profile format')",
    "literal_error": "use one of the allowed values",
    "finite_number": "write a finite number (NaN and Infinity are not numbers here)",
}
_TOKEN_KINDS = ("histogram", "samples", "trace")


def _as_input_error(exc: ValidationError) -> InputError:
    err = exc.errors()[0]
    loc = list(err["loc"])
    if loc[:2] == ["workload", "tokens"] and len(loc) > 2 and loc[2] in _TOKEN_KINDS:
        del loc[2]  # the union's tag, not a field
    field = ".".join(str(p) for p in loc)
    fix = _FIXES.get(err["type"], "correct the value (see README, 'Profile format')")
    message = err["msg"].lower()  # pydantic may quote the value: a long one is cut
    return InputError(field or "profile", message if len(message) <= 300 else message[:300] + "...", fix)


def parse_profile(data: object) -> Profile:
    """Validate a decoded profile; raise InputError naming the first bad field."""
    if not isinstance(data, dict):
        raise InputError("profile", "must be a JSON object", "see README, 'Profile format'")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise _as_input_error(exc) from None


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile JSON file."""
    if not is_file(path):
        raise InputError("--profile", f"no file at {path}", "give the path to a profile JSON (see examples/)")
    return parse_profile(read_json(path, "profile", "a profile JSON (see examples/)"))

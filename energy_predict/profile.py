"""The workload profile: a versioned JSON schema, validated at the edge.

A profile says which model runs where and how (model, hardware, serving), what traffic it serves
(workload: a request count over a period or a rate, and the token-length distribution) and, optionally,
the site (PUE, grid carbon, price) that turns GPU energy into facility energy, CO2e and cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from energy_predict.errors import InputError
from energy_predict.jsonio import read_json

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hardware(_Strict):
    gpu: str = Field(description="GPU catalog name or NVML name, e.g. H100-SXM-80GB")
    count: int = Field(1, ge=1, description="GPUs serving the model (tensor parallel x replicas)")


class Serving(_Strict):
    framework: Literal["hf", "vllm"] = "vllm"
    tensor_parallel: int = Field(1, ge=1)
    cuda_graphs: bool = True
    compile: bool = False
    max_batch: int = Field(256, ge=1, description="largest batch the server forms")
    mode: Literal["offline", "online"] = "offline"
    dtype: Literal["bfloat16", "float16"] = "bfloat16"
    quantization: Literal["fp8"] | None = None


class Histogram(_Strict):
    """Counts of requests by (input, output) length: row a holds inputs in (input_edges[a], input_edges[a+1]]."""

    kind: Literal["histogram"]
    input_edges: list[int] = Field(min_length=2)
    output_edges: list[int] = Field(min_length=2)
    counts: list[list[float]]
    input_mean: list[list[float | None]] | None = None
    output_mean: list[list[float | None]] | None = None

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
    samples: list[tuple[int, int]] = Field(min_length=1, description="(input_tokens, output_tokens) per request")

    @model_validator(mode="after")
    def _positive(self) -> Samples:
        if any(i < 0 or o < 1 for i, o in self.samples):
            raise InputError("workload.tokens.samples", "token counts must be input >= 0 and output >= 1",
                             "fix or remove the offending samples")
        return self


class TraceRef(_Strict):
    kind: Literal["trace"]
    path: str = Field(description="trace file, relative to the profile")
    format: Literal["azure", "mooncake", "csv"] | None = None
    input_column: str | None = None
    output_column: str | None = None
    time_column: str | None = None


Tokens = Annotated[Histogram | Samples | TraceRef, Field(discriminator="kind")]


class Workload(_Strict):
    requests: float | None = Field(None, ge=0, description="requests over period_s")
    period_s: float | None = Field(None, gt=0, description="length of the period the requests arrive in")
    rate_per_s: float | None = Field(None, ge=0, description="mean arrival rate; with period_s gives requests")
    tokens: Tokens


class Site(_Strict):
    pue: float = Field(1.0, ge=1.0, description="facility power usage effectiveness")
    carbon_g_per_kwh: float | None = Field(None, ge=0)
    price_per_kwh: float | None = Field(None, ge=0)
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
}


def _as_input_error(exc: ValidationError) -> InputError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p in {"histogram", "samples", "trace"}))
    fix = _FIXES.get(err["type"], "correct the value (see README, 'Profile format')")
    return InputError(field or "profile", err["msg"].lower(), fix)


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
    if not Path(path).is_file():
        raise InputError("--profile", f"no file at {path}", "give the path to a profile JSON (see examples/)")
    return parse_profile(read_json(path, "profile", "a profile JSON (see examples/)"))

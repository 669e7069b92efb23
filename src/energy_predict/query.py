"""One request shape as a profile: what `energy-predict estimate` asks for, written as the profile it stands for.

`energy-predict estimate --model M --gpu G --input 1024 --output 256 [--rate R | --requests N]` is
`energy-predict --profile P` on the profile `query_profile` builds: every request of the same shape, offline
(N requests in full batches) or online (arrivals at R requests/s over `period_s`).
"""

from __future__ import annotations

from typing import Any, Literal

from energy_predict.errors import InputError

# --precision as people write it -> the serving fields that name it (energy_predict.precision)
PRECISIONS: dict[str, dict[str, Any]] = {
    "bf16": {"dtype": "bfloat16", "quantization": None},
    "fp16": {"dtype": "float16", "quantization": None},
    "fp8": {"dtype": "bfloat16", "quantization": "fp8"},
}
DEFAULT_REQUESTS = 1000  # offline: energy per request does not depend on the count once batches are full
DEFAULT_PERIOD_S = 3600.0  # online: an hour of arrivals


def query_profile(model: str, gpu: str, input_tokens: int, output_tokens: int, *, rate_per_s: float | None = None,
                  requests: float | None = None, period_s: float | None = None, tensor_parallel: int = 1,
                  precision: str = "bf16", framework: Literal["vllm", "hf"] = "vllm",
                  max_batch: int | None = None) -> dict[str, Any]:
    """The profile (schema version 1, as a dict) of `requests` requests, or of arrivals at `rate_per_s`.

    Raises InputError naming the option where the query contradicts itself; the profile's own checks (lengths,
    counts, names) run when it is read (`energy_predict.profile.parse_profile`).
    """
    if rate_per_s is not None and requests is not None:
        raise InputError("--requests", "and --rate both say how much traffic there is",
                         "give --rate R (online, over --period-s) or --requests N (offline), not both")
    if period_s is not None and rate_per_s is None:
        raise InputError("--period-s", "is the period arrivals at a rate come in", "give --rate with it, or drop it")
    if precision not in PRECISIONS:
        raise InputError("--precision", f"{precision!r} is not a precision here",
                         f"use one of {', '.join(PRECISIONS)}")
    serving: dict[str, Any] = {"framework": framework, "tensor_parallel": tensor_parallel,
                               "mode": "offline" if rate_per_s is None else "online", **PRECISIONS[precision]}
    if max_batch is not None:
        serving["max_batch"] = max_batch
    workload: dict[str, Any] = {"tokens": {"kind": "samples", "samples": [[input_tokens, output_tokens]]}}
    if rate_per_s is None:
        workload["requests"] = float(requests if requests is not None else DEFAULT_REQUESTS)
    else:
        workload.update(rate_per_s=rate_per_s, period_s=period_s if period_s is not None else DEFAULT_PERIOD_S)
    name = f"{model.rsplit('/', 1)[-1]} {input_tokens}+{output_tokens} tokens"
    return {"schema_version": 1, "name": name, "source": "energy-predict estimate", "model": model,
            "hardware": {"gpu": gpu, "count": tensor_parallel}, "serving": serving, "workload": workload}

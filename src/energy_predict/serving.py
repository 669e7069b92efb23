"""How a model is served: one frozen value whose key is the only identity of a serving configuration.

A deployment is (architecture, GPU, Serving, GPU count). The model is fitted per `Serving.key` (the options that
change the kernels that run); the batch cap and token budget are scheduling limits the prediction applies, not a
configuration of their own, and so is prefix caching: it runs the same kernels for the tokens it computes and
skips the prefill of prompt tokens whose KV is already cached (`energy_predict.prefix`), so a deployment with it on
is predicted from the same fitted configuration with it off. Decoding (sampling, beam search) and speculative
decoding are options of the same kind: `base` is the greedy configuration they are fitted on, and the model card's
`options` carries the measured rule that moves a greedy prediction to them (`energy_predict.model.options`).
Adding an option is one field here and, where it needs kernels of its own, one entry in `KEY_FIELDS`.

The precision (`dtype`, `quantization`) is read from the precision table (`energy_predict.precision`); the key carries
the quantization, and every key stands for the dtype every calibration ran (`precision.KEY_DTYPE`). Profiles and
grids spell a configuration with `energy_predict.serving_spec.ServingSpec`, which becomes this value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property

from energy_predict import precision
from energy_predict.architectures import Architecture, resolve_architecture
from energy_predict.gpus import GPU
from energy_predict.precision import Precision

FRAMEWORKS = ("hf", "vllm")
DECODINGS = ("greedy", "sampling", "beam")
# The fields that decide which kernels run, hence which measurements a prediction may rest on.
KEY_FIELDS = ("framework", "cuda_graphs", "compile", "quantization", "tensor_parallel", "decoding", "speculative")
DEFAULT_TOKEN_BUDGET = 8192  # tokens per engine step where a configuration leaves it to the engine (vLLM's server)


@dataclass(frozen=True)
class Speculation:
    """Speculative decoding (vLLM): a draft model proposes `draft_tokens` tokens a step, the target verifies them.

    `acceptance_rate`: the share of drafted tokens the target accepts, as vLLM's metrics report it (accepted /
    drafted tokens); a step then advances each sequence by 1 + acceptance_rate x draft_tokens tokens on average.
    None where it is not a setting: a calibration record's draft accepts what it accepts (its engine counts it).
    """

    draft: str
    draft_tokens: int
    acceptance_rate: float | None

    def __post_init__(self) -> None:
        if self.draft_tokens < 1 or not (self.acceptance_rate is None or 0.0 <= self.acceptance_rate <= 1.0):
            raise ValueError("draft_tokens must be >= 1 and acceptance_rate in [0, 1]")

    @cached_property
    def arch(self) -> Architecture:
        """The draft's architecture, resolved once (a config.json path is read once)."""
        return resolve_architecture(self.draft)

    @property
    def accepted_per_step(self) -> float:
        """Drafted tokens a step accepts per sequence on average."""
        if self.acceptance_rate is None:
            raise ValueError("a speculation without an acceptance rate (a calibration record's) predicts nothing")
        return self.acceptance_rate * self.draft_tokens

    @property
    def label(self) -> str:
        rate = "" if self.acceptance_rate is None else f" a{self.acceptance_rate:g}"
        return f"spec:{self.draft} k{self.draft_tokens}{rate}"


@dataclass(frozen=True)
class Serving:
    """A serving configuration. `cuda_graphs` is vLLM's switch; HF has none of its own (compile captures graphs)."""

    framework: str = "vllm"
    cuda_graphs: bool = True
    compile: bool = False
    quantization: str | None = None
    tensor_parallel: int = 1
    max_batch: int = 256
    max_num_batched_tokens: int = 8192
    decoding: str = "greedy"
    prefix_caching: bool = False
    speculative: Speculation | None = None
    beam_width: int = 1  # sequences kept per request under beam search (1 otherwise)
    dtype: str = precision.KEY_DTYPE  # the number format the model is loaded in (not in the key: see the module)

    def __post_init__(self) -> None:
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"framework must be one of {FRAMEWORKS}")
        precision.precision_of(self.quantization, self.dtype)  # both names are in the precision table
        if self.tensor_parallel < 1 or self.max_batch < 1 or self.max_num_batched_tokens < 1:
            raise ValueError("tensor_parallel, max_batch and max_num_batched_tokens must be >= 1")
        if self.framework == "hf" and self.cuda_graphs:  # normalise: HF has no CUDA-graph switch of its own
            object.__setattr__(self, "cuda_graphs", False)
        if self.decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}")
        if (self.decoding == "beam") != (self.beam_width > 1):
            raise ValueError("beam search needs beam_width >= 2, and beam_width > 1 needs beam search")
        if isinstance(self.speculative, dict):
            object.__setattr__(self, "speculative", Speculation(**self.speculative))
        if self.speculative is not None and not isinstance(self.speculative, Speculation):
            raise ValueError("speculative must be a Speculation (draft, draft_tokens, acceptance_rate); a serving "
                             "key's draft name alone cannot make one")

    @property
    def base(self) -> Serving:
        """The greedy configuration without speculation that the options are predicted from."""
        return replace(self, decoding="greedy", beam_width=1, speculative=None)

    @property
    def key(self) -> tuple:
        """The identity of the configuration: what the model is fitted and looked up by."""
        return tuple(self.speculative.draft if f == "speculative" and self.speculative else getattr(self, f)
                     for f in KEY_FIELDS)

    @property
    def precision(self) -> Precision:
        """What the weights, the KV cache and the matrix products cost (`energy_predict.precision`)."""
        return precision.precision_of(self.quantization, self.dtype)

    @property
    def label(self) -> str:
        """Short human name, e.g. 'vllm graphs fp8 tp2'."""
        parts = [self.framework]
        if self.framework == "vllm":
            parts.append("graphs" if self.cuda_graphs else "eager")
        if self.compile:
            parts.append("compile")
        if self.dtype != precision.KEY_DTYPE:
            parts.append(self.dtype)
        if self.quantization:
            parts.append(self.quantization)
        if self.tensor_parallel > 1:
            parts.append(f"tp{self.tensor_parallel}")
        if self.decoding != "greedy":
            parts.append(self.decoding if self.decoding != "beam" else f"beam{self.beam_width}")
        if self.prefix_caching:
            parts.append("prefix-caching")
        if self.speculative:
            parts.append(self.speculative.label)
        return " ".join(parts)

    def with_(self, **changes) -> Serving:
        """A copy with some options changed."""
        return replace(self, **changes)

    def key_dict(self) -> dict:
        """The key as a JSON object (model cards store keys this way)."""
        return dict(zip(KEY_FIELDS, self.key))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Serving:
        """From `to_dict` or `key_dict` output (missing fields take their defaults)."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown serving fields {sorted(unknown)}")
        return cls(**data)


def key_from_dict(data: dict) -> tuple:
    """A configuration key from its JSON form."""
    return Serving.from_dict(data).key


@dataclass(frozen=True)
class Deployment:
    """What runs where: a model, a GPU kind, how it is served, and how many GPUs in all (replicas x TP)."""

    arch: Architecture
    gpu: GPU
    serving: Serving
    gpu_count: int = 1

    def __post_init__(self) -> None:
        if self.gpu_count < 1 or self.gpu_count % self.serving.tensor_parallel:
            raise ValueError("gpu_count must be a positive multiple of tensor_parallel")

    @property
    def replicas(self) -> int:
        """Engines serving traffic side by side: GPUs / tensor-parallel degree."""
        return self.gpu_count // self.serving.tensor_parallel

    @property
    def gpus_per_engine(self) -> int:
        return self.serving.tensor_parallel

    def with_serving(self, **changes) -> Deployment:
        return replace(self, serving=self.serving.with_(**changes))

    @property
    def base(self) -> Deployment:
        """The same deployment decoding greedily without speculation (what the options are predicted from)."""
        return replace(self, serving=self.serving.base)


def _beside_profile(name: str, base_dir) -> str:
    """A model named by a relative config.json path is read relative to the profile's folder."""
    from pathlib import Path

    from energy_predict.hf_ids import looks_like_hf_id

    if base_dir is not None and (name.endswith(".json") or "/" in name) and not Path(name).is_absolute():
        beside = Path(base_dir) / name
        if not beside.exists() and looks_like_hf_id(name):  # a Hugging Face id, not a folder beside the profile
            return name
        return str(beside)
    return name


def deployment_from_profile(p, base_dir=None) -> Deployment:
    """Resolve a validated profile's model, GPU and serving into a Deployment (InputError naming the field)."""
    from energy_predict.errors import InputError
    from energy_predict.gpus import resolve_gpu

    arch = resolve_architecture(_beside_profile(p.model, base_dir))
    serving = p.serving.to_serving()
    if serving.speculative:  # the draft is resolved as the model is, and named as its own field
        speculative = replace(serving.speculative, draft=_beside_profile(serving.speculative.draft, base_dir))
        try:
            _ = speculative.arch  # resolved here once, so a bad draft is named as its field
        except InputError as exc:
            fix = exc.fix or "give a registry name or a config.json path (relative to the profile)"
            raise InputError("serving.speculative.draft", exc.problem, fix) from None
        serving = replace(serving, speculative=speculative)
    if p.hardware.count % serving.tensor_parallel:
        raise InputError("hardware.count", f"{p.hardware.count} GPUs is not a multiple of tensor_parallel "
                         f"{serving.tensor_parallel}", "give the deployment's GPUs: replicas x tensor_parallel")
    return Deployment(arch, resolve_gpu(p.hardware.gpu), serving, p.hardware.count)

"""Model architectures: the dimensions that decide FLOPs, bytes and memory.

A registry holds the published shapes; `from_hf_config` reads any Hugging Face `config.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from energy_predict.errors import InputError
from energy_predict.jsonio import is_dir, is_file, json_type, read_json


@dataclass(frozen=True)
class Architecture:
    """A decoder-only transformer, dense or mixture-of-experts."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int  # per expert for MoE
    vocab_size: int
    tie_embeddings: bool = False
    qkv_bias: bool = False
    num_experts: int = 0  # 0: dense
    experts_per_token: int = 0
    qk_norm: bool = False  # OLMoE normalises q and k over the full projection
    max_context: int = 131072  # longest sequence (prompt + output) the model takes: max_position_embeddings
    # what the report should say about where this shape came from (a name that disagreed with it); not identity
    note: str = field(default="", compare=False)

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def attention_params(self) -> int:
        """Parameters of one layer's attention projections (q, k, v, o)."""
        q = self.hidden_size * self.num_heads * self.head_dim
        kv = 2 * self.hidden_size * self.num_kv_heads * self.head_dim
        o = self.num_heads * self.head_dim * self.hidden_size
        bias = (self.num_heads + 2 * self.num_kv_heads) * self.head_dim if self.qkv_bias else 0
        norm = (self.num_heads + self.num_kv_heads) * self.head_dim if self.qk_norm else 0
        return q + kv + o + bias + norm

    @property
    def expert_params(self) -> int:
        """Parameters of one gated MLP (one expert for MoE)."""
        return 3 * self.hidden_size * self.intermediate_size

    @property
    def router_params(self) -> int:
        return self.hidden_size * self.num_experts

    def _layer_params(self, experts: int) -> int:
        mlp = self.expert_params * max(experts, 1) + self.router_params
        return self.attention_params + mlp + 2 * self.hidden_size

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def total_params(self) -> int:
        """All parameters, as a checkpoint stores them."""
        head = 0 if self.tie_embeddings else self.embedding_params
        return self.num_layers * self._layer_params(self.num_experts) + self.embedding_params + head + self.hidden_size

    @property
    def active_params(self) -> int:
        """Parameters one token passes through (MoE: only its routed experts)."""
        experts = self.experts_per_token if self.is_moe else 0
        head = 0 if self.tie_embeddings else self.embedding_params
        return self.num_layers * self._layer_params(experts) + self.embedding_params + head + self.hidden_size

    def kv_bytes_per_token(self, bytes_per_value: float = 2.0) -> float:
        """KV-cache bytes one token occupies across all layers."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * bytes_per_value


def _arch(name: str, **dims: Any) -> Architecture:
    dims.setdefault("head_dim", dims["hidden_size"] // dims["num_heads"])
    return Architecture(name=name, **dims)


_LLAMA3 = dict(vocab_size=128256, num_kv_heads=8)
REGISTRY: dict[str, Architecture] = {
    a.name: a
    for a in [
        _arch("Llama-3.1-8B", hidden_size=4096, num_layers=32, num_heads=32, intermediate_size=14336, **_LLAMA3),
        _arch("Llama-3.1-70B", hidden_size=8192, num_layers=80, num_heads=64, intermediate_size=28672, **_LLAMA3),
        _arch("Llama-3.2-1B", hidden_size=2048, num_layers=16, num_heads=32, intermediate_size=8192,
              tie_embeddings=True, **_LLAMA3),
        _arch("Llama-3.2-3B", hidden_size=3072, num_layers=28, num_heads=24, intermediate_size=8192,
              tie_embeddings=True, **_LLAMA3),
        _arch("Qwen2.5-7B", hidden_size=3584, num_layers=28, num_heads=28, num_kv_heads=4, intermediate_size=18944,
              vocab_size=152064, qkv_bias=True, max_context=32768),
        _arch("Qwen2.5-32B", hidden_size=5120, num_layers=64, num_heads=40, num_kv_heads=8, intermediate_size=27648,
              vocab_size=152064, qkv_bias=True, max_context=32768),
        _arch("Mistral-7B-v0.3", hidden_size=4096, num_layers=32, num_heads=32, num_kv_heads=8,
              intermediate_size=14336, vocab_size=32768, max_context=32768),
        _arch("OLMoE-1B-7B", hidden_size=2048, num_layers=16, num_heads=16, num_kv_heads=16, intermediate_size=1024,
              vocab_size=50304, num_experts=64, experts_per_token=8, qk_norm=True, max_context=4096),
        # OLMo-1B-0724-hf and OLMo-7B-0724-hf: the dense peers of OLMoE in the reference study
        _arch("OLMo-1B", hidden_size=2048, num_layers=16, num_heads=16, num_kv_heads=16, intermediate_size=8192,
              vocab_size=50304, tie_embeddings=True, max_context=4096),
        _arch("OLMo-7B", hidden_size=4096, num_layers=32, num_heads=32, num_kv_heads=32, intermediate_size=11008,
              vocab_size=50304, max_context=4096),
        # intermediate_size is per expert (the config's moe_intermediate_size)
        _arch("Qwen3-30B-A3B", hidden_size=2048, num_layers=48, num_heads=32, num_kv_heads=4, head_dim=128,
              intermediate_size=768, vocab_size=151936, num_experts=128, experts_per_token=8, max_context=40960),
        _arch("Mixtral-8x7B", hidden_size=4096, num_layers=32, num_heads=32, num_kv_heads=8, intermediate_size=14336,
              vocab_size=32000, num_experts=8, experts_per_token=2, max_context=32768),
    ]
}

# Hugging Face config.json fields for each registry family, so a backend can build it with random weights;
# the first prefix that matches wins (OLMoE before OLMo).
_HF_FAMILY = {
    "Llama": ("LlamaForCausalLM", "llama", {"rope_theta": 500000.0}),
    "Qwen2.5": ("Qwen2ForCausalLM", "qwen2", {"rope_theta": 1000000.0}),
    "Qwen3": ("Qwen3MoeForCausalLM", "qwen3_moe", {"rope_theta": 1000000.0, "attention_bias": False,
                                                   "decoder_sparse_step": 1, "mlp_only_layers": [],
                                                   "norm_topk_prob": True}),
    "Mistral": ("MistralForCausalLM", "mistral", {"rope_theta": 1000000.0, "sliding_window": None}),
    "Mixtral": ("MixtralForCausalLM", "mixtral", {"rope_theta": 1000000.0, "sliding_window": None}),
    "OLMoE": ("OlmoeForCausalLM", "olmoe", {"rope_theta": 10000.0, "clip_qkv": None, "norm_topk_prob": False}),
    "OLMo": ("OlmoForCausalLM", "olmo", {"rope_theta": 10000.0, "clip_qkv": None, "attention_bias": False}),
}


# Largest plausible value of each config.json dimension (well above any published model): a bigger one is a typo.
_DIM_MAX = {"hidden_size": 1 << 20, "num_hidden_layers": 1 << 12, "num_attention_heads": 1 << 14,
            "num_key_value_heads": 1 << 14, "head_dim": 1 << 14, "intermediate_size": 1 << 22, "vocab_size": 1 << 24,
            "num_local_experts": 1 << 16, "num_experts": 1 << 16, "num_experts_per_tok": 1 << 16,
            "moe_intermediate_size": 1 << 22,
            "max_position_embeddings": 1 << 31}
_CONFIG_FIX = "give a complete Hugging Face config.json for a decoder model"


def _dim(config: dict[str, Any], key: str, default: int | None = None, low: int = 1) -> int:
    """A whole dimension in [low, _DIM_MAX[key]]; `default` where the key is absent or null (None: required)."""
    value = config.get(key)
    if value is None:
        if default is None:
            raise InputError(f"config.{key}", "missing" if key not in config else "null", _CONFIG_FIX)
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"config.{key}", f"{json_type(value)}, not a whole number", _CONFIG_FIX)
    if isinstance(value, float) and not value.is_integer():
        raise InputError(f"config.{key}", f"{value!r} is not a whole number", _CONFIG_FIX)
    if not low <= value <= _DIM_MAX[key]:
        digits = len(str(abs(int(value))))
        shown = f"a number of {digits} digits" if digits > 15 else f"{value:.3g}" if abs(value) >= 1e9 else \
            f"{int(value)}"
        raise InputError(f"config.{key}", f"{shown} is outside {low}..{_DIM_MAX[key]:,}", _CONFIG_FIX)
    return int(value)


def _flag(config: dict[str, Any], key: str, default: bool) -> bool:
    value = config.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InputError(f"config.{key}", f"{json_type(value)}, not true or false", _CONFIG_FIX)
    return value


def from_hf_config(config: dict[str, Any], name: str | None = None) -> Architecture:
    """Build an Architecture from the fields of a Hugging Face `config.json` (InputError naming a bad key)."""
    if not isinstance(config, dict):
        raise InputError("model", f"the config is {json_type(config)}, not an object", _CONFIG_FIX)
    hidden = _dim(config, "hidden_size")
    heads = _dim(config, "num_attention_heads")
    kv_heads = _dim(config, "num_key_value_heads", heads)
    if kv_heads > heads or heads % kv_heads:
        raise InputError("config.num_key_value_heads", f"{kv_heads} does not divide num_attention_heads ({heads})",
                         _CONFIG_FIX)
    if heads > hidden and config.get("head_dim") is None:
        raise InputError("config.num_attention_heads", f"{heads} heads exceed hidden_size ({hidden})", _CONFIG_FIX)
    model_type = str(config.get("model_type") or "")
    for key, what in (("n_routed_experts", "routed and shared experts (DeepSeek)"),
                      ("shared_expert_intermediate_size", "a shared expert beside the routed ones (Qwen-MoE)"),
                      ("kv_lora_rank", "latent attention (DeepSeek MLA)"), ("n_shared_experts", "shared experts")):
        if config.get(key) is not None:
            raise InputError(f"config.{key}", f"{what} is not modelled: its parameters, FLOPs and KV cache would "
                             "be counted wrong", "give a dense or plain mixture-of-experts model (Mixtral, OLMoE, "
                             "Qwen3-MoE)")
    expert_key = "num_local_experts" if config.get("num_local_experts") is not None else "num_experts"
    experts = _dim(config, expert_key, 0, low=0)
    per_token = _dim(config, "num_experts_per_tok") if experts else 0
    if per_token > experts:
        raise InputError("config.num_experts_per_tok", f"{per_token} is more than the {experts} experts",
                         _CONFIG_FIX)
    given_name = config.get("_name_or_path")
    return Architecture(
        name=name or (given_name if isinstance(given_name, str) and given_name else None) or model_type or "custom",
        hidden_size=hidden,
        num_layers=_dim(config, "num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=_dim(config, "head_dim", hidden // heads),
        # Qwen-MoE configs give the experts' width apart from a dense width that their MoE layers do not use
        intermediate_size=_dim(config, "moe_intermediate_size" if experts and config.get("moe_intermediate_size")
                               is not None else "intermediate_size"),
        vocab_size=_dim(config, "vocab_size"),
        tie_embeddings=_flag(config, "tie_word_embeddings", False),
        qkv_bias=_flag(config, "attention_bias", model_type == "qwen2"),
        num_experts=experts,
        experts_per_token=per_token,
        qk_norm=model_type == "olmoe",
        max_context=_dim(config, "max_position_embeddings", 131072),
    )


def to_hf_config(arch: Architecture, max_position_embeddings: int | None = None) -> dict[str, Any]:
    """A Hugging Face `config.json` for a registry architecture (random-weight calibration)."""
    architecture, model_type, extra = next((v for k, v in _HF_FAMILY.items() if arch.name.startswith(k)),
                                           _HF_FAMILY["Llama"])
    config: dict[str, Any] = {
        "architectures": [architecture],
        "model_type": model_type,
        "hidden_size": arch.hidden_size,
        "num_hidden_layers": arch.num_layers,
        "num_attention_heads": arch.num_heads,
        "num_key_value_heads": arch.num_kv_heads,
        "head_dim": arch.head_dim,
        "intermediate_size": arch.intermediate_size,
        "vocab_size": arch.vocab_size,
        "tie_word_embeddings": arch.tie_embeddings,
        "max_position_embeddings": max_position_embeddings or arch.max_context,
        "rms_norm_eps": 1e-5,
        "hidden_act": "silu",
        "torch_dtype": "bfloat16",
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    config.update(extra)
    if model_type == "llama":
        config["attention_bias"] = arch.qkv_bias
    if arch.is_moe:
        experts = "num_local_experts" if model_type == "mixtral" else "num_experts"
        config.update({experts: arch.num_experts, "num_experts_per_tok": arch.experts_per_token})
        if model_type == "qwen3_moe":  # experts' width apart; the dense width is unused when every layer is MoE
            config.update(moe_intermediate_size=arch.intermediate_size, intermediate_size=6144)
    return config


def resolve_architecture(spec: str) -> Architecture:
    """A registry name, a path to a `config.json` (or a folder holding one), or a Hugging Face id that ships one."""
    if spec in REGISTRY:
        return REGISTRY[spec]
    lowered = {k.lower(): v for k, v in REGISTRY.items()}
    if spec.lower() in lowered:
        return lowered[spec.lower()]
    path = Path(spec)
    if is_dir(path):
        path = path / "config.json"
    if path.suffix == ".json" and is_file(path):
        config = read_json(path, "model", "a Hugging Face config.json")
        return _identified(from_hf_config(config, name=path.parent.name or path.stem))
    from energy_predict import hf_ids  # a Hugging Face id: the config.json that ships for it (hf_ids.py)

    shipped = hf_ids.shipped_config(spec)
    if shipped is not None:
        return _identified(from_hf_config(read_json(shipped.path, "model", "reinstall energy-predict"),
                                          name=shipped.hf_id))
    if hf_ids.looks_like_hf_id(spec):
        raise hf_ids.unknown_id(spec)
    known = ", ".join(REGISTRY)
    shown = spec if len(spec) <= 100 else spec[:100] + "..."
    raise InputError("model", f"unknown model {shown!r}", f"use one of {known}, or a path to a config.json")


def _identified(arch: Architecture) -> Architecture:
    """A config.json's model is identified by its shape (the fields that set its cost), never by its name.

    A config.json of a registry model is that model, whatever its folder is called: same shape, same cells. One of
    another shape keeps its own name unless that name is a registry model's (a folder called `Llama-3.1-8B` holding
    a 2-layer config): then it is renamed, so that it is never answered with that model's measurements, and noted.
    """
    same_shape = next((known for known in REGISTRY.values() if replace(known, name=arch.name) == arch), None)
    if same_shape is not None:
        return same_shape
    claimed = {k.lower(): k for k in REGISTRY}.get(arch.name.lower())
    if claimed is None:
        return arch
    return replace(arch, name=f"{arch.name} (config.json)",
                   note=f"model: the config.json is named {claimed} but is not {claimed}'s shape; it is costed as its "
                        "own shape, not from that model's measurements")


def scaled(arch: Architecture, **changes: Any) -> Architecture:
    """A copy with some dimensions changed (tests and what-if studies)."""
    return replace(arch, **changes)

"""Model architectures: the dimensions that decide FLOPs, bytes and memory.

A registry holds the published shapes; `from_hf_config` reads any Hugging Face `config.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from energy_predict.errors import InputError
from energy_predict.jsonio import read_json


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
              vocab_size=152064, qkv_bias=True),
        _arch("Qwen2.5-32B", hidden_size=5120, num_layers=64, num_heads=40, num_kv_heads=8, intermediate_size=27648,
              vocab_size=152064, qkv_bias=True),
        _arch("Mistral-7B-v0.3", hidden_size=4096, num_layers=32, num_heads=32, num_kv_heads=8,
              intermediate_size=14336, vocab_size=32768),
        _arch("OLMoE-1B-7B", hidden_size=2048, num_layers=16, num_heads=16, num_kv_heads=16, intermediate_size=1024,
              vocab_size=50304, num_experts=64, experts_per_token=8, qk_norm=True),
    ]
}

# Hugging Face config.json fields for each registry model, so a backend can build it with random weights.
_HF_FAMILY = {
    "Llama": ("LlamaForCausalLM", "llama"),
    "Qwen2.5": ("Qwen2ForCausalLM", "qwen2"),
    "Mistral": ("MistralForCausalLM", "mistral"),
    "OLMoE": ("OlmoeForCausalLM", "olmoe"),
}


def from_hf_config(config: dict[str, Any], name: str | None = None) -> Architecture:
    """Build an Architecture from the fields of a Hugging Face `config.json`."""

    def need(key: str) -> Any:
        if key not in config:
            raise InputError(f"config.{key}", "missing", "give a complete Hugging Face config.json for a decoder model")
        return config[key]

    hidden = int(need("hidden_size"))
    heads = int(need("num_attention_heads"))
    model_type = str(config.get("model_type", ""))
    experts = int(config.get("num_local_experts") or config.get("num_experts") or 0)
    return Architecture(
        name=name or config.get("_name_or_path") or model_type or "custom",
        hidden_size=hidden,
        num_layers=int(need("num_hidden_layers")),
        num_heads=heads,
        num_kv_heads=int(config.get("num_key_value_heads") or heads),
        head_dim=int(config.get("head_dim") or hidden // heads),
        intermediate_size=int(need("intermediate_size")),
        vocab_size=int(need("vocab_size")),
        tie_embeddings=bool(config.get("tie_word_embeddings", False)),
        qkv_bias=bool(config.get("attention_bias", model_type == "qwen2")),
        num_experts=experts,
        experts_per_token=int(config.get("num_experts_per_tok") or 0) if experts else 0,
        qk_norm=model_type == "olmoe",
    )


def to_hf_config(arch: Architecture, max_position_embeddings: int = 131072) -> dict[str, Any]:
    """A Hugging Face `config.json` for a registry architecture (random-weight calibration)."""
    family = next((v for k, v in _HF_FAMILY.items() if arch.name.startswith(k)), _HF_FAMILY["Llama"])
    config: dict[str, Any] = {
        "architectures": [family[0]],
        "model_type": family[1],
        "hidden_size": arch.hidden_size,
        "num_hidden_layers": arch.num_layers,
        "num_attention_heads": arch.num_heads,
        "num_key_value_heads": arch.num_kv_heads,
        "head_dim": arch.head_dim,
        "intermediate_size": arch.intermediate_size,
        "vocab_size": arch.vocab_size,
        "tie_word_embeddings": arch.tie_embeddings,
        "max_position_embeddings": max_position_embeddings,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "hidden_act": "silu",
        "torch_dtype": "bfloat16",
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    if family[1] == "llama":
        config["attention_bias"] = arch.qkv_bias
    if arch.is_moe:
        config.update(num_experts=arch.num_experts, num_experts_per_tok=arch.experts_per_token)
    return config


def resolve_architecture(spec: str) -> Architecture:
    """A registry name, or a path to a `config.json` (or a folder holding one)."""
    if spec in REGISTRY:
        return REGISTRY[spec]
    lowered = {k.lower(): v for k, v in REGISTRY.items()}
    if spec.lower() in lowered:
        return lowered[spec.lower()]
    path = Path(spec)
    if path.is_dir():
        path = path / "config.json"
    if path.suffix == ".json" and path.is_file():
        config = read_json(path, "model", "a Hugging Face config.json")
        return from_hf_config(config, name=path.parent.name or path.stem)
    known = ", ".join(REGISTRY)
    raise InputError("model", f"unknown model {spec!r}", f"use one of {known}, or a path to a config.json")


def scaled(arch: Architecture, **changes: Any) -> Architecture:
    """A copy with some dimensions changed (tests and what-if studies)."""
    return replace(arch, **changes)

"""Model architectures: the dimensions that decide FLOPs, bytes and memory.

A registry holds the published shapes; `from_hf_config` reads any Hugging Face `config.json`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.jsonio import is_dir, is_file, json_type, read_json
from energy_predict.precision import format_bytes_per_param, format_covers

if TYPE_CHECKING:
    from energy_predict.hf_ids import ShippedConfig


@dataclass(frozen=True)
class Architecture:
    """A decoder-only transformer, dense or mixture-of-experts.

    The fields after `max_context` describe the mixtures of experts people serve (all absent by default, so a plain
    model's counts are unchanged): shared experts beside the routed ones, dense layers before or between the MoE
    layers, multi-head latent attention, and weights stored in a quantized checkpoint format. All are flat scalars:
    an Architecture travels as columns of a cell frame (`model/features.py`).
    """

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int  # per head width of the queries and keys (MLA: nope + rope)
    intermediate_size: int  # per expert for MoE
    vocab_size: int
    tie_embeddings: bool = False
    qkv_bias: bool = False
    num_experts: int = 0  # 0: dense
    experts_per_token: int = 0
    qk_norm: bool = False  # OLMoE normalises q and k over the full projection
    max_context: int = 131072  # longest sequence (prompt + output) the model takes: max_position_embeddings
    shared_expert_size: int = 0  # summed width of the shared experts every token of a MoE layer passes through
    dense_layers: int = 0  # layers of a mixture of experts whose MLP is one dense MLP (DeepSeek's first k, Llama-4)
    dense_intermediate_size: int = 0  # their MLP width
    kv_lora_rank: int = 0  # multi-head latent attention (DeepSeek-V2/V3): the latent KV width; 0: ordinary attention
    q_lora_rank: int = 0  # MLA: the queries' low-rank width (0: projected straight from the hidden state)
    qk_rope_head_dim: int = 0  # MLA: the rotary part of each query/key head (cached once per token, not per head)
    v_head_dim: int = 0  # MLA: each value head's width
    weight_format: str = ""  # a checkpoint's quantization_config.quant_method ("": stored at the serving dtype)
    format_bytes_per_param: float = 0.0  # bytes per weight it stores, scales included
    # what the report should say about where this shape came from (a name that disagreed with it); not identity
    note: str = field(default="", compare=False)

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_latent(self) -> bool:
        """Multi-head latent attention: the KV cache holds one latent per token and layer, not K and V per head."""
        return self.kv_lora_rank > 0

    @property
    def moe_layers(self) -> int:
        """Layers whose MLP is routed experts (all of a plain mixture of experts, none of a dense model)."""
        return self.num_layers - self.dense_layers if self.is_moe else 0

    @property
    def dense_mlp_layers(self) -> int:
        """Layers whose MLP is one dense MLP."""
        return self.dense_layers if self.is_moe else self.num_layers

    @property
    def value_head_dim(self) -> int:
        return self.v_head_dim or self.head_dim

    @property
    def attention_matmul_params(self) -> int:
        """Weights of one layer's attention projections, as the token multiplies through them (no bias or norm)."""
        h, heads = self.hidden_size, self.num_heads
        if not self.is_latent:
            return (heads * 2 + self.num_kv_heads * 2) * self.head_dim * h
        q = (h * self.q_lora_rank + self.q_lora_rank * heads * self.head_dim if self.q_lora_rank
             else h * heads * self.head_dim)
        nope = self.head_dim - self.qk_rope_head_dim
        kv = h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank * heads * (nope + self.v_head_dim)
        return q + kv + heads * self.v_head_dim * h

    @property
    def attention_params(self) -> int:
        """Parameters of one layer's attention projections (q, k, v, o; MLA's down and up projections and norms)."""
        if self.is_latent:
            return self.attention_matmul_params + self.q_lora_rank + self.kv_lora_rank
        bias = (self.num_heads + 2 * self.num_kv_heads) * self.head_dim if self.qkv_bias else 0
        norm = (self.num_heads + self.num_kv_heads) * self.head_dim if self.qk_norm else 0
        return self.attention_matmul_params + bias + norm

    def attention_flops_per_pair(self, decode: bool = False) -> float:
        """Score and value FLOPs of one (query, key) pair in one layer.

        MLA: a prefill scores each head over nope + rope and reads v_head_dim values; vLLM's decode works in the
        latent (the up-projections absorbed into the query and output), scoring over kv_lora_rank + rope and reading
        kv_lora_rank values per head.
        """
        if self.is_latent and decode:
            return 2.0 * self.num_heads * (2 * self.kv_lora_rank + self.qk_rope_head_dim)
        return 2.0 * self.num_heads * (self.head_dim + self.value_head_dim)

    @property
    def expert_params(self) -> int:
        """Parameters of one gated MLP (one expert for MoE)."""
        return 3 * self.hidden_size * self.intermediate_size

    @property
    def shared_expert_params(self) -> int:
        """Parameters of one MoE layer's shared experts (0 where it has none)."""
        return 3 * self.hidden_size * self.shared_expert_size

    @property
    def dense_mlp_params(self) -> int:
        """Parameters of one dense layer's MLP."""
        return 3 * self.hidden_size * (self.dense_intermediate_size if self.is_moe else self.intermediate_size)

    @property
    def router_params(self) -> int:
        return self.hidden_size * self.num_experts

    @property
    def routed_expert_params(self) -> int:
        """All routed experts' parameters, in every MoE layer."""
        return self.moe_layers * self.num_experts * self.expert_params

    def mlp_matmul_params(self, experts: int) -> int:
        """MLP weights of all layers a token multiplies through when it passes `experts` routed experts per layer."""
        moe = self.expert_params * experts + self.router_params + self.shared_expert_params
        return self.moe_layers * moe + self.dense_mlp_layers * self.dense_mlp_params

    def _params(self, experts: int) -> int:
        head = 0 if self.tie_embeddings else self.embedding_params
        layers = (self.num_layers * (self.attention_params + 2 * self.hidden_size)
                  + self.mlp_matmul_params(experts))
        return layers + self.embedding_params + head + self.hidden_size

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def total_params(self) -> int:
        """All parameters, as a checkpoint stores them."""
        return self._params(self.num_experts)

    @property
    def active_params(self) -> int:
        """Parameters one token passes through (MoE: only its routed experts), both embeddings counted."""
        return self._params(self.experts_per_token if self.is_moe else 0)

    @property
    def quantized_params(self) -> int:
        """Parameters stored in the checkpoint's weight format (0 where it has none).

        MXFP4 (gpt-oss) quantizes the routed experts only; fp8, AWQ and GPTQ every linear layer of the decoder
        layers; routers, norms, biases, embeddings and the LM head stay in the model dtype.
        """
        if not self.weight_format:
            return 0
        if format_covers(self.weight_format) == "experts":
            return self.routed_expert_params
        return self.num_layers * self.attention_matmul_params + self.mlp_matmul_params(self.num_experts) \
            - self.moe_layers * self.router_params

    def expert_bytes_per_param(self, bytes_per_param: float) -> float:
        """Bytes per routed-expert weight: the checkpoint format's where it has one, else `bytes_per_param`."""
        return self.format_bytes_per_param if self.weight_format else bytes_per_param

    def weight_bytes(self, bytes_per_param: float) -> float:
        """Bytes of all weights: the quantized ones in their format, the rest at `bytes_per_param` (the dtype's)."""
        quantized = self.quantized_params
        return quantized * self.format_bytes_per_param + (self.total_params - quantized) * bytes_per_param

    @property
    def kv_values_per_token_layer(self) -> int:
        """Values one token keeps in one layer's cache: K and V of each KV head, or MLA's latent and rope key."""
        if self.is_latent:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return 2 * self.num_kv_heads * self.head_dim

    def kv_bytes_per_token(self, bytes_per_value: float = 2.0) -> float:
        """KV-cache bytes one token occupies across all layers."""
        return self.num_layers * self.kv_values_per_token_layer * bytes_per_value


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

_MOE_FAMILIES = ("Qwen3", "Mixtral", "OLMoE")  # the families above whose class is a mixture of experts


# Largest plausible value of each config.json dimension (well above any published model): a bigger one is a typo.
_DIM_MAX = {"hidden_size": 1 << 20, "num_hidden_layers": 1 << 12, "num_attention_heads": 1 << 14,
            "num_key_value_heads": 1 << 14, "head_dim": 1 << 14, "intermediate_size": 1 << 22, "vocab_size": 1 << 24,
            "num_local_experts": 1 << 16, "num_experts": 1 << 16, "num_experts_per_tok": 1 << 16,
            "moe_intermediate_size": 1 << 22, "n_routed_experts": 1 << 16, "n_shared_experts": 1 << 10,
            "shared_expert_intermediate_size": 1 << 22, "intermediate_size_mlp": 1 << 22,
            "first_k_dense_replace": 1 << 12, "moe_layer_freq": 1 << 12, "interleave_moe_layer_step": 1 << 12,
            "decoder_sparse_step": 1 << 12, "kv_lora_rank": 1 << 16, "q_lora_rank": 1 << 16,
            "qk_rope_head_dim": 1 << 14, "qk_nope_head_dim": 1 << 14, "v_head_dim": 1 << 14,
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


def _text_part(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The decoder's fields: a multimodal config's `text_config` (Llama-4, ...), else the config itself."""
    text = config.get("text_config")
    if text is None:
        return config, []
    if not isinstance(text, dict):
        raise InputError("config.text_config", f"{json_type(text)}, not an object", _CONFIG_FIX)
    kind = config.get("model_type")
    # the top level keeps what the text model shares with the whole checkpoint
    shared = {k: config[k] for k in ("tie_word_embeddings", "_name_or_path", "quantization_config")
              if k in config and k not in text}
    return {**text, **shared}, [f"model: the config is multimodal ({kind or 'text_config'}); its text model "
                                "(text_config) is costed, the vision encoder and image tokens are not"]


def _moe_layer_count(config: dict[str, Any], layers: int, model_type: str) -> int:
    """How many of `layers` are MoE layers, by the family's own rule (the transformers modelling code's)."""
    listed = config.get("moe_layers")  # Llama-4 lists them
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in listed):
            raise InputError("config.moe_layers", "not a list of layer numbers", _CONFIG_FIX)
        return len({i for i in listed if 0 <= i < layers})
    if config.get("interleave_moe_layer_step") is not None:  # Llama-4: every step-th layer, counting from 1
        step = _dim(config, "interleave_moe_layer_step")
        return len(range(step - 1, layers, step))
    if config.get("first_k_dense_replace") is not None or config.get("moe_layer_freq") is not None:  # DeepSeek
        first = _dim(config, "first_k_dense_replace", 0, low=0)
        freq = _dim(config, "moe_layer_freq", 1)
        return sum(1 for i in range(first, layers) if i % freq == 0)
    # Qwen-MoE: layer i is sparse unless listed as MLP-only, every decoder_sparse_step-th counting from 1
    step = _dim(config, "decoder_sparse_step", 1)
    dense = config.get("mlp_only_layers") or []
    if not isinstance(dense, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in dense):
        raise InputError("config.mlp_only_layers", "not a list of layer numbers", _CONFIG_FIX)
    dense = set(dense)  # a set: a list of a million layer numbers made this loop take hours
    return sum(1 for i in range(layers) if i not in dense and (i + 1) % step == 0)


def _refuse_unmodelled(config: dict[str, Any]) -> None:
    """Shapes whose cost the tool would get wrong are refused, naming the field."""
    kinds = config.get("layer_types")
    if isinstance(kinds, list):
        other = sorted({str(k) for k in kinds} - {"full_attention", "sliding_attention"})
        if other:
            raise InputError("config.layer_types", f"layers of kind {', '.join(other)} are not modelled (only "
                             "full and sliding-window attention): their FLOPs and cache would be counted wrong",
                             "give a decoder whose layers are all attention")
    if config.get("interleave_moe_layer_step") is not None and not str(config.get("model_type", "")).startswith(
            "llama4"):
        raise InputError("config.interleave_moe_layer_step", "interleaved MoE layers outside a llama4 model_type: "
                         "whether they hold a shared expert (Llama-4's do) cannot be told",
                         "give the model_type of the config (llama4_text)")


def _shared_expert_size(config: dict[str, Any], model_type: str, expert_width: int) -> int:
    """Summed width of the shared experts of each MoE layer."""
    if config.get("shared_expert_intermediate_size") is not None:  # Qwen1.5/Qwen2-MoE: one shared MLP
        return _dim(config, "shared_expert_intermediate_size", low=0)
    if config.get("n_shared_experts") is not None:  # DeepSeek: n experts of the routed width
        return _dim(config, "n_shared_experts", low=0) * expert_width
    if model_type.startswith("llama4"):  # Llama-4: one shared MLP of the routed width in every MoE layer
        return expert_width
    return 0


def _deployment_notes(config: dict[str, Any], model_type: str) -> list[str]:
    """What the counts leave out, said where the config holds it."""
    notes = []
    kinds = config.get("layer_types")
    if isinstance(kinds, list) and "sliding_attention" in kinds and config.get("sliding_window"):
        notes.append(f"attention: {kinds.count('sliding_attention')} of {len(kinds)} layers attend to a "
                     f"{config['sliding_window']}-token window; every layer is costed as full attention (KV bytes and "
                     "attention FLOPs are upper bounds at contexts beyond the window)")
    if model_type == "gpt_oss":
        notes.append("attention: gpt-oss's attention sinks (one learned logit per head) are not costed (negligible)")
    if model_type.startswith("llama4") and config.get("attention_chunk_size"):
        notes.append(f"attention: Llama-4's chunked local attention ({config['attention_chunk_size']} tokens, in "
                     "3 of 4 layers) is costed as full attention (an upper bound beyond the chunk)")
    # shared experts are in the fitted pool since Qwen1.5-MoE-A2.7B's H100 cells (2026-12-07); latent attention is
    # not: Moonlight-16B-A3B's cells are kept unfitted (random weights collapse its router onto 6 experts)
    if config.get("kv_lora_rank") is not None:
        notes.append("model: no fitted mixture of experts has latent attention; it is costed by its shape, and a "
                     "transfer's held-out error, measured among mixtures of experts without it, may understate the "
                     "error for this one")
    if config.get("num_nextn_predict_layers"):
        notes.append("model: the multi-token-prediction layer of the checkpoint is not counted (vLLM loads it only "
                     "for MTP speculative decoding)")
    return notes


def from_hf_config(config: dict[str, Any], name: str | None = None) -> Architecture:
    """Build an Architecture from the fields of a Hugging Face `config.json` (InputError naming a bad key).

    Reads the mixtures of experts people serve: shared experts (Qwen-MoE `shared_expert_intermediate_size`,
    DeepSeek `n_shared_experts`, Llama-4), dense-then-MoE layouts (`first_k_dense_replace`/`moe_layer_freq`,
    `interleave_moe_layer_step`, `decoder_sparse_step`/`mlp_only_layers`), multi-head latent attention
    (`kv_lora_rank`), a multimodal config's `text_config` and a checkpoint's `quantization_config`.
    """
    if not isinstance(config, dict):
        raise InputError("model", f"the config is {json_type(config)}, not an object", _CONFIG_FIX)
    given_name = config.get("_name_or_path")
    config, notes = _text_part(config)
    _refuse_unmodelled(config)
    hidden = _dim(config, "hidden_size")
    heads = _dim(config, "num_attention_heads")
    kv_heads = _dim(config, "num_key_value_heads", heads)
    if kv_heads > heads or heads % kv_heads:
        raise InputError("config.num_key_value_heads", f"{kv_heads} does not divide num_attention_heads ({heads})",
                         _CONFIG_FIX)
    latent = config.get("kv_lora_rank") is not None
    if heads > hidden and config.get("head_dim") is None and not latent:
        raise InputError("config.num_attention_heads", f"{heads} heads exceed hidden_size ({hidden})", _CONFIG_FIX)
    model_type = str(config.get("model_type") or "")
    expert_key = next((k for k in ("num_local_experts", "num_experts", "n_routed_experts")
                       if config.get(k) is not None), "num_experts")
    experts = _dim(config, expert_key, 0, low=0)
    per_token = _dim(config, "num_experts_per_tok") if experts else 0
    if per_token > experts:
        raise InputError("config.num_experts_per_tok", f"{per_token} is more than the {experts} experts",
                         _CONFIG_FIX)
    layers = _dim(config, "num_hidden_layers")
    # Qwen-MoE and DeepSeek configs give the experts' width apart from a dense width their MoE layers do not use
    width_key = "moe_intermediate_size" if experts and config.get("moe_intermediate_size") is not None \
        else "intermediate_size"
    width = _dim(config, width_key)
    shape: dict[str, Any] = {}
    if experts:
        moe = _moe_layer_count(config, layers, model_type)
        if moe == 0:
            raise InputError(f"config.{expert_key}", f"{experts} experts, but no layer is a MoE layer by the "
                             "config's layout", _CONFIG_FIX)
        dense_width_key = "intermediate_size_mlp" if model_type.startswith("llama4") else "intermediate_size"
        shape.update(shared_expert_size=_shared_expert_size(config, model_type, width), dense_layers=layers - moe,
                     dense_intermediate_size=_dim(config, dense_width_key) if moe < layers else 0)
    head_dim = _dim(config, "head_dim", hidden // heads)
    if latent:  # MLA: the head_dim a config may carry is not the query/key width
        rope = _dim(config, "qk_rope_head_dim")
        head_dim = _dim(config, "qk_nope_head_dim") + rope
        shape.update(kv_lora_rank=_dim(config, "kv_lora_rank"), q_lora_rank=_dim(config, "q_lora_rank", 0, low=0),
                     qk_rope_head_dim=rope, v_head_dim=_dim(config, "v_head_dim"))
    if config.get("quantization_config") is not None:
        method, per_param = format_bytes_per_param(config["quantization_config"])
        shape.update(weight_format=method, format_bytes_per_param=per_param)
    return Architecture(
        name=name or (given_name if isinstance(given_name, str) and given_name else None) or model_type or "custom",
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=width,
        vocab_size=_dim(config, "vocab_size"),
        tie_embeddings=_flag(config, "tie_word_embeddings", False),
        qkv_bias=_flag(config, "attention_bias", model_type in ("qwen2", "qwen2_moe")),
        num_experts=experts,
        experts_per_token=per_token,
        qk_norm=model_type == "olmoe",
        max_context=_dim(config, "max_position_embeddings", 131072),
        note="; ".join(notes + _deployment_notes(config, model_type)),
        **shape,
    )


def to_hf_config(arch: Architecture, max_position_embeddings: int | None = None) -> dict[str, Any]:
    """A Hugging Face `config.json` for a registry architecture (random-weight calibration).

    ValueError for a shape the registry families cannot write (shared experts, dense layers of a mixture of experts,
    latent attention, a quantized checkpoint): written as a plain family it would build another model.
    """
    deployed = [f for f in ("shared_expert_size", "dense_layers", "kv_lora_rank", "weight_format") if getattr(arch, f)]
    if deployed:
        raise ValueError(f"{arch.name}: {', '.join(deployed)} cannot be written as a registry family's config.json")
    name = next((k for k in _HF_FAMILY if arch.name.startswith(k)), None)
    family = _HF_FAMILY[name] if name else None
    if family is None and arch.is_moe:  # as Llama it would build a dense model that ignores num_experts
        raise ValueError(f"{arch.name}: a mixture of experts of no registry family cannot be written as Llama's "
                         "config.json")
    if name is not None and (name in _MOE_FAMILIES) != arch.is_moe:
        # a dense shape named Qwen3 would build Qwen3-MoE with that class's default experts; a mixture of experts
        # named Llama or Mistral a dense model that ignores num_experts
        kind = "a dense model" if not arch.is_moe else "a mixture of experts"
        raise ValueError(f"{arch.name}: {kind} cannot be written as the {name} family's config.json "
                         f"({family[0]} is {'a mixture of experts' if name in _MOE_FAMILIES else 'dense'})")
    architecture, model_type, extra = family or _HF_FAMILY["Llama"]
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


def calibration_config(arch: Architecture, max_position_embeddings: int | None = None) -> dict[str, Any]:
    """The `config.json` a random-weight engine is built from: a registry family's, or a shipped id's own.

    A shipped Hugging Face id (Qwen-MoE, DeepSeek-V3-shaped, ...) is built from its own config.json, whose fields
    the engine's modelling code reads (shared experts, latent attention, dense-then-MoE layers); its context is
    raised to `max_position_embeddings` where the cells need more. ValueError for a shape neither can write.
    """
    try:
        return to_hf_config(arch, max_position_embeddings)
    except ValueError:
        from energy_predict import hf_ids

        shipped = hf_ids.shipped_config(arch.name)
        if shipped is None:
            raise
        config = _shipped_json(shipped)
        if config.get("quantization_config") is not None:
            raise ValueError(f"{arch.name}: a quantized checkpoint cannot be built with random weights here") from None
        if max_position_embeddings and max_position_embeddings > int(config.get("max_position_embeddings") or 0):
            config["max_position_embeddings"] = max_position_embeddings
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
    from energy_predict import hf_ids

    shipped = _shipped_id(spec)
    if shipped is not None:
        return shipped
    if hf_ids.looks_like_hf_id(spec):
        raise hf_ids.unknown_id(spec)
    known = ", ".join(REGISTRY)
    shown = spec if len(spec) <= 100 else spec[:100] + "..."
    raise InputError("model", f"unknown model {shown!r}", f"use one of {known}, or a path to a config.json")


def known_architecture(name: str) -> Architecture:
    """A measured model by the name a fitted model's cells carry: a registry name or a shipped Hugging Face id.

    Never a path: a name the card stores must not be read from whatever file the working directory holds.

    Raises:
        KeyError: neither a registry name nor a shipped id.
    """
    if name in REGISTRY:
        return REGISTRY[name]
    shipped = _shipped_id(name)
    if shipped is None:
        raise KeyError(name)
    return shipped


def _shipped_id(spec: str) -> Architecture | None:
    """A Hugging Face id's architecture from the config.json that ships for it (hf_ids.py), identified by shape."""
    from energy_predict import hf_ids

    shipped = hf_ids.shipped_config(spec)
    return None if shipped is None else _identified(_shipped_architecture(shipped))


def _identified(arch: Architecture) -> Architecture:
    """A config.json's model is identified by its shape (the fields that set its cost), never by its name.

    A config.json of a registry model is that model, whatever its folder is called: same shape, same cells. One of
    another shape keeps its own name unless that name is a registry model's (a folder called `Llama-3.1-8B` holding
    a 2-layer config): then it is renamed, so that it is never answered with that model's measurements, and noted.
    """
    same_shape = next((known for known in REGISTRY.values() if replace(known, name=arch.name) == arch), None)
    if same_shape is not None:
        return same_shape
    shipped = _shipped_shapes().get(_shape(arch))  # a shipped id's shape (Qwen1.5-MoE-A2.7B: measured by its id)
    if shipped is not None:
        return shipped
    claimed = {k.lower(): k for k in REGISTRY}.get(arch.name.lower())
    if claimed is None:
        return arch
    renamed = (f"model: the config.json is named {claimed} but is not {claimed}'s shape; it is costed as its own "
               "shape, not from that model's measurements")
    return replace(arch, name=f"{arch.name} (config.json)", note="; ".join(n for n in (renamed, arch.note) if n))


def _shipped_json(shipped: ShippedConfig) -> dict[str, Any]:
    """A shipped Hugging Face id's config.json."""
    return read_json(shipped.path, "model", "reinstall energy-predict")


def _shipped_architecture(shipped: ShippedConfig) -> Architecture:
    """A shipped id's architecture as its config.json reads, named by the id (not yet identified by shape)."""
    return from_hf_config(_shipped_json(shipped), name=shipped.hf_id)


def _shape(arch: Architecture) -> Architecture:
    """What sets an architecture's cost: everything but its name and notes."""
    return replace(arch, name="", note="")


@functools.lru_cache(maxsize=1)
def _shipped_shapes() -> dict[Architecture, Architecture]:
    """Each shipped Hugging Face id's architecture by its shape (ids whose config is refused are left out)."""
    from energy_predict import hf_ids

    out: dict[Architecture, Architecture] = {}
    for hf_id in hf_ids.shipped_ids():
        try:
            arch = _shipped_architecture(hf_ids.shipped_config(hf_id))
        except EnergyPredictError:
            continue
        out.setdefault(_shape(arch), arch)
    return out


def scaled(arch: Architecture, **changes: Any) -> Architecture:
    """A copy with some dimensions changed (tests and what-if studies)."""
    return replace(arch, **changes)

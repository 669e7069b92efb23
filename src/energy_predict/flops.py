"""FLOPs and bytes of transformer inference, per request and per phase.

Conventions: FLOPs count matrix products only (2 per multiply-add), as `torch.utils.flop_counter` does.
Prefill over `i` tokens produces the first output token; each of the remaining `o - 1` output tokens is a
decode step whose new token attends to its whole context (input plus the tokens generated so far).
The LM head runs on one position per sequence in prefill (as `generate` does) and on every decode step.
Every function takes scalars or numpy arrays. Bytes per weight and per KV value default to the precision every
calibration ran (`energy_predict.precision`); a deployment passes its own (`Serving.precision`).
"""

from __future__ import annotations

import numpy as np

from energy_predict.architectures import Architecture
from energy_predict.precision import KEY_DTYPE, PRECISIONS

_MEASURED = PRECISIONS[KEY_DTYPE]


def _check_nonnegative(**values: object) -> None:
    for name, value in values.items():
        if np.any(np.asarray(value) < 0):
            raise ValueError(f"{name} must be >= 0")


def matmul_params_per_token(arch: Architecture) -> int:
    """Weights one token multiplies through in the layers (MoE: routed and shared experts, router; dense layers)."""
    return arch.num_layers * arch.attention_matmul_params + arch.mlp_matmul_params(arch.experts_per_token)


def lm_head_flops(arch: Architecture) -> int:
    """FLOPs of the output projection for one position."""
    return 2 * arch.vocab_size * arch.hidden_size


def attention_flops(arch: Architecture, key_pairs, decode: bool = False):
    """Score and value products over `key_pairs` (query, key) pairs, all layers (`decode`: a decode step's form)."""
    return arch.num_layers * arch.attention_flops_per_pair(decode) * np.asarray(key_pairs, dtype=float)


def prefill_flops(arch: Architecture, input_tokens, causal: bool = True, cached_tokens=0):
    """FLOPs of one sequence's prefill over `input_tokens` tokens.

    `causal=True` counts the (query, key) pairs a causal kernel computes, i(i+1)/2; `causal=False`
    counts the full i x i score matrix, which is what an unmasked kernel (and torch's flop counter) sees.
    `cached_tokens`: a prompt prefix whose KV is already cached (prefix caching): only the `i - c` tokens after it
    are computed, each attending to the whole prefix and the computed tokens before it.
    """
    _check_nonnegative(input_tokens=input_tokens, cached_tokens=cached_tokens)
    i = np.asarray(input_tokens, dtype=float)
    c = np.asarray(cached_tokens, dtype=float)
    if np.any(c > i):
        raise ValueError("cached_tokens must be <= input_tokens")
    pairs = prefill_pairs(i, c) if causal else (i - c) * i
    return 2.0 * matmul_params_per_token(arch) * (i - c) + attention_flops(arch, pairs) + lm_head_flops(arch) * (i > 0)


def prefill_pairs(input_tokens, cached_tokens=0):
    """(query, key) pairs a causal prefill computes, i(i+1)/2 - c(c+1)/2.

    The prompt's tokens after a cached prefix of c, each attending to every token before it and itself.
    """
    i = np.asarray(input_tokens, dtype=float)
    c = np.asarray(cached_tokens, dtype=float)
    return i * (i + 1) / 2 - c * (c + 1) / 2


def decode_step_flops(arch: Architecture, context_tokens):
    """FLOPs of one decode step for one sequence whose new token sees `context_tokens` tokens (itself included)."""
    _check_nonnegative(context_tokens=context_tokens)
    c = np.asarray(context_tokens, dtype=float)
    return 2.0 * matmul_params_per_token(arch) + attention_flops(arch, c, decode=True) + lm_head_flops(arch)


def decode_contexts(input_tokens, output_tokens) -> tuple[np.ndarray, np.ndarray]:
    """(steps, summed context) of one request's decode: `o - 1` steps with contexts i+1 ... i+o-1."""
    i = np.asarray(input_tokens, dtype=float)
    steps = np.maximum(np.asarray(output_tokens, dtype=float) - 1, 0)
    return steps, steps * i + steps * (steps + 1) / 2


def decode_flops(arch: Architecture, input_tokens, output_tokens):
    """FLOPs of all decode steps of one request: `o - 1` steps with contexts i+1 ... i+o-1."""
    _check_nonnegative(input_tokens=input_tokens, output_tokens=output_tokens)
    steps, context_sum = decode_contexts(input_tokens, output_tokens)
    per_step = 2.0 * matmul_params_per_token(arch) + lm_head_flops(arch)
    return per_step * steps + attention_flops(arch, context_sum, decode=True)


def request_flops(arch: Architecture, input_tokens, output_tokens, cached_tokens=0):
    """FLOPs of one request: prefill (of the prompt after a cached prefix of `cached_tokens`) plus decode."""
    return (prefill_flops(arch, input_tokens, cached_tokens=cached_tokens)
            + decode_flops(arch, input_tokens, output_tokens))


def weight_bytes(arch: Architecture, bytes_per_param: float = _MEASURED.weight_bytes_per_param, batch_size=1):
    """Weight bytes one forward pass reads. MoE: the experts a batch of `batch_size` tokens touches.

    `bytes_per_param`: the serving precision's; weights a quantized checkpoint stores in its format count at that
    format's bytes (`Architecture.weight_bytes`).
    """
    if not arch.is_moe:
        return float(arch.weight_bytes(bytes_per_param))
    b = np.asarray(batch_size, dtype=float)
    touched = arch.num_experts * (1 - (1 - arch.experts_per_token / arch.num_experts) ** b)
    per_expert = arch.moe_layers * arch.expert_params * arch.expert_bytes_per_param(bytes_per_param)
    dense = arch.weight_bytes(bytes_per_param) - arch.num_experts * per_expert
    return dense + per_expert * touched


def prefill_bytes(arch: Architecture, batch_size, input_tokens,
                  bytes_per_param: float = _MEASURED.weight_bytes_per_param, cached_tokens=0,
                  kv_bytes_per_value: float = _MEASURED.kv_bytes_per_value):
    """Bytes a batch's prefill moves: weights once, the KV cache of the computed tokens written once."""
    b = np.asarray(batch_size, dtype=float)
    tokens = b * (np.asarray(input_tokens, dtype=float) - np.asarray(cached_tokens, dtype=float))
    return weight_bytes(arch, bytes_per_param, tokens) + tokens * arch.kv_bytes_per_token(kv_bytes_per_value)


def decode_step_bytes(arch: Architecture, batch_size, context_tokens,
                      bytes_per_param: float = _MEASURED.weight_bytes_per_param,
                      kv_bytes_per_value: float = _MEASURED.kv_bytes_per_value):
    """Bytes one decode step of `batch_size` sequences moves: weights, plus every sequence's KV cache."""
    b = np.asarray(batch_size, dtype=float)
    kv = b * np.asarray(context_tokens, dtype=float) * arch.kv_bytes_per_token(kv_bytes_per_value)
    return weight_bytes(arch, bytes_per_param, b) + kv

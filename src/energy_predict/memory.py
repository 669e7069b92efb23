"""Physical feasibility: does a deployment fit in its GPUs' memory, and how large a batch can it hold?

Per GPU of a tensor-parallel group: its share of the weights, a runtime reserve (activations, CUDA graphs,
allocator, NCCL buffers) and its share of the KV cache must fit in the memory the engine may use (vLLM's
`gpu_memory_utilization`, 0.9 by default). A prompt longer than the model's context is refused.
"""

from __future__ import annotations

import numpy as np

from energy_predict.architectures import Architecture
from energy_predict.errors import EnergyPredictError
from energy_predict.precision import PRECISIONS
from energy_predict.serving import Deployment

MEMORY_FRACTION = 0.9  # vLLM's default gpu_memory_utilization; HF keeps a similar margin for activations
RUNTIME_RESERVE_BYTES = 4 * 2**30  # activations at the token budget, CUDA graphs, allocator slack (per GPU)


def _draft(dep: Deployment) -> Architecture | None:
    """The draft model of speculative decoding, which lives beside the target (weights and KV cache)."""
    return dep.serving.speculative.arch if dep.serving.speculative else None


def weight_bytes_per_gpu(dep: Deployment) -> float:
    """Each GPU's share of the weights (a speculative draft's too) under tensor parallelism."""
    draft, bpp = _draft(dep), dep.serving.precision.weight_bytes_per_param
    weights = dep.arch.weight_bytes(bpp) + (draft.weight_bytes(bpp) if draft else 0.0)
    return weights / dep.serving.tensor_parallel


def usable_bytes_per_gpu(dep: Deployment) -> float:
    """What an engine may use of each GPU beside its runtime reserve."""
    return dep.gpu.memory_bytes * MEMORY_FRACTION - RUNTIME_RESERVE_BYTES


def kv_cache_bytes_per_gpu(dep: Deployment) -> float:
    """Memory left for the KV cache on each GPU of the engine (may be <= 0: the weights alone do not fit)."""
    return usable_bytes_per_gpu(dep) - weight_bytes_per_gpu(dep)


def kv_token_capacity(dep: Deployment) -> int:
    """KV-cache tokens one engine holds (summed over its GPUs: each holds 1/TP of every token's KV).

    Under speculative decoding each token keeps the draft's KV too, in the same precision. A latent-attention
    model's cache (one latent per token and layer, no heads to split) is whole on every GPU of the group.
    """
    draft, tp = _draft(dep), dep.serving.tensor_parallel
    kv = dep.serving.precision.kv_bytes_per_value
    per_gpu = sum(a.kv_bytes_per_token(kv) / (1 if a.is_latent else tp) for a in (dep.arch, draft) if a is not None)
    return int(max(kv_cache_bytes_per_gpu(dep), 0.0) // per_gpu)


def max_batch_that_fits(dep: Deployment, input_tokens, output_tokens) -> np.ndarray:
    """Largest batch of equal requests whose KV cache fits (0 where even one does not).

    A beam of width w keeps w sequences of each request.
    """
    tokens = (np.asarray(input_tokens, float) + np.asarray(output_tokens, float)) * dep.serving.beam_width
    return np.floor(kv_token_capacity(dep) / np.maximum(tokens, 1.0)).astype(np.int64)


def kv_tokens_held_per_sequence(input_tokens, output_tokens, weight=None) -> float:
    """Mean KV tokens a running sequence holds over a continuously batched workload's life.

    A request of (i, o) runs o decode steps holding i + 1 .. i + o tokens, i + (o + 1) / 2 on average; the
    time-weighted mean over requests (each counts for the o steps it runs) is what a full engine holds per running
    sequence once sequences grow and finish at different steps. Equal to i + o only at the step all finish at once.
    """
    i = np.asarray(input_tokens, float)
    o = np.maximum(np.asarray(output_tokens, float), 1.0)
    w = np.ones_like(i * o) if weight is None else np.asarray(weight, float)
    steps = w * o
    if not steps.sum() > 0:
        raise ValueError("kv_tokens_held_per_sequence needs at least one request with a positive weight")
    return float((steps * (i + (o + 1) / 2)).sum() / steps.sum())


def running_sequences_that_fit(capacity_tokens: float, input_tokens, output_tokens, weight=None,
                               beam_width: int = 1) -> int:
    """Sequences a continuous-batching engine keeps running when its KV cache is the limit (pure).

    vLLM admits requests while KV blocks are free and preempts when they run out, so over a workload's life its
    KV cache holds running sequences at every stage of their growth: capacity / the mean KV a running sequence
    holds (`kv_tokens_held_per_sequence`), not capacity / every sequence's final length (what a static batch,
    started and ended together, must fit). A beam of width w keeps w sequences of each request.
    """
    held = kv_tokens_held_per_sequence(input_tokens, output_tokens, weight) * beam_width
    return int(np.floor(max(capacity_tokens, 0.0) / max(held, 1.0)))


def _fixes(dep: Deployment) -> str:
    """What would let the deployment fit, each only where it would.

    A wider group (the narrowest whose weight shares fit, where the weights do not), a narrower beam, a smaller
    draft, a narrower precision whose weights would fit, a bigger GPU.
    """
    tp, usable = dep.serving.tensor_parallel, usable_bytes_per_gpu(dep)
    weights = weight_bytes_per_gpu(dep) * tp
    degree = 2 * tp
    while weights / degree >= usable and degree < 1024:
        degree *= 2
    fixes = [f"tensor_parallel {degree} (serving.tensor_parallel, with hardware.count a multiple of it)"]
    if dep.serving.beam_width > 1:
        fixes.insert(0, f"a narrower beam (serving.beam_width {dep.serving.beam_width} keeps that many sequences "
                        "of each request)")
    if dep.serving.speculative:
        fixes.insert(0, f"a smaller draft than {dep.serving.speculative.draft} (its weights and KV cache sit beside "
                        "the target's), or no speculation")
    own = dep.serving.precision.weight_bytes_per_param
    draft = _draft(dep)
    fixes += [f"{p.name} weights (serving.quantization: \"{p.name}\")" for p in PRECISIONS.values()
              if p.field == "quantization" and p.weight_bytes_per_param < own
              and sum(a.weight_bytes(p.weight_bytes_per_param) for a in (dep.arch, draft) if a) / tp < usable]
    fixes.append("a GPU with more memory (hardware.gpu)")
    return "; or ".join(fixes)


def heads_split(arch: Architecture, tp: int) -> bool:
    """Whether vLLM can split the attention over `tp` GPUs.

    Each GPU needs whole query heads, and whole KV heads (or copies of one, where the group is wider than the KV
    heads).
    """
    kv = arch.num_kv_heads
    return not arch.num_heads % tp and not (kv % tp if tp <= kv else tp % kv)


def check_feasible(dep: Deployment, input_tokens, output_tokens) -> None:
    """Raise EnergyPredictError, naming the fix, where the deployment cannot serve these requests at all."""
    gib = 2**30
    tp, heads, kv = dep.serving.tensor_parallel, dep.arch.num_heads, dep.arch.num_kv_heads
    if not heads_split(dep.arch, tp):
        fits = [d for d in (1, 2, 4, 8) if heads_split(dep.arch, d)]
        raise EnergyPredictError(
            f"serving.tensor_parallel: {dep.arch.name}'s {heads} attention heads ({kv} KV heads) do not split over "
            f"{tp} GPUs, and vLLM refuses such a group; use tensor_parallel {', '.join(map(str, fits))}")
    weights, usable = weight_bytes_per_gpu(dep), usable_bytes_per_gpu(dep)
    if weights >= usable:
        raise EnergyPredictError(
            f"hardware: {dep.arch.name} needs {weights / gib:.0f} GiB of weights per GPU at tensor_parallel "
            f"{dep.serving.tensor_parallel}, more than the {usable / gib:.0f} GiB a {dep.gpu.name} can give an "
            f"engine; use {_fixes(dep)}")
    i = np.asarray(input_tokens, float)
    o = np.asarray(output_tokens, float)
    if i.size == 0:
        return
    context = dep.arch.max_context
    longest = float((i + o).max())
    if longest > context:
        raise EnergyPredictError(
            f"workload.tokens: a request of {longest:.0f} tokens (input + output) exceeds {dep.arch.name}'s context "
            f"of {context} tokens; drop or truncate those requests")
    if float(max_batch_that_fits(dep, longest, 0)) < 1:
        raise EnergyPredictError(
            f"hardware: the KV cache of one {longest:.0f}-token request does not fit beside the weights of "
            f"{dep.arch.name} on {dep.gpu.name} at tensor_parallel {dep.serving.tensor_parallel}; use {_fixes(dep)}")

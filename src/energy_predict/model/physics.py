"""A step model whose terms are physical quantities (issue 25): numpy only, pure functions.

One engine step on each GPU of a tensor-parallel group of `tp`:

    t_mem   = dense weight bytes / (e_w BW) + routed-expert bytes / (e_e BW) + KV bytes / (e_kv BW)
    t_comp  = dense linear FLOPs / (e_l R) + expert FLOPs / (e_el R) + attention FLOPs / (e_a R)
    t_comm  = all-reduces x (op_s + bytes moved x byte_s)                    (tensor parallelism only)
    t_gpu   = smax_p(t_mem, t_comp) + gpu_layer_s x layers + t_comm          (the GPU's own busy time)
    t_host  = step_s + layer_s x layers + sequence_s x sequences            (scheduler, launches, sampling)
    t       = smax_q(t_host, t_gpu),   smax_p(a, b) = (a^p + b^p)^(1/p), between max(a, b) and a + b

BW and R are the datasheet peaks (memory bandwidth; dense FLOP/s of the compute dtype), the e's achieved fractions
of them in [0, 1], so a step is never faster than its roofline bound. Bytes and FLOPs are counted per GPU (the
weights, heads and FLOPs split over the group; the KV heads over min(tp, KV heads)). A mixture of experts reads
only the experts its tokens touch: E (1 - (1 - k/E)^tokens) per layer, expected over uniform routing.

Mean power of a step is the loaded-engine idle plus what each activity draws while it runs, at most the limit:

    P = idle + busy_w x t_gpu / t + memory_w x t_mem / t + compute_w x t_comp / t + comm_w x t_comm / t

so E = P t is linear in the powers; a demand above the limit is folded under it (`fitted.soft_power_w`).
A measured deployment may depart from the shared fractions, constants and powers by bounded factors
(`memory_scale`, `compute_scale`, `host_scale`, `power_scale`); a fraction never exceeds 1 with them.
A batch of B equal requests (input I, output O) is its prefill, in chunks of at most the token budget (each chunk
reads the weights once), then O - 1 decode steps of B sequences whose context grows from I + 1 to I + O - 1,
summed by the midpoint rule over `DECODE_NODES` contexts (the step is smooth in the context).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from energy_predict.architectures import Architecture
from energy_predict.baselines import PhaseEstimate
from energy_predict.fitted import soft_power_w

DECODE_NODES = 8
ACTIVATION_BYTES = 2.0  # bf16 activations and KV cache, also under fp8 weights
HF_TOKEN_BUDGET = 1 << 40  # HF generate prefills the whole batch in one forward pass


# ---------------------------------------------------------------- work: bytes, FLOPs and launches of a step

def expected_experts(arch: Architecture, tokens) -> np.ndarray:
    """Distinct experts per layer that `tokens` tokens touch, each choosing k of E (uniform routing, expected)."""
    t = np.asarray(tokens, float)
    if not arch.is_moe:
        return np.zeros_like(t)
    return arch.num_experts * (1.0 - (1.0 - arch.experts_per_token / arch.num_experts) ** t)


def dense_read_params(arch: Architecture) -> float:
    """Parameters every forward pass reads outside the routed experts.

    The input embedding is gathered, not read; a tied embedding is read as the LM head.
    """
    experts = arch.num_layers * arch.expert_params * arch.num_experts if arch.is_moe else 0
    embedding = 0 if arch.tie_embeddings else arch.embedding_params
    return float(arch.total_params - experts - embedding)


def dense_flops_per_token(arch: Architecture) -> float:
    """Linear-layer FLOPs of one token outside the routed experts, LM head excluded."""
    qkvo = (arch.num_heads * 2 + arch.num_kv_heads * 2) * arch.head_dim * arch.hidden_size
    mlp = 0 if arch.is_moe else arch.expert_params
    return 2.0 * arch.num_layers * (qkvo + mlp + arch.router_params)


def expert_flops_per_token(arch: Architecture) -> float:
    """Routed-expert FLOPs of one token (0 for a dense model)."""
    return 2.0 * arch.num_layers * arch.expert_params * arch.experts_per_token if arch.is_moe else 0.0


def lm_head_flops(arch: Architecture) -> float:
    """FLOPs of the output projection for one position."""
    return 2.0 * arch.vocab_size * arch.hidden_size


def logit_bytes_per_sequence(arch: Architecture) -> float:
    """Bytes of one position's logits: fp32, written by the LM head and read by the sampler.

    Vocabulary-parallel heads gather them on one GPU, so they are not split over a tensor-parallel group.
    """
    return 2.0 * 4.0 * arch.vocab_size


def attention_flops_per_pair(arch: Architecture) -> float:
    """Score and value products of one (query, key) pair, all layers."""
    return 4.0 * arch.num_layers * arch.num_heads * arch.head_dim


@dataclass(frozen=True)
class StepWork:
    """The work of one step on one GPU of the group, and how many such steps (`count`). Arrays broadcast."""

    count: np.ndarray
    dense_bytes: np.ndarray
    expert_bytes: np.ndarray
    kv_bytes: np.ndarray
    dense_flops: np.ndarray
    expert_flops: np.ndarray
    attention_flops: np.ndarray
    layers: np.ndarray
    logit_bytes: np.ndarray  # fp32 logits the LM head writes and the sampler reads
    sequences: np.ndarray  # decoding sequences (0 in a prefill chunk)
    prefill: np.ndarray  # 1.0 for a prefill chunk, 0.0 for a decode step
    allreduce_ops: np.ndarray
    allreduce_bytes: np.ndarray  # bytes each all-reduce moves per GPU (ring: 2 (tp - 1) / tp of the buffer)

    def stack(self) -> np.ndarray:
        return np.stack([np.broadcast_to(getattr(self, f.name), self.count.shape) for f in fields(self)])


def _allreduce(arch: Architecture, tp: int, tokens) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(tokens, float)
    if tp <= 1:
        return np.zeros_like(t), np.zeros_like(t)
    buffer = t * arch.hidden_size * ACTIVATION_BYTES
    return np.full_like(t, 2.0 * arch.num_layers), buffer * 2.0 * (tp - 1) / tp


def decode_work(arch: Architecture, tp: int, bytes_per_param: float, sequences, context_tokens, count=1.0
                ) -> StepWork:
    """One decode step of `sequences` sequences holding `context_tokens` context tokens in all."""
    n = np.asarray(sequences, float)
    c = np.asarray(context_tokens, float)
    kv_split = min(tp, arch.num_kv_heads)
    ops, moved = _allreduce(arch, tp, n)
    experts = expected_experts(arch, n) * arch.num_layers * arch.expert_params
    return StepWork(
        count=np.broadcast_to(np.asarray(count, float), np.broadcast(n, c).shape).copy(),
        dense_bytes=np.full_like(n, dense_read_params(arch) * bytes_per_param / tp),
        expert_bytes=experts * bytes_per_param / tp,
        kv_bytes=c * arch.kv_bytes_per_token(ACTIVATION_BYTES) / kv_split,
        dense_flops=n * (dense_flops_per_token(arch) + lm_head_flops(arch)) / tp,
        expert_flops=n * expert_flops_per_token(arch) / tp,
        attention_flops=c * attention_flops_per_pair(arch) / tp, logit_bytes=n * logit_bytes_per_sequence(arch),
        layers=np.full_like(n, float(arch.num_layers)), sequences=n, prefill=np.zeros_like(n),
        allreduce_ops=ops, allreduce_bytes=moved)


def prefill_work(arch: Architecture, tp: int, bytes_per_param: float, batch_size, input_tokens, token_budget,
                 cached_tokens=0) -> StepWork:
    """A batch's prefill as `count` equal chunks of at most `token_budget` tokens, each reading the weights once.

    The chunks share the batch's tokens, attention pairs and LM-head positions (one per sequence) equally.
    """
    b = np.asarray(batch_size, float)
    i = np.asarray(input_tokens, float)
    cached = np.asarray(cached_tokens, float)
    tokens = b * (i - cached)
    chunks = np.maximum(np.ceil(tokens / float(token_budget)), 1.0)
    per_chunk = tokens / chunks
    pairs = b * (i * (i + 1) / 2 - cached * (cached + 1) / 2)
    kv_split = min(tp, arch.num_kv_heads)
    ops, moved = _allreduce(arch, tp, per_chunk)
    experts = expected_experts(arch, per_chunk) * arch.num_layers * arch.expert_params
    return StepWork(
        count=chunks, dense_bytes=np.full_like(per_chunk, dense_read_params(arch) * bytes_per_param / tp),
        expert_bytes=experts * bytes_per_param / tp,
        # the chunk's KV written once, the cached prefix read by its attention
        kv_bytes=(per_chunk + b * cached / chunks) * arch.kv_bytes_per_token(ACTIVATION_BYTES) / kv_split,
        dense_flops=(per_chunk * dense_flops_per_token(arch) + b / chunks * lm_head_flops(arch)) / tp,
        expert_flops=per_chunk * expert_flops_per_token(arch) / tp,
        attention_flops=pairs / chunks * attention_flops_per_pair(arch) / tp,
        logit_bytes=b / chunks * logit_bytes_per_sequence(arch),
        layers=np.full_like(per_chunk, float(arch.num_layers)), sequences=np.zeros_like(per_chunk),
        prefill=np.ones_like(per_chunk), allreduce_ops=ops, allreduce_bytes=moved)


def mixed_work(arch: Architecture, tp: int, bytes_per_param: float, sequences, context_tokens, prefill_tokens,
               prefill_pairs, prefill_sequences) -> StepWork:
    """One continuous-batching step: decoding sequences and a prefill chunk together.

    `sequences` decode over `context_tokens` in all; the chunk brings `prefill_tokens` new tokens (`prefill_pairs`
    attention pairs, `prefill_sequences` finishing their prompt). The weights are read once for both.
    """
    n = np.atleast_1d(np.asarray(sequences, float))
    tokens = np.asarray(prefill_tokens, float)
    dec = decode_work(arch, tp, bytes_per_param, n + tokens, context_tokens)
    kv_split = min(tp, arch.num_kv_heads)
    return replace(
        dec, sequences=n,
        kv_bytes=dec.kv_bytes + tokens * arch.kv_bytes_per_token(ACTIVATION_BYTES) / kv_split,
        dense_flops=((n + tokens) * dense_flops_per_token(arch) + (n + np.asarray(prefill_sequences, float))
                     * lm_head_flops(arch)) / tp,
        attention_flops=dec.attention_flops + np.asarray(prefill_pairs, float) * attention_flops_per_pair(arch) / tp,
        logit_bytes=(n + np.asarray(prefill_sequences, float)) * logit_bytes_per_sequence(arch))


def decode_nodes(input_tokens, output_tokens, nodes: int = DECODE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """(context per sequence at each node, steps each node stands for): shape (cells, nodes), midpoint rule.

    Decode step j (1 .. O - 1) attends over I + j tokens; node k stands for steps/nodes steps at the mean context of
    its share.
    """
    i = np.asarray(input_tokens, float)[..., None]
    steps = np.maximum(np.asarray(output_tokens, float) - 1, 0)[..., None]
    k = (np.arange(nodes) + 0.5) / nodes
    return i + 0.5 + k * steps, np.broadcast_to(steps / nodes, np.broadcast(i, k).shape)


def batch_work(arch: Architecture, tp: int, bytes_per_param: float, batch_size, input_tokens, output_tokens,
               token_budget, cached_tokens=0, nodes: int = DECODE_NODES) -> StepWork:
    """Prefill (column 0) and decode nodes (columns 1..nodes) of batches of equal requests: shape (cells, 1 + nodes)."""
    b, i, o, c = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float))
                                       for v in (batch_size, input_tokens, output_tokens, cached_tokens)))
    pre = prefill_work(arch, tp, bytes_per_param, b, i, token_budget, c)
    ctx, count = decode_nodes(i, o, nodes)
    dec = decode_work(arch, tp, bytes_per_param, b[:, None], b[:, None] * ctx, count)
    return StepWork(*(np.concatenate([np.atleast_2d(getattr(pre, f.name)).reshape(len(b), 1),
                                      np.broadcast_to(getattr(dec, f.name), ctx.shape)], axis=1)
                      for f in fields(StepWork)))


# ---------------------------------------------------------------- the parameters of one deployment

@dataclass(frozen=True)
class StepParams:
    """What one deployment's step costs rest on (floats, or arrays aligned with cells while fitting).

    Datasheet: `bandwidth_bps`, `flops_per_s` (dense peak of the compute dtype), `tdp_w`. Achieved fractions of
    them (`eff_*`, in (0, 1]). Seconds: host work per step, per layer (launches from the host) and per sequence;
    the GPU's own gaps per layer (kernel boundaries, also inside CUDA graphs); all-reduce latency and time per moved
    byte. Exponents: `overlap` (memory with compute on the GPU), `host_overlap` (the host's work with the GPU's).
    Watts: loaded idle, and what a busy GPU, memory traffic, compute and all-reduces (their kernels spin while they
    wait on the other GPUs) add while they run.
    """

    bandwidth_bps: float
    flops_per_s: float
    tdp_w: float
    eff_weights: float
    eff_experts: float
    eff_kv: float
    eff_linear: float
    eff_expert_linear: float
    eff_attention: float
    step_s: float
    layer_s: float
    sequence_s: float
    prefill_step_s: float
    prefill_layer_s: float
    gpu_layer_s: float
    allreduce_op_s: float
    allreduce_byte_s: float
    overlap: float
    host_overlap: float
    idle_w: float
    busy_w: float
    memory_w: float
    compute_w: float
    comm_w: float
    # one deployment's departure from the shared fractions and constants (1: none), bounded in the fit
    memory_scale: float = 1.0
    compute_scale: float = 1.0
    host_scale: float = 1.0
    power_scale: float = 1.0


@dataclass(frozen=True)
class StepTimes:
    """Seconds of one step by part (arrays like the work)."""

    memory_s: np.ndarray
    compute_s: np.ndarray
    gpu_s: np.ndarray  # the GPU's busy time: memory and compute overlapped, its gaps, the all-reduces
    host_s: np.ndarray
    comm_s: np.ndarray
    total_s: np.ndarray


def smax(a, b, p):
    """(a^p + b^p)^(1/p): between max(a, b) (p -> inf) and a + b (p = 1); exact at a or b = 0."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    hi = np.maximum(np.maximum(a, b), 1e-30)
    return hi * ((a / hi) ** p + (b / hi) ** p) ** (1.0 / p)


def step_times(w: StepWork, p: StepParams) -> StepTimes:
    """Each part of a step's time on one GPU (seconds).

    The host prepares and launches while the GPU runs (vLLM schedules the next step during this one; eager
    launches run ahead of the kernels), so the step takes smax(host, GPU), not their sum.
    """
    moved = w.dense_bytes + w.expert_bytes + w.kv_bytes + w.logit_bytes
    mem = np.maximum(p.memory_scale * (w.dense_bytes / p.eff_weights + w.expert_bytes / p.eff_experts
                                       + (w.kv_bytes + w.logit_bytes) / p.eff_kv), moved) / p.bandwidth_bps
    work = w.dense_flops + w.expert_flops + w.attention_flops
    comp = np.maximum(p.compute_scale * (w.dense_flops / p.eff_linear + w.expert_flops / p.eff_expert_linear
                                         + w.attention_flops / p.eff_attention), work) / p.flops_per_s
    comm = w.allreduce_ops * (p.allreduce_op_s + w.allreduce_bytes * p.allreduce_byte_s)
    gpu = smax(mem, comp, p.overlap) + p.gpu_layer_s * w.layers + comm
    host = p.host_scale * np.where(w.prefill > 0, p.prefill_step_s + p.prefill_layer_s * w.layers,
                                   p.step_s + p.layer_s * w.layers + p.sequence_s * w.sequences)
    return StepTimes(mem, comp, gpu, host, comm, smax(host, gpu, p.host_overlap))


def step_power_w(t: StepTimes, p: StepParams) -> np.ndarray:
    """Mean power of one GPU over a step (W) before the limit: idle plus each activity's draw over its share."""
    total = np.maximum(t.total_s, 1e-30)
    return p.idle_w + p.power_scale * (p.busy_w * t.gpu_s + p.memory_w * t.memory_s + p.compute_w * t.compute_s
                                       + p.comm_w * t.comm_s) / total


def batch_cost(w: StepWork, p: StepParams, tp) -> PhaseEstimate:
    """Whole-batch energy (all `tp` GPUs) and time from `batch_work`'s columns.

    Each phase's mean power is folded under the limit (`soft_power_w`); its time is kept: the achieved fractions
    were fitted on measured times, which already ran at the limit where the card reached it.
    """
    t = step_times(w, p)
    seconds = w.count * t.total_s
    joules = seconds * step_power_w(t, p)
    out = []
    for cols in (slice(0, 1), slice(1, None)):
        s, j = seconds[:, cols].sum(1), joules[:, cols].sum(1)
        watts = np.divide(j, s, out=np.zeros_like(j), where=s > 0)
        capped = soft_power_w(watts, _cell(p.idle_w), _cell(p.tdp_w))
        out.append((capped * s * tp, s))
    (pj, ps), (dj, ds) = out
    return PhaseEstimate(prefill_s=ps, decode_s=ds, prefill_j=pj, decode_j=dj)


def _cell(value):
    """A per-cell parameter column (arrays while fitting are (cells, columns)) or the scalar itself."""
    v = np.asarray(value, float)
    return v[:, 0] if v.ndim == 2 else v


# ---------------------------------------------------------------- KV occupancy over a batch's life

def mean_kv_tokens_per_sequence(input_tokens, output_tokens, weights=None) -> float:
    """Mean KV tokens a running sequence holds over its life, over requests of these lengths.

    A sequence of output o holds i + j tokens at its j-th step and runs for o steps, so a request is running with
    probability proportional to o, and its occupancy averages i + (o + 1) / 2: the time-weighted mean is
    sum w o (i + (o + 1)/2) / sum w o. A batch whose requests finish at different steps and are replaced (continuous
    batching) holds that many on average, not i + o each.
    """
    i = np.asarray(input_tokens, float)
    o = np.asarray(output_tokens, float)
    w = np.ones_like(o) if weights is None else np.asarray(weights, float)
    return float((w * o * (i + (o + 1) / 2)).sum() / max((w * o).sum(), 1e-12))


def running_sequences(kv_capacity_tokens: float, max_seqs: int, input_tokens, output_tokens, weights=None) -> float:
    """Sequences a continuously batching engine keeps running: its cap, or what its KV cache holds on average."""
    per_seq = mean_kv_tokens_per_sequence(input_tokens, output_tokens, weights)
    return float(min(max_seqs, kv_capacity_tokens / max(per_seq, 1.0)))

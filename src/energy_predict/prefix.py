"""Prefix caching: how many prompt tokens a workload finds already in the KV cache, and what that skips.

A prompt token whose KV is already cached (a prefix another request computed) is not computed again: its prefill
is skipped, the tokens after it attend to it, and decode is unchanged. So a deployment with prefix caching on is
predicted from the same fitted configuration with it off, with each request's cached prefix left out of prefill.

The reuse comes from the workload: `workload.prefix_hit_rate` (the share of prompt tokens served from the cache),
or a trace with block ids (Mooncake's `hash_ids`, one id per 512-token prompt block; equal ids, equal prefix).
From block ids, a request's cached prefix is its leading run of blocks seen before it in arrival order and still in
a least-recently-used cache of the engine's KV capacity (vLLM matches the longest cached prefix, block by block, and
evicts the least recently used free block). A prompt found whole in the cache still computes its last token (the
first output token needs its logits), as vLLM does.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from energy_predict.errors import EnergyPredictError, InputError

BLOCK_TOKENS = 512  # tokens per block id in the Mooncake traces
FIELD = "workload.prefix_hit_rate"


def trace_cached_tokens(block_ids: Sequence[Sequence[int]], input_tokens, block_tokens: int = BLOCK_TOKENS,
                        capacity_tokens: int | None = None) -> np.ndarray:
    """Each request's prompt tokens found in the cache, requests in arrival order.

    A request's hit is the leading run of its blocks seen before (a block is matched only with its whole prefix),
    capped one token short of its prompt. `capacity_tokens`: the cache holds that many tokens of blocks,
    least recently used evicted first (None: unbounded, every block ever seen stays).
    """
    if block_tokens < 1:
        raise ValueError("block_tokens must be >= 1")
    inputs = np.asarray(input_tokens, np.int64)
    if len(block_ids) != len(inputs):
        raise ValueError("one list of block ids per request")
    capacity = None if capacity_tokens is None else max(int(capacity_tokens) // block_tokens, 0)
    cache: OrderedDict[int, None] = OrderedDict()
    cached = np.zeros(len(inputs), np.int64)
    for r, blocks in enumerate(block_ids):
        hit = 0
        while hit < len(blocks) and blocks[hit] in cache:
            hit += 1
        cached[r] = min(hit * block_tokens, max(int(inputs[r]) - 1, 0))
        for b in blocks:  # the request's blocks are now the most recently used
            cache[b] = None
            cache.move_to_end(b)
        while capacity is not None and len(cache) > capacity:
            cache.popitem(last=False)
    return cached


def trace_hit_rate(block_ids: Sequence[Sequence[int]], input_tokens, block_tokens: int = BLOCK_TOKENS,
                   capacity_tokens: int | None = None, arrival_s=None) -> float:
    """Share of all prompt tokens found in the cache (see `trace_cached_tokens`).

    `arrival_s`: the requests' arrival times, to take them in arrival order (a missing time counts as 0); None:
    they are in arrival order already.
    """
    total = float(np.sum(np.asarray(input_tokens, float)))
    if total <= 0:
        return 0.0
    if arrival_s is not None:
        order = np.argsort(np.nan_to_num(np.asarray(arrival_s, float), nan=0.0), kind="stable")
        block_ids, input_tokens = [block_ids[k] for k in order], np.asarray(input_tokens)[order]
    return float(trace_cached_tokens(block_ids, input_tokens, block_tokens, capacity_tokens).sum()) / total


def cached_tokens(input_tokens, hit_rate: float) -> np.ndarray:
    """Each request's cached prefix at a hit rate: that share of its prompt, at least its last token computed."""
    if not 0.0 <= hit_rate <= 1.0:
        raise ValueError("hit_rate must be in [0, 1]")
    i = np.asarray(input_tokens, np.int64)
    return np.minimum(np.floor(hit_rate * i).astype(np.int64), np.maximum(i - 1, 0))


@dataclass(frozen=True)
class PrefixReuse:
    """What prefix caching does to a prediction: off, or on at a hit rate and where that rate came from."""

    enabled: bool
    hit_rate: float | None = None  # the share of every prompt the prediction skips (None: off)
    source: str | None = None  # "profile" (workload.prefix_hit_rate) or "trace" (block ids)
    unbounded_hit_rate: float | None = None  # from block ids: the hit rate of a cache that never evicts
    notes: list[str] = field(default_factory=list)

    def cached_tokens(self, input_tokens) -> np.ndarray:
        """Each request's prompt tokens skipped in prefill (zeros when caching is off)."""
        if not self.enabled or not self.hit_rate:
            return np.zeros(np.shape(input_tokens), np.int64)
        return cached_tokens(input_tokens, self.hit_rate)


def prefix_reuse(dep, hit_rate: float | None, block_ids=None, input_tokens=None, arrival_s=None,
                 capacity_tokens: int | None = None) -> PrefixReuse:
    """Resolve prefix caching for a deployment and a workload's reuse; refuse what cannot be answered.

    `hit_rate`: the profile's `workload.prefix_hit_rate`; `block_ids`: per request, from a trace (with its
    `input_tokens` and `arrival_s`, to order them); `capacity_tokens`: one engine's KV cache.
    """
    if hit_rate is not None and not 0.0 <= hit_rate <= 1.0:
        raise InputError(FIELD, f"{hit_rate} is outside [0, 1]", "give the share of prompt tokens served from the "
                         "prefix cache, between 0 and 1")
    serving = dep.serving
    if not serving.prefix_caching:
        notes = []
        if hit_rate is not None:
            notes.append(f"{FIELD} {hit_rate:g} has no effect: serving.prefix_caching is off, so every prompt token "
                         "is computed (set it true to model the reuse)")
        return PrefixReuse(False, notes=notes)
    if serving.framework == "hf":
        raise EnergyPredictError(
            "serving.prefix_caching: HF transformers `generate` keeps no KV cache across requests, so nothing is "
            "reused; set serving.prefix_caching false, or use framework vllm")
    notes = []
    if hit_rate is not None:
        notes.append(
            f"prefix caching: {FIELD} {hit_rate:g} (from the profile) is skipped from every prompt's prefill as the "
            "same share, as given: a bare hit rate does not say how much KV cache its reused prefixes need, so it "
            "is not limited to the cache's capacity (give a trace with block ids to have it limited)")
        if block_ids is not None:
            notes.append(f"the trace's block ids are not used: {FIELD} is given")
        return PrefixReuse(True, hit_rate, "profile", notes=notes)
    if block_ids is None:
        raise InputError(FIELD, "serving.prefix_caching is on but the workload gives no prefix hit rate (the share "
                         "of prompt tokens whose KV is already cached)",
                         f"add {FIELD} (0 to 1; `energy-predict profile from-trace` computes it from a trace "
                         "with block ids), or set serving.prefix_caching false")
    unbounded = trace_hit_rate(block_ids, input_tokens, arrival_s=arrival_s)
    bounded = trace_hit_rate(block_ids, input_tokens, capacity_tokens=capacity_tokens, arrival_s=arrival_s)
    notes.append(
        f"prefix caching: hit rate {bounded:.3f} computed from the trace's block ids ({BLOCK_TOKENS}-token blocks, "
        f"arrival order) with a least-recently-used cache of the engine's {capacity_tokens:,}-token KV capacity "
        f"({unbounded:.3f} with no eviction); approximate: the KV of running sequences shares that capacity, and "
        "the rate is skipped from every prompt as the same share")
    if dep.replicas > 1:
        notes.append(f"prefix caching: the hit rate assumes each of the {dep.replicas} engines sees its requests' "
                     "earlier prefixes (prefix-aware routing); round-robin routing would hit less")
    return PrefixReuse(True, bounded, "trace", unbounded, notes)


# Replaying a block trace (calibrate/replay.py): clipping, whole conversations, prompts from block ids.


def clip_blocks(hash_ids: Sequence[int], input_tokens: int, max_input: int,
                block: int = BLOCK_TOKENS) -> tuple[tuple[int, ...], int]:
    """(ids, tokens) of a prompt cut to at most `max_input` tokens by dropping whole trailing blocks.

    A prompt that fits keeps its partial last block; one that does not keeps `max_input // block` whole blocks,
    so a block kept by two requests holds the same tokens in both and the trace's reuse survives the cut.
    """
    if block < 1 or max_input < block:
        raise ValueError(f"max_input must be at least one block ({block} tokens)")
    if input_tokens < 0 or len(hash_ids) != -(-input_tokens // block):
        raise ValueError(f"{len(hash_ids)} block ids do not cover {input_tokens} tokens of {block}-token blocks")
    if input_tokens <= max_input:
        return tuple(int(h) for h in hash_ids), int(input_tokens)
    keep = max_input // block
    return tuple(int(h) for h in hash_ids[:keep]), keep * block


def conversation_rows(hash_ids_lists: Sequence[Sequence[int]], start: int, n: int) -> np.ndarray:
    """Row indices (ascending) of `n` requests from whole conversations, taken as they first appear from `start`.

    A conversation is the requests sharing their first two block ids: Mooncake's first block is common to every
    request (a system prompt), its second starts the conversation's own history. A contiguous window of ~100
    requests holds few later turns (a turn's prefix was last seen ~460 requests earlier, median), so keeping
    whole conversations is what keeps the trace's reuse in a small replay.
    """
    if n < 1 or not 0 <= start < max(len(hash_ids_lists), 1):
        raise ValueError("need n >= 1 and a start inside the trace")
    members: dict[tuple, list[int]] = {}
    order: list[tuple] = []
    for row in range(start, len(hash_ids_lists)):
        ids = hash_ids_lists[row]
        key = tuple(ids[:2]) if len(ids) >= 2 else ("row", row)
        if key not in members:
            members[key] = []
            order.append(key)
        members[key].append(row)
    chosen: list[int] = []
    for key in order:
        chosen += members[key]
        if len(chosen) >= n:
            break
    return np.sort(np.asarray(chosen, dtype=np.int64))[:n]


def block_prompt(hash_ids: Sequence[int], input_tokens: int, vocab_size: int,
                 block: int = BLOCK_TOKENS, cache: dict[int, np.ndarray] | None = None) -> list[int]:
    """Token ids of a prompt made of its blocks: block id h -> `block` ids in [3, vocab_size - 1) seeded by h.

    The last block is cut to `input_tokens`. Pass one `cache` dict for a whole request set to draw each block once.
    """
    if vocab_size < 5:
        raise ValueError("vocab_size must leave room for token ids 3 .. vocab_size - 2")
    if input_tokens < 0 or len(hash_ids) != -(-input_tokens // block):
        raise ValueError(f"{len(hash_ids)} block ids do not cover {input_tokens} tokens of {block}-token blocks")
    cache = {} if cache is None else cache
    parts = []
    for h in hash_ids:
        if h not in cache:
            cache[h] = np.random.default_rng(int(h)).integers(3, vocab_size - 1, block)
        parts.append(cache[h])
    ids = np.concatenate(parts)[:input_tokens] if parts else np.zeros(0, dtype=np.int64)
    return ids.tolist()

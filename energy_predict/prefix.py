"""Prefix blocks of a trace (Mooncake's `hash_ids`): clipping, conversations, the reuse they imply, prompts.

A Mooncake request lists the ids of the 512-token blocks of its prompt; two requests that share an id share
those 512 tokens at the same place (the ids chain: a block's id names its whole prefix). Everything here is a
pure function of the ids and lengths, so a replay's prompts, clipping and expected hit rate are reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BLOCK_TOKENS = 512  # Mooncake's block size (FAST'25 traces)


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


def trace_hit_rate(hash_ids_lists: Sequence[Sequence[int]], input_lengths: Sequence[int],
                   block: int = BLOCK_TOKENS) -> float | None:
    """Share of prompt tokens that lie in blocks seen earlier, counting requests in the order given.

    A block's tokens count as seen up to the most of them an earlier request held (a partial last block
    caches only its own tokens). The cache is unbounded here: an engine that evicts, or schedules two
    requests sharing a prefix in one step, hits less. None for no prompt tokens.
    """
    if len(hash_ids_lists) != len(input_lengths):
        raise ValueError("need one input length per list of block ids")
    seen: dict[int, int] = {}
    hits = total = 0
    for ids, length in zip(hash_ids_lists, input_lengths):
        if length < 0 or len(ids) != -(-int(length) // block):
            raise ValueError(f"{len(ids)} block ids do not cover {length} tokens of {block}-token blocks")
        for k, h in enumerate(ids):
            tokens = min(block, int(length) - k * block)
            hits += min(tokens, seen.get(h, 0))
            total += tokens
        for k, h in enumerate(ids):
            seen[h] = max(seen.get(h, 0), min(block, int(length) - k * block))
    return hits / total if total else None


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

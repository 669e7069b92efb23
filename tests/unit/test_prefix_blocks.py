"""Prefix blocks (Mooncake `hash_ids`): clipping, conversations, the hit rate they imply, prompts built from them."""

import numpy as np
import pytest

from energy_predict.prefix import BLOCK_TOKENS, block_prompt, clip_blocks, conversation_rows, trace_hit_rate

VOCAB = 128256


def test_a_prompt_that_fits_keeps_its_partial_last_block_and_a_long_one_loses_whole_trailing_blocks():
    assert clip_blocks([7, 8, 9], 1100, 2048) == ((7, 8, 9), 1100)
    assert clip_blocks([7, 8, 9, 10], 1600, 1100) == ((7, 8), 1024)  # 1100 // 512 = 2 whole blocks
    assert clip_blocks([7, 8, 9, 10], 1600, 1024) == ((7, 8), 1024)
    with pytest.raises(ValueError, match="one block"):
        clip_blocks([7], 100, 511)
    with pytest.raises(ValueError, match="do not cover"):
        clip_blocks([7, 8], 100, 2048)  # 100 tokens are one block, not two


def test_requests_sharing_a_block_share_exactly_its_tokens_at_the_same_place():
    cache = {}
    a = block_prompt([1, 2, 3], 1300, VOCAB, cache=cache)
    b = block_prompt([1, 2, 4, 5], 1900, VOCAB, cache=cache)
    assert len(a) == 1300 and len(b) == 1900
    assert a[:1024] == b[:1024]  # blocks 1 and 2
    assert a[1024:1300] != b[1024:1300]  # block 3 against block 4
    assert block_prompt([1, 2, 3], 1300, VOCAB) == a  # seeded by the id alone: no cache, same tokens
    c = block_prompt([9, 2], 600, VOCAB)
    assert c[512:] == a[512:600]  # the id decides a block's tokens (Mooncake's ids chain, so it names its prefix)
    assert c[:512] != a[:512]
    assert min(a + b) >= 3 and max(a + b) < VOCAB - 1
    assert block_prompt([1], 200, VOCAB) == a[:200]  # a partial block is the head of the full one


def test_block_prompt_refuses_ids_that_do_not_cover_the_prompt_and_a_tiny_vocab():
    with pytest.raises(ValueError, match="do not cover"):
        block_prompt([1, 2], 512, VOCAB)
    with pytest.raises(ValueError, match="vocab_size"):
        block_prompt([1], 10, 4)


def test_trace_hit_rate_counts_tokens_of_blocks_seen_earlier_in_order():
    # A: blocks 1, 2; B: 1, 2, 3 -> B's leading run of blocks seen before: 2 blocks of 512 tokens, of 1200
    assert trace_hit_rate([[1, 2], [1, 2, 3]], [1000, 1200]) == pytest.approx(1024 / 2200)
    # the other way round B came first: A hits both blocks, all of its prompt but the last token (computed anew)
    assert trace_hit_rate([[1, 2, 3], [1, 2]], [1200, 1000]) == pytest.approx(999 / 2200)
    assert trace_hit_rate([[1], [1]], [300, 512]) == pytest.approx(511 / 812)
    assert trace_hit_rate([[1], [2]], [512, 512]) == 0.0
    assert trace_hit_rate([[1], [1]], [512, 512]) == pytest.approx(511 / 1024)
    assert trace_hit_rate([[1], [1]], [16, 16], block_tokens=16) == pytest.approx(15 / 32)
    assert trace_hit_rate([], []) == 0.0
    with pytest.raises(ValueError):
        trace_hit_rate([[1]], [512, 512])


def test_conversations_are_taken_whole_as_they_first_appear():
    ids = [[0, 1], [0, 2], [0, 1, 3], [0, 4], [0, 2, 5], [0, 1, 3, 6], [7]]
    assert conversation_rows(ids, 0, 3).tolist() == [0, 2, 5]  # conversation (0, 1): rows 0, 2, 5
    assert conversation_rows(ids, 0, 5).tolist() == [0, 1, 2, 4, 5]  # then (0, 2): rows 1, 4
    assert conversation_rows(ids, 0, 4).tolist() == [0, 1, 2, 4]  # the first n of them in arrival order
    assert conversation_rows(ids, 3, 2).tolist() == [3, 4]  # from row 3: conversations 4, then 2 (row 4 only)
    assert conversation_rows(ids, 6, 1).tolist() == [6]  # a one-block request is a conversation of its own
    with pytest.raises(ValueError):
        conversation_rows(ids, 7, 1)


def test_on_the_mooncake_trace_conversations_keep_reuse_a_contiguous_window_loses(shared_traces):
    from energy_predict.calibrate.replay import sample_requests
    from energy_predict.traces import read_trace

    frame = read_trace(shared_traces / "mooncake" / "conversation_trace.jsonl")
    window = sample_requests(frame, 80, 0, "m", 16384, 1024, "window")
    talks = sample_requests(frame, 80, 0, "m", 16384, 1024, "conversations")
    assert len(window.input_tokens) == len(talks.input_tokens) == 80
    assert window.hit_rate < 0.15 < 0.35 < talks.hit_rate
    for reqs in (window, talks):
        assert reqs.input_tokens.max() <= 16384 and np.all(np.diff(reqs.arrival_s) >= 0)
        cut = reqs.input_tokens == 16384
        assert all(len(reqs.hash_ids[k]) == 32 for k in np.flatnonzero(cut))
        assert all(len(ids) == -(-n // BLOCK_TOKENS) for ids, n in zip(reqs.hash_ids, reqs.input_tokens))


def test_trace_hit_rate_takes_requests_in_arrival_order_when_given_their_times():
    ids, lengths = [[1, 2, 3], [1, 2]], [1200, 1000]  # listed B, A; A arrived first
    assert trace_hit_rate(ids, lengths, arrival_s=[5.0, 1.0]) == pytest.approx(trace_hit_rate(ids[::-1], lengths[::-1]))
    assert trace_hit_rate(ids, lengths, arrival_s=[5.0, 1.0]) != pytest.approx(trace_hit_rate(ids, lengths))

"""vLLM's running/waiting counts from its stats lines (issue 26, item 2), on lines of the 2026-12-07 large-batch log.

The excerpt (tests/data/vllm_stats_large_batch_excerpt.log) holds the start-up KV line, the end of cell 1 (1,024 x
128->128, ran whole), part of cell 3 (1,024 x 256->256: the cache fills, vLLM preempts, then the tail and the next
repetition's admission) and two lines of the cell the run was stopped in.
"""

import pytest

from energy_predict.calibrate.vllm_stats import (
    StatsSample,
    kv_capacities_tokens,
    parse_stats_line,
    parse_stats_message,
    split_cells,
    summarize,
)
from tests.conftest import REPO

EXCERPT = (REPO / "tests" / "data" / "vllm_stats_large_batch_excerpt.log").read_text().splitlines()


def test_a_stats_line_gives_its_counts_time_prompt_rate_and_kv_use():
    line = next(x for x in EXCERPT if "Running: 1004 reqs" in x)
    s = parse_stats_line(line)
    assert (s.running, s.waiting, s.prompt_tokens_per_s, s.kv_usage_pct) == (1004, 20, 0.0, 100.0)
    later = parse_stats_line(next(x for x in EXCERPT if "Running: 956 reqs" in x))
    assert later.t_s - s.t_s == 1.0  # 15:38:34 -> 15:38:35
    assert parse_stats_line(EXCERPT[0]) is None  # the KV size line is no stats line
    assert parse_stats_message("Running: 3 reqs, Waiting: 0 reqs", t_s=5.0) == StatsSample(5.0, 3, 0)


def test_the_kv_capacity_line_is_read_with_its_thousands_separators():
    assert kv_capacities_tokens(EXCERPT) == [444_896]


def test_lines_belong_to_the_cell_line_that_follows_them_and_a_stopped_cell_is_kept():
    cells = split_cells(EXCERPT)
    assert [(c.done, c.batch_size, c.input_tokens, c.output_tokens) for c in cells] == [
        (1, 1024, 128, 128), (3, 1024, 256, 256), (None, None, None, None)]
    assert [len(c.samples) for c in cells] == [3, 16, 2]
    assert cells[0].config == "vllm-graphs-seqs1024" and cells[0].model == "Llama-3.1-8B" and cells[0].status == "ok"


def test_preemption_is_the_running_count_falling_while_requests_wait_without_new_prompts():
    first, third, stopped = (summarize(c.samples) for c in split_cells(EXCERPT))
    assert (first.running_max, first.waiting_max, first.preempted) == (1024, 0, False)
    assert third.running_max == 1024 and third.preempted is True
    assert third.waiting_max == 705  # the next repetition's admission (129 running after 125), not preemption
    assert stopped.running_mean == 64.0 and stopped.preempted is False
    # a new batch admitted after the last one ended: running falls, requests wait, but its prompts are new
    ramp = [StatsSample(0, 1024, 0, 0.0), StatsSample(1, 382, 642, 27075.3)]
    assert summarize(ramp).preempted is False
    # without the prompt rate the fall cannot be told apart: unknown, not False
    assert summarize([StatsSample(0, 10, 0), StatsSample(1, 5, 5)]).preempted is None


def test_the_mean_is_time_weighted_and_no_lines_give_null_with_a_reason():
    samples = [StatsSample(0, 100, 0, 0.0), StatsSample(3, 10, 0, 0.0), StatsSample(4, 10, 0, 0.0)]
    # 100 for 3 s, 10 for 1 s, the last 10 for the median gap (1 s)
    assert summarize(samples).running_mean == pytest.approx((300 + 10 + 10) / 5)
    empty = summarize([])
    assert empty.running_max is None and empty.preempted is None and "VLLM_LOG_STATS_INTERVAL" in empty.null_reason
    assert empty.record_fields()["running_null_reason"] == empty.null_reason

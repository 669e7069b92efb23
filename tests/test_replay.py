import numpy as np
import pandas as pd
import pytest

from energy_predict.calibrate.replay import hf_batches
from energy_predict.calibrate.trace_requests import ReplaySet, sample_requests


def frame(n=50):
    return pd.DataFrame({"input_tokens": np.arange(1, n + 1) * 100, "output_tokens": np.arange(1, n + 1) * 3,
                         "arrival_s": np.arange(n) * 2.0})


def test_sample_is_a_contiguous_window_with_clipped_lengths():
    reqs = sample_requests(frame(), 10, seed=1, trace="t", max_input=2000, max_output=20)
    assert len(reqs.input_tokens) == 10 and reqs.arrival_s[0] == 0
    assert np.all(np.diff(reqs.arrival_s) == 2.0)  # the trace's own gaps, kept
    assert reqs.input_tokens.max() <= 2000 and reqs.output_tokens.max() <= 20
    again = sample_requests(frame(), 10, seed=1, trace="t", max_input=2000, max_output=20)
    assert np.array_equal(reqs.input_tokens, again.input_tokens)  # seeded


def test_rate_scaling_keeps_the_pattern():
    reqs = ReplaySet("t", np.ones(11, int), np.ones(11, int), np.arange(11) * 1.0)
    fast = reqs.scaled_to_rate(5.5)
    assert len(fast.arrival_s) / fast.arrival_s.max() == pytest.approx(5.5 * 11 / 11)
    assert np.allclose(np.diff(fast.arrival_s), 0.2)
    with pytest.raises(ValueError):
        ReplaySet("t", np.ones(2, int), np.ones(2, int), np.zeros(2)).scaled_to_rate(1.0)


def test_poisson_arrivals_keep_the_requests_and_hit_the_rate():
    n = 4000
    reqs = ReplaySet("t", np.arange(n), np.arange(n), np.arange(n) * 1.0)
    p = reqs.poisson(8.0, seed=3)
    assert np.array_equal(p.input_tokens, reqs.input_tokens) and p.arrival_s[0] == 0
    assert np.all(np.diff(p.arrival_s) >= 0)
    assert n / p.arrival_s.max() == pytest.approx(8.0, rel=0.05)
    gaps = np.diff(p.arrival_s)
    assert np.std(gaps) / np.mean(gaps) == pytest.approx(1.0, rel=0.1)  # exponential gaps, unlike the trace's
    with pytest.raises(ValueError):
        reqs.poisson(0.0)


def test_hf_batches_cover_every_request_once_in_order():
    batches = hf_batches(10, 4)
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize("args, field", [
    (["--modes", "online"], "--rates"),
    (["--modes", "online", "--poisson-rates", "fast"], "--poisson-rates"),
    (["--modes", "online", "--rates", "4,-1"], "--rates"),
    (["--modes", "sideways"], "--modes"),
    (["--devices", "a"], "--devices"),
    (["--backend", "hf", "--modes", "online", "--rates", "4"], "--modes"),
])
def test_bad_replay_arguments_give_one_line_and_exit_2(tmp_path, args, field):
    from typer.testing import CliRunner

    from energy_predict.cli import app

    trace = tmp_path / "t.csv"
    trace.write_text("input_tokens,output_tokens,arrival_s\n10,5,0\n20,6,1\n")
    result = CliRunner().invoke(app, ["replay", str(trace), "--out", str(tmp_path / "out"), *args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and field in lines[0]
    assert not (tmp_path / "out").exists()


def mooncake(tmp_path, rows=None):
    """A small Mooncake-style trace: two conversations whose later turns extend earlier prompts."""
    import json

    rows = rows or [{"timestamp": 0, "input_length": 1000, "output_length": 5, "hash_ids": [0, 1]},
                    {"timestamp": 10, "input_length": 700, "output_length": 6, "hash_ids": [0, 2]},
                    {"timestamp": 20, "input_length": 1500, "output_length": 7, "hash_ids": [0, 1, 3]},
                    {"timestamp": 30, "input_length": 2100, "output_length": 8, "hash_ids": [0, 2, 4, 5, 6]}]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_mooncake_sample_cuts_whole_blocks_and_keeps_them_with_their_prompts(tmp_path):
    from energy_predict.traces import read_trace

    moon = read_trace(mooncake(tmp_path))
    reqs = sample_requests(moon, 4, seed=0, trace="m", max_input=1024, max_output=6)
    assert reqs.input_tokens.tolist() == [1000, 700, 1024, 1024] and reqs.output_tokens.tolist() == [5, 6, 6, 6]
    assert reqs.hash_ids == ((0, 1), (0, 2), (0, 1), (0, 2))
    # each request's leading run of blocks seen before, whole blocks, its last token always computed
    assert reqs.hit_rate == pytest.approx((512 + 1023 + 1023) / (1000 + 700 + 1024 + 1024))
    assert reqs.scaled_to_rate(1.0).hash_ids == reqs.hash_ids == reqs.poisson(1.0).hash_ids
    assert "hash_ids" in read_trace(mooncake(tmp_path)).columns  # a block trace brings its block ids
    with pytest.raises(ValueError, match="block ids"):
        sample_requests(frame(), 5, 0, "t", 100, 10, "conversations")


def test_prompts_share_the_traces_blocks_and_azure_prompts_stay_as_they_were(tmp_path):
    from energy_predict.calibrate.trace_requests import replay_prompts
    from energy_predict.traces import read_trace

    reqs = sample_requests(read_trace(mooncake(tmp_path)), 4, 0, "m", 4096, 10)
    p = replay_prompts(reqs, 1000)
    assert [len(x) for x in p] == [1000, 700, 1500, 2100]
    assert p[0][:512] == p[1][:512] == p[3][:512]  # the common first block
    assert p[2][:1000] == p[0] and p[3][:700] == p[1]  # later turns extend earlier prompts
    assert p[0][512:700] != p[1][512:700]
    plain = ReplaySet("t", np.array([5, 7]), np.array([1, 1]), np.zeros(2))
    rng = np.random.default_rng(0)
    assert replay_prompts(plain, 1000) == [rng.integers(3, 999, 5).tolist(), rng.integers(3, 999, 7).tolist()]


def test_counter_delta_gives_tokens_and_rate_or_none_with_a_reason():
    from energy_predict.calibrate.replay import counter_delta

    def delta(before, after):
        return counter_delta(before, after).model_dump()

    a = {"queries_tokens": 100, "hits_tokens": 10, "null_reason": None}
    b = {"queries_tokens": 1100, "hits_tokens": 510, "null_reason": None}
    assert delta(a, b) == {"queries_tokens": 1000, "hits_tokens": 500, "hit_rate": 0.5, "null_reason": None}
    assert delta(a, a)["hit_rate"] is None  # no queries: no rate (caching off)
    assert delta(b, a)["hits_tokens"] is None and "backwards" in delta(b, a)["null_reason"]
    off = {"queries_tokens": None, "hits_tokens": None, "null_reason": "stat logging is off"}
    assert delta(a, off) == {"queries_tokens": None, "hits_tokens": None, "hit_rate": None,
                             "null_reason": "stat logging is off"}


@pytest.mark.parametrize("args, field", [
    (["--backend", "hf", "--prefix-caching"], "--prefix-caching"),
    (["--sample", "conversations"], "--sample"),
    (["--sample", "sideways"], "--sample"),
])
def test_bad_prefix_arguments_give_one_line_and_exit_2(tmp_path, args, field):
    test_bad_replay_arguments_give_one_line_and_exit_2(tmp_path, args, field)


@pytest.mark.parametrize("rows, args, field", [
    (None, ["--max-input", "500"], "--max-input"),
    ([{"timestamp": 0, "input_length": 1000, "output_length": 5, "hash_ids": [0]}], [], "hash_ids"),
    ([{"timestamp": 0, "input_length": 1000, "output_length": 5, "hash_ids": "0,1"}], [], "hash_ids"),
    ([{"timestamp": 0, "input_length": 10, "output_length": 5, "hash_ids": [-1]}], [], "hash_ids"),
])
def test_bad_mooncake_replays_give_one_line_naming_the_field_and_exit_2(tmp_path, rows, args, field):
    from typer.testing import CliRunner

    from energy_predict.cli import app

    result = CliRunner().invoke(app, ["replay", str(mooncake(tmp_path, rows)), "--out", str(tmp_path / "out"), *args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:"), lines
    assert not (tmp_path / "out").exists()


def test_a_replay_record_says_whether_its_measured_runs_followed_a_warm_up(tmp_path):
    # the closed-loop campaign warmed up only each engine's first replay; the record must say which
    from energy_predict.architectures import resolve_architecture
    from energy_predict.calibrate.replay import measure_replay
    from tests.fakes import TickingMeter

    calls = []
    reqs = ReplaySet("t.csv", np.array([8, 9]), np.array([2, 3]), np.zeros(2))
    fields = {"backend": "vllm", "config": {}, "versions": {}, "meter": {"sensor": "fake", "gpus": []},
              "empty_idle_power_w": None, "seed": 0, "n": 2, "mode": "offline"}
    for warm in (True, False):
        calls.clear()
        record = measure_replay("r", TickingMeter((0,)), lambda: calls.append(1), reqs,
                                resolve_architecture("Llama-3.2-1B"), fields, repetitions=2, warmup=warm, idle_s=0.0)
        assert record.warmed_up is warm
        assert len(calls) == 2 + warm and len(record.runs) == 2  # the warm-up runs, unmeasured

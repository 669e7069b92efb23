import numpy as np
import pandas as pd
import pytest

from energy_predict.calibrate.replay import ReplaySet, hf_batches, sample_requests


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
    (["--gpus", "a"], "--gpus"),
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

import numpy as np
import pandas as pd
import pytest

from energy_predict.bins import REFERENCE_INPUT_BINS, ceiling_bin
from energy_predict.errors import InputError
from energy_predict.profile import parse_profile
from energy_predict.traces import read_trace
from energy_predict.workload import (
    fine_edges,
    histogram_from_lengths,
    profile_from_trace,
    workload_from_profile,
)


def test_ceiling_bins_flag_out_of_range():
    binned, ok = ceiling_bin([1, 32, 33, 8192, 9000], REFERENCE_INPUT_BINS)
    assert binned.tolist() == [32, 32, 128, 8192, 9000]
    assert ok.tolist() == [True, True, True, True, False]


def test_fine_edges_contain_every_power_of_two():
    edges = fine_edges(131072)
    assert {2 ** k for k in range(18)} <= set(edges)


def test_histogram_keeps_counts_and_means():
    rng = np.random.default_rng(1)
    i, o = rng.integers(1, 9000, 5000), rng.integers(1, 600, 5000)
    h = histogram_from_lengths(i, o)
    assert np.sum(h["counts"]) == 5000
    frame = pd.DataFrame({"input_tokens": i, "output_tokens": o, "arrival_s": np.linspace(0, 100, 5000)})
    prof = parse_profile(profile_from_trace(frame, "t", "Llama-3.1-8B", "H100", "synthetic"))
    w = workload_from_profile(prof)
    assert w.requests == pytest.approx(5000)
    assert w.rate_per_s == pytest.approx(50.0)
    # means survive: total tokens are within rounding of the raw sums
    assert w.weight @ w.input_tokens == pytest.approx(i.sum(), rel=1e-3)
    assert w.weight @ w.output_tokens == pytest.approx(o.sum(), rel=1e-3)


def test_read_real_traces(shared_traces):
    azure = read_trace(shared_traces / "azure_2023" / "AzureLLMInferenceTrace_code.csv")
    assert len(azure) == 8819 and azure["arrival_s"].max() == pytest.approx(3436, rel=0.01)
    moon = read_trace(shared_traces / "mooncake" / "conversation_trace.jsonl")
    assert len(moon) == 12031 and moon["input_tokens"].mean() == pytest.approx(12035, rel=0.01)
    share = read_trace(shared_traces / "sharegpt" / "sharegpt_8k_filtered_stats_llama2_tokenizer.csv")
    assert share["arrival_s"].isna().all() and share["output_tokens"].mean() == pytest.approx(439, rel=0.01)


def test_generic_csv_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("t,prompt,completion\n0,10,5\n1.5,20,7\n")
    frame = read_trace(path, input_column="prompt", output_column="completion", time_column="t")
    assert frame["input_tokens"].tolist() == [10, 20] and frame["arrival_s"].tolist() == [0, 1.5]
    with pytest.raises(InputError, match="--input-column"):
        read_trace(path)
    path.write_text("input_tokens,output_tokens\n10,-1\n")
    with pytest.raises(InputError, match="negative"):
        read_trace(path)


def test_subnormal_histogram_counts_scale_to_the_profiles_requests_without_overflow():
    """Found by the fuzzer: counts of 2e-308 made total / sum(counts) infinite and the batch size unbounded."""
    from energy_predict import profile as schema
    from energy_predict.workload import workload_from_profile

    p = schema.Profile.model_validate({
        "model": "Llama-3.1-8B", "hardware": {"gpu": "H100"},
        "workload": {"requests": 4.0, "period_s": 1.0, "tokens": {
            "kind": "histogram", "input_edges": [0, 1], "output_edges": [0, 1],
            "counts": [[2.2250738585072014e-308]]}}})
    w = workload_from_profile(p)
    assert w.requests == 4.0 and list(w.weight) == [4.0]

"""Time units: given, documented by the format, said by the column's name, or Unix times by their size; an
implausible rate is a warning naming the column and the unit, never a silent misreading."""

import numpy as np
import pandas as pd
import pytest

from energy_predict.errors import InputError
from energy_predict.traces import load_trace
from energy_predict.traces.times import arrivals, implausible_rate_note, unit_from_name, unit_from_size
from tests.conftest import REPO

TRACES = REPO / "examples" / "traces"


@pytest.mark.parametrize("name,unit", [("arrival_time_ns", "ns"), ("sent_at_ms", "ms"), ("arrival_s", "s"),
                                       ("Time (s)", "s"), ("t_us", "us"), ("start_seconds", "s"),
                                       ("timestamp", None), ("TIMESTAMP", None), ("created", None), ("s", None),
                                       ("arrived_at", None), ("start_times", None)])
def test_unit_from_the_column_name(name, unit):
    assert unit_from_name(name) == unit


@pytest.mark.parametrize("t0,unit", [(1.733e9, "s"), (1.733e12, "ms"), (1.733e15, "us"), (1.733e18, "ns"),
                                     (0.0, None), (4.7e7, None)])
def test_unit_from_the_size_of_unix_times(t0, unit):
    assert unit_from_size(np.array([t0, t0 + 5])) == unit


def _csv(tmp_path, column, times):
    path = tmp_path / "t.csv"
    pd.DataFrame({"input_tokens": 100, "output_tokens": 10, column: times}).to_csv(path, index=False)
    return path


def test_nanoseconds_read_as_seconds_are_a_warning_naming_the_column_and_unit():
    trace = load_trace(TRACES / "llmservingsim_sharegpt.tsv", time_unit="s")  # the misreading, forced
    (note,) = trace.notes
    assert note.startswith("column arrival_time_ns read in seconds (as --time-unit says) puts 30 requests over "
                           "2.37e+09 s (75.1 years), 1.27e-08 req/s")
    assert note.endswith("give --time-unit s, ms, us or ns")


def test_a_column_without_a_unit_is_read_as_seconds_and_an_odd_rate_warned(tmp_path):
    ns = np.arange(20) * 250_000_000  # 4 req/s in nanoseconds from 0: no name, no Unix size to tell
    trace = load_trace(_csv(tmp_path, "time", ns), time_column="time")
    assert trace.time_unit == "s" and "no unit given, documented or in its name" in trace.notes[0]
    fixed = load_trace(_csv(tmp_path, "time", ns), time_column="time", time_unit="ns")
    assert fixed.notes == () and len(fixed.frame) / fixed.frame["arrival_s"].max() == pytest.approx(20 / 4.75)


def test_unix_times_are_read_by_their_size(tmp_path):
    ms = 1_733_011_200_000 + np.arange(10) * 500
    trace = load_trace(_csv(tmp_path, "created", ms))
    assert trace.time_unit == "ms" and trace.notes == () and trace.frame["arrival_s"].iloc[-1] == 4.5


def test_a_time_like_column_the_reader_does_not_know_is_not_dropped_silently(tmp_path):
    trace = load_trace(_csv(tmp_path, "request_time", np.arange(5)))
    assert trace.frame["arrival_s"].isna().all()
    assert "a column whose name suggests times" in trace.notes[0] and "--time-column" in trace.notes[0]
    assert "request_time" not in trace.notes[0]  # a header is never echoed


def test_vidur_arrived_at_and_openai_created_give_a_rate(tmp_path):
    vidur = load_trace(TRACES / "vidur_splitwise_conv.csv").frame["arrival_s"]
    openai = load_trace(TRACES / "openai_usage.csv").frame["arrival_s"]
    assert vidur.notna().all() and openai.notna().all() and vidur.max() > 0 and openai.max() > 0


def test_calendar_times_refuse_a_unit(tmp_path):
    with pytest.raises(InputError, match="^--time-unit: column TIMESTAMP holds calendar times"):
        load_trace(TRACES / "azure_code_2023.csv", time_unit="ms")


def test_an_unknown_unit_is_refused_and_a_profile_names_its_field():
    with pytest.raises(InputError, match="^--time-unit: unknown time unit 'min'"):
        load_trace(TRACES / "vidur_splitwise_conv.csv", time_unit="min")
    with pytest.raises(InputError, match="^workload.tokens.time_unit: column TIMESTAMP"):
        load_trace(TRACES / "azure_code_2023.csv", from_profile=True, time_unit="s")


def test_a_unit_for_a_trace_without_times_is_noted():
    trace = load_trace(TRACES / "vllm_bench_totals.json", time_unit="ms")
    assert trace.notes[-1] == "--time-unit ms has no effect: the trace has no arrival times"


def test_the_rate_note_bounds():
    assert implausible_rate_note(np.arange(10.0), "t", "s", "x", "--time-unit") is None  # 1 req/s
    assert implausible_rate_note(np.arange(10.0) * 1e5, "t", "s", "x", "--time-unit") is not None  # 1e-5 req/s
    assert implausible_rate_note(np.arange(10.0) * 1e-6, "t", "s", "x", "--time-unit") is not None  # 1e6 req/s
    assert implausible_rate_note(np.array([0.0, 4e7]), "t", "s", "x", "--time-unit") is not None  # over a year
    assert implausible_rate_note(np.array([0.0, 0.0]), "t", "s", "x", "--time-unit") is None  # no span, no rate


def test_times_beyond_the_profile_bound_stay_an_error_naming_the_column():
    with pytest.raises(InputError, match=r"^t: times that span more than 1e\+10 s read in seconds"):
        arrivals(pd.Series([0, 1e300]), "t", given=None, documented=None, documented_by="", unit_flag="--time-unit")

"""The closed-loop campaign's request files are what `make_traces.py` writes, and the benchmark's steady state is
b - a of the two runs."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


sys.path.insert(0, str(REPO / "benchmarks"))
traces = _load("closed_loop_traces", REPO / "campaigns" / "next-closed-loop" / "make_traces.py")
bench = _load("closed_loop_benchmark", REPO / "benchmarks" / "closed_loop.py")


def test_the_committed_request_files_are_what_make_traces_writes():
    written = traces.traces()
    assert len(written) == 8
    for stem, requests in written.items():
        rows = (REPO / "campaigns" / "next-closed-loop" / "traces" / f"{stem}.csv").read_text().splitlines()
        assert rows[0] == "input_tokens,output_tokens,arrival_s"
        assert [tuple(map(int, r.split(",")[:2])) for r in rows[1:]] == requests
        assert all(r.endswith(",0") for r in rows[1:])  # every request at once: the closed loop's client


def test_a_and_b_share_head_and_tail_and_b_adds_the_middle():
    written = traces.traces()
    for cap in traces.SEQS:
        a, b = written[f"cap{cap}-in256-a"], written[f"cap{cap}-in256-b"]
        assert a[:cap] == b[:cap] and a[cap:] == b[-cap:]
        assert len(b) - len(a) == max(2 * cap, 200)
        assert {i for i, _ in a} == {256}


def test_steady_state_is_the_difference_of_the_two_runs():
    a = {"energy_j": 1000.0, "output_tokens": 10_000, "time_s": 2.0}
    b = {"energy_j": 2200.0, "output_tokens": 30_000, "time_s": 4.0}
    s = bench.steady(a, b, cap=64)
    assert s["j_per_token"] == pytest.approx(1200 / 20_000)
    assert s["power_w"] == pytest.approx(600.0)
    assert s["step_ms"] == pytest.approx(1000 * 2.0 * 64 / 20_000)  # 64 tokens a step in 2 s of 20,000 tokens


def test_the_committed_measured_rows_are_what_the_records_give():
    # no tool call: the measured steady states in the results come from the committed records, file by file
    import json

    results = json.loads((REPO / "benchmarks" / "results" / "closed_loop.json").read_text())
    assert len(results["rows"]) == 4
    for row in results["rows"]:
        stem = f"cap{row['max_num_seqs']}-in{row['input_tokens']}"
        for key, folder in (("measured", ""), ("repeated", "-rep2")):
            a = bench.measured_run(row["max_num_seqs"], f"{stem}-a", folder)
            b = bench.measured_run(row["max_num_seqs"], f"{stem}-b", folder)
            if row[key] is None:
                assert a is None or b is None
                continue
            assert [a["record"], b["record"]] == row[key]["records"]
            assert stem in a["record"] and f"cap{row['max_num_seqs']}{folder}/" in a["record"]
            for field, value in bench.steady(a, b, row["max_num_seqs"]).items():
                assert row[key][field] == pytest.approx(value, rel=1e-9)
    assert sum(r["repeated"] is not None for r in results["rows"]) == 1

"""Traces on the command line: from-trace and replay options, warnings as one line each, `--csv -`."""

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from energy_predict.cli import app
from tests.conftest import REPO

runner = CliRunner()
TRACES = REPO / "examples" / "traces"
PROFILE = REPO / "examples" / "code_gen.json"


def _warnings(stderr: str) -> list[str]:
    return [x for x in stderr.splitlines() if x.startswith("warning: ")]


def test_from_trace_reads_a_vllm_result_and_says_what_it_dropped(tmp_path):
    result = runner.invoke(app, ["profile", "from-trace", str(TRACES / "vllm_bench_detailed.json"),
                                 "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.stderr
    assert "29 requests, 4.62 req/s (read as vLLM bench result)" in result.stdout
    assert _warnings(result.stderr) == ["warning: dropped 1 failed request (an error in the result's errors list)"]
    workload = json.loads((tmp_path / "p.json").read_text())["workload"]
    assert workload["requests"] == 29 and workload["rate_per_s"] == pytest.approx(4.62, abs=0.01)


def test_from_trace_time_unit_and_format_options(tmp_path):
    out = str(tmp_path / "p.json")
    forced = runner.invoke(app, ["profile", "from-trace", str(TRACES / "llmservingsim_sharegpt.tsv"), "-o", out,
                                 "--time-unit", "s"])
    assert forced.exit_code == 0
    (line,) = _warnings(forced.stderr)
    assert "column arrival_time_ns read in seconds" in line and "75.1 years" in line
    named = runner.invoke(app, ["profile", "from-trace", str(TRACES / "named_columns.csv"), "-o", out, "--trace-format",
                                "csv", "--input-column", "prompt_len", "--output-column", "gen_len",
                                "--time-column", "sent_at_ms"])
    assert named.exit_code == 0 and "1.92 req/s" in named.stdout and not _warnings(named.stderr)
    refused = runner.invoke(app, ["profile", "from-trace", str(TRACES / "azure_code_2023.csv"), "-o", out,
                                  "--time-unit", "ms"])
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: --time-unit: column TIMESTAMP holds calendar times")


def test_a_profile_pointing_at_a_trace_gets_its_warnings_as_lines_and_its_time_unit(tmp_path):
    data = json.loads(PROFILE.read_text())
    data["workload"] = {"tokens": {"kind": "trace", "path": str(TRACES / "burstgpt.csv")}}
    (tmp_path / "p.json").write_text(json.dumps(data))
    result = runner.invoke(app, ["--profile", str(tmp_path / "p.json"), "--json"])
    assert result.exit_code == 0, result.stderr
    assert _warnings(result.stderr) == ["warning: dropped 2 of 40 requests with 0 response tokens, which BurstGPT "
                                        "marks as failed"]
    assert json.loads(result.stdout)
    data["workload"]["tokens"] = {"kind": "trace", "path": str(TRACES / "llmservingsim_sharegpt.tsv"),
                                  "format": "llmservingsim", "time_unit": "s"}
    (tmp_path / "p.json").write_text(json.dumps(data))
    result = runner.invoke(app, ["--profile", str(tmp_path / "p.json"), "--json"])
    assert result.exit_code == 0 and "read in seconds (as workload.tokens.time_unit says)" in result.stderr


def test_csv_dash_writes_the_bins_to_standard_output_alone(tmp_path):
    piped = runner.invoke(app, ["--profile", str(PROFILE), "--csv", "-"])
    filed = runner.invoke(app, ["--profile", str(PROFILE), "--csv", str(tmp_path / "b.csv")])
    assert piped.exit_code == 0 and filed.exit_code == 0
    assert not (REPO / "-").exists() and not (tmp_path / "-").exists()
    assert pd.read_csv(io.StringIO(piped.stdout)).equals(pd.read_csv(tmp_path / "b.csv"))
    both = runner.invoke(app, ["--profile", str(PROFILE), "--csv", "-", "--json"])
    assert both.exit_code == 2 and both.stderr.startswith("error: --csv: - (standard output) and --json")


def test_data_cells_csv_dash_writes_cells_to_standard_output_and_the_summary_to_standard_error(tmp_path):
    piped = runner.invoke(app, ["data", "cells", "--csv", "-"])
    assert piped.exit_code == 0, piped.stderr
    cells = pd.read_csv(io.StringIO(piped.stdout))
    assert len(cells) > 0 and "backend" in cells.columns
    assert "distinct cells" in piped.stderr and "distinct cells" not in piped.stdout


def test_replay_plans_from_any_format_with_its_options():
    from energy_predict.calibrate.replay import plan_replays
    from energy_predict.traces import TraceWarning

    with pytest.warns(TraceWarning, match="dropped 1 failed request"):
        plan = plan_replays(TRACES / "vllm_bench_detailed.json", backend_name="hf", model="Llama-3.1-8B", n=8, seed=0,
                            modes=["offline"], rates=[], batch_size=4, cuda_graphs=False, repetitions=1,
                            max_input=None, max_output=64, trace_format="vllm", time_unit="s")
    assert plan.n == 8 and plan.units[0].reqs.trace == "vllm_bench_detailed.json"
    assert plan.units[0].reqs.arrival_s.max() > 0  # the result's start times came with the requests

"""`energy-predict plan` from the command line: a front as JSON and as a table, one-line refusals with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from energy_predict.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ARGS = ["plan", "--profile", str(EXAMPLES / "code_gen.json"), "--rate", "1", "--max-gpus", "2", "--gpu-kinds",
        "H100-SXM-80GB", "--precisions", "bf16,fp8", "--ttft-p90-ms", "2000"]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_plan_json_holds_a_front_with_intervals_bases_and_the_recommendation():
    result = run(*ARGS, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["front"] and out["recommended"]["recommended"] and out["why"].startswith("least energy a day")
    for row in out["front"]:
        assert row["basis"] in ("measured", "transferred", "extrapolated")
        assert row["low_kwh_per_day"] <= row["energy_kwh_per_day"] <= row["high_kwh_per_day"]
        assert row["gpus"] <= 2 and row["ttft_p90_ms"] <= 2000 and row["site"]["currency"] == "USD"


def test_plan_table_names_the_recommended_row():
    result = run(*ARGS)
    assert result.exit_code == 0, result.output
    assert "recommended: " in result.output and "candidates:" in result.output


def test_plan_refuses_bad_options_in_one_line():
    for args, flag in ((["--headroom", "2"], "--headroom"), (["--ttft-p90-ms", "-1"], "--ttft-p90-ms"),
                       (["--precisions", "int3"], "--precisions"), (["--gpu-kinds", "NoSuchGPU"], "--gpu-kinds"),
                       (["--rate", "nan"], "--rate")):
        result = run(*ARGS, *args)
        assert result.exit_code == 2 and flag in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1


def test_an_infeasible_plan_says_which_target_fails_first():
    result = run(*ARGS, "--tpot-p90-ms", "0.01")
    assert result.exit_code == 2
    assert "p90 TPOT ms" in result.output and "closest:" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_a_search_space_too_large_is_refused_in_one_line_with_the_bound_and_how_to_narrow_it():
    result = run(*ARGS[:5], "--batch-caps", ",".join(str(c) for c in range(1, 40)), "--max-gpus", "4096")
    assert result.exit_code == 2, result.output
    assert "more than the bound of 20,000" in result.output and "narrow it" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_plan_workers_give_the_same_plan_and_a_bad_count_is_refused():
    one, two = run(*ARGS, "--json"), run(*ARGS, "--json", "--workers", "2")
    assert one.exit_code == two.exit_code == 0, two.output
    assert json.loads(one.output) == json.loads(two.output)
    result = run(*ARGS, "--workers", "0")
    assert result.exit_code == 2 and "--workers" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_plan_searches_a_speculative_axis_and_refuses_it_outside_what_was_measured():
    base = [*ARGS[:-2], "--precisions", "bf16", "--json", "--acceptance-rate", "0.7"]
    result = run(*base, "--speculative", "off,Llama-3.2-1B:2,Llama-3.2-1B:4")
    assert result.exit_code == 0, result.output
    labels = [r["label"] for r in json.loads(result.output)["front"]]
    assert any("spec:Llama-3.2-1B" in x for x in labels), labels
    for args, needle in ((["--speculative", "on"], "--speculative"),  # the profile has no speculation
                         (["--speculative", "NoSuchDraft"], "--speculative"),
                         (["--speculative", "Llama-3.2-1B:x"], "--speculative"),
                         (["--speculative", "Llama-3.2-1B", "--acceptance-rate", "2"], "--acceptance-rate"),
                         (["--speculative", "Llama-3.2-1B:8"], "draft_tokens")):  # k 2-5 measured
        result = run(*base, *args)
        assert result.exit_code == 2 and needle in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output

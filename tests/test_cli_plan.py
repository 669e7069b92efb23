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


SMALL = ["--rate", "1", "--max-gpus", "2", "--gpu-kinds", "H100-SXM-80GB", "--tp", "1", "--precisions", "bf16",
         "--frameworks", "vllm"]
TWO = ["-p", EXAMPLES / "code_gen.json", "-p", EXAMPLES / "conversation.json"]


def test_several_profiles_give_one_plan_each_in_order_as_alone_the_same_for_any_workers():
    one, two = run("plan", *TWO, *SMALL, "--json"), run("plan", *TWO, *SMALL, "--json", "--workers", "2")
    assert one.exit_code == two.exit_code == 0, one.output + two.output
    plans = json.loads(one.output)["plans"]
    assert plans == json.loads(two.output)["plans"]
    assert [p["profile_file"] for p in plans] == [str(EXAMPLES / n) for n in ("code_gen.json", "conversation.json")]
    assert [p["profile"] for p in plans] == ["code_gen", "conversation"]
    assert all(abs(p["offered_rate_per_s"] - 1) < 0.05 for p in plans)  # --rate for every profile (Poisson at 1/s)
    alone = run("plan", "-p", EXAMPLES / "conversation.json", *SMALL, "--json")
    assert {k: v for k, v in plans[1].items() if k != "profile_file"} == json.loads(alone.output)


def test_several_plans_as_csv_markdown_and_table_name_their_profiles():
    csv_out = run("plan", *TWO, *SMALL, "--format", "csv")
    assert csv_out.exit_code == 0, csv_out.output
    lines = csv_out.output.strip().splitlines()
    assert lines[0].startswith("profile_file,rec,deployment,")
    assert [x.split(",")[0] for x in lines[1:]] == [str(EXAMPLES / n) for n in ("code_gen.json", "conversation.json")]
    md = run("plan", *TWO, *SMALL, "--format", "markdown").output
    assert md.index(f"## {EXAMPLES / 'code_gen.json'}") < md.index(f"## {EXAMPLES / 'conversation.json'}")
    table = run("plan", *TWO, *SMALL).output
    assert table.count("recommended: ") == 2 and f"profile {EXAMPLES / 'conversation.json'}\n" in table


def test_several_profiles_refuse_a_bad_one_or_html_in_one_line_with_nothing_else(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x"}')
    for args, needles in (([*TWO, "-p", bad], ("--profile", str(bad))),
                          ([*TWO, "-p", tmp_path / "none.json"], ("--profile", "none.json")),
                          ([*TWO, "--html", tmp_path / "p.html"], ("--html", "2 profiles")),
                          ([*TWO, "--ray", "--workers", "2"], ("--workers", "--ray"))):
        result = run("plan", *args, *SMALL)
        assert result.exit_code == 2 and all(n in result.output for n in needles), (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_plan_ray_without_ray_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    result = run("plan", *TWO, *SMALL, "--ray")
    assert result.exit_code == 2 and "energy-predict[ray]" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_the_readmes_plan_steps_check_the_recommended_row_it_planned(tmp_path, monkeypatch):
    """README "Plan a deployment", step 3: its snippet writes the recommended row into a copy of the profile, and the
    report on that profile (online at the profile's rate) gives the row's energy a day, interval and p90 latencies."""
    import re
    import shutil

    readme = (EXAMPLES.parent / "README.md").read_text()
    section = readme[readme.index("## Plan a deployment"):]
    snippet = re.search(r"python3 - <<'EOF'\n(.*?)\nEOF\n", section, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLES / "code_gen.json", "conv.json")  # the README's names; a smaller workload than its trace
    planned = run("plan", "--profile", "conv.json", "--max-gpus", "2", "--gpu-kinds", "H100-SXM-80GB", "--tp", "1",
                  "--ttft-p90-ms", "2000", "--json")
    assert planned.exit_code == 0, planned.output
    Path("plan.json").write_text(planned.output)
    exec(compile(snippet, "README step 3", "exec"), {})
    checked = run("--profile", "recommended.json", "--json")
    assert checked.exit_code == 0, checked.output
    row, report = json.loads(planned.output)["recommended"], json.loads(checked.output)
    day = 86400 / report["online"]["period_s"]
    dep, candidate = report["deployment"], row["candidate"]
    assert report["mode"] == "online" and report["online"]["gpus"] == row["gpus"]
    assert (dep["gpu"], dep["tensor_parallel"], dep["max_batch"]) == (candidate["gpu"], candidate["tp"],
                                                                     candidate["batch_cap"])
    assert dep["quantization"] == {"bf16": None}.get(candidate["precision"], candidate["precision"])
    for key, plan_key in (("estimate", "energy_kwh_per_day"), ("low", "low_kwh_per_day"),
                          ("high", "high_kwh_per_day")):
        assert abs(report["energy_kwh"][key] * day / row[plan_key] - 1) < 1e-6, key
    assert abs(report["online"]["ttft_s"]["p90"] * 1000 / row["ttft_p90_ms"] - 1) < 1e-9


def test_plan_searches_the_engine_kinds_measured_and_the_user_bounds_them():
    """Issue 27 item 1's framework axis: by default the engines the model measured that serve online (vLLM with and
    without CUDA graphs); `--frameworks` bounds it; what was not measured (eager fp8) is refused in the notes with
    its reason, never guessed."""
    both = run(*ARGS, "--json")
    assert both.exit_code == 0, both.output
    out = json.loads(both.output)
    engines = {r["candidate"]["framework"] for r in out["front"]}
    assert engines <= {"vllm", "vllm-eager"}
    refused = [n for n in out["notes"] if "vllm-eager: not searched" in n]
    assert any(n.startswith("H100-SXM-80GB TP1 fp8 vllm-eager: not searched (serving: no measurements") for n in
               refused) and all("(serving" in n for n in refused), out["notes"]  # TP2: not measured eager either
    eager = json.loads(run(*ARGS, "--json", "--frameworks", "vllm-eager").output)
    assert {r["candidate"]["framework"] for r in eager["front"]} == {"vllm-eager"}
    assert all(" bf16 vllm-eager cap " in r["label"] for r in eager["front"])
    graphs = json.loads(run(*ARGS, "--json", "--frameworks", "vllm").output)
    assert {r["candidate"]["framework"] for r in graphs["front"]} == {"vllm"}
    assert out["counts"]["candidates"] == eager["counts"]["candidates"] + graphs["counts"]["candidates"]
    best = min([*eager["front"], *graphs["front"]], key=lambda r: r["energy_kwh_per_day"])
    assert out["recommended"]["label"] == best["label"]  # the joint search finds the better of the two
    with_hf = json.loads(run(*ARGS, "--json", "--frameworks", "vllm,hf").output)
    assert any(n.startswith("H100-SXM-80GB TP1 bf16 hf: not searched") and "continuous-batching" in n
               for n in with_hf["notes"]), with_hf["notes"]


def test_plan_refuses_a_bad_framework_axis_in_one_line():
    for value, needle in (("tensorrt", "use vllm, vllm-eager, hf, hf-compile"), ("hf,hf-compile", "fixed batches")):
        result = run(*ARGS, "--frameworks", value)
        assert result.exit_code == 2 and "--frameworks" in result.output and needle in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_the_python_api_takes_the_framework_axis():
    import energy_predict
    from energy_predict.errors import InputError

    p = energy_predict.plan(EXAMPLES / "code_gen.json", rate=1, max_gpus=1, gpu_kinds=["H100-SXM-80GB"],
                            precisions=["bf16"], frameworks=["vllm-eager"])
    assert p.recommended.candidate.framework == "vllm-eager"
    for bad in ("vllm", ["vllm", 3]):
        try:
            energy_predict.plan(EXAMPLES / "code_gen.json", rate=1, frameworks=bad)
        except InputError as exc:
            assert exc.field == "frameworks"
        else:
            raise AssertionError(f"frameworks={bad!r} was accepted")

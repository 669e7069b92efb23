"""One meaning per flag name across commands (issue 28, item 6; the rule is docs/cli.md's): --model the LLM,
--energy-model the fitted model, --gpu one GPU kind, --gpu-kinds a list to try, --gpu-count a count, --devices
indices to meter, --tp tensor parallelism. The old spellings still work for one release, hidden, with one warning."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from energy_predict.cli import app

REPO = Path(__file__).resolve().parents[1]
PROFILE = str(REPO / "examples" / "code_gen.json")
runner = CliRunner()

# the meaning of each name, and the commands that take it (visible in --help)
MEANINGS = {
    "--model": {"estimate", "profile from-trace", "replay"},  # the LLM
    "--energy-model": {"(main)", "compare", "gap", "capacity", "sweep-rate", "plan", "estimate"},
    "--gpu": {"estimate", "profile from-trace"},
    "--gpu-kinds": {"compare", "plan"},
    "--gpu-count": {"(main)"},
    "--devices": {"calibrate", "replay"},
    "--tp": {"estimate", "plan", "replay"},
}


def _commands(group, path=()):
    yield " ".join(path) or "(main)", group
    for name, sub in getattr(group, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _visible_options():
    root = typer.main.get_command(app)
    # p.param_type_name, not isinstance(p, click.Option): typer vendors its own click in some versions
    return {name: {o for p in cmd.params if p.param_type_name == "option" and not p.hidden for o in p.opts}
            for name, cmd in _commands(root)}


def test_each_name_is_taken_by_the_commands_of_its_one_meaning():
    options = _visible_options()
    for flag, commands in MEANINGS.items():
        assert {name for name, opts in options.items() if flag in opts} == commands, flag
    assert not [name for name, opts in options.items() if "--gpus" in opts or "--tensor-parallel" in opts]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _deprecation(old: str, new: str) -> str:
    return f"warning: {old} is deprecated and will be removed in the next release; use {new}"


@pytest.mark.parametrize(("old", "new"), [
    (["--model", "roofline"], ["--energy-model", "roofline"]),
    (["--rate", "2", "--gpus", "2"], ["--rate", "2", "--gpu-count", "2"]),
])
def test_the_reports_old_spellings_give_the_same_report_with_one_warning_line(old, new):
    before, after = run("--profile", PROFILE, *old, "--json"), run("--profile", PROFILE, *new, "--json")
    assert before.exit_code == 0 and after.exit_code == 0, before.output
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert before.stderr.splitlines() == [_deprecation(old[-2], new[-2])] and after.stderr == ""


@pytest.mark.parametrize(("command", "old", "new"), [
    (["compare"], ["--gpus", "H200-SXM-141GB"], ["--gpu-kinds", "H200-SXM-141GB"]),
    (["gap"], ["--model", "flops-tdp"], ["--energy-model", "flops-tdp"]),
])
def test_the_commands_old_spellings_give_the_same_answer(command, old, new):
    before = run(*command, "--profile", PROFILE, *old, "--json")
    after = run(*command, "--profile", PROFILE, *new, "--json")
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert before.stderr.splitlines()[0] == _deprecation(old[0], new[0])


def test_plans_old_gpus_spelling_names_its_bad_value_under_the_new_name():
    result = run("plan", "--profile", PROFILE, "--rate", "1", "--gpus", "NoSuchGPU")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == _deprecation("--gpus", "--gpu-kinds")
    assert result.stderr.splitlines()[1].startswith("error: --gpu-kinds")


@pytest.mark.parametrize(("args", "old", "new"), [
    (["calibrate", "grid.json", "--out", "run", "--gpus", "nan"], "--gpus", "--devices"),
    (["replay", "trace.csv", "--out", "run", "--gpus", "a"], "--gpus", "--devices"),
])
def test_the_metered_gpus_old_spelling_is_read_as_devices(tmp_path, args, old, new):
    result = run(*[str(tmp_path / a) if a.endswith((".json", ".csv")) or a == "run" else a for a in args])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [_deprecation(old, new), result.stderr.splitlines()[1]]
    assert result.stderr.splitlines()[1].startswith(f"error: {new}: ")


@pytest.mark.parametrize("args", [
    ["--profile", PROFILE, "--model", "roofline", "--energy-model", "roofline"],
    ["--profile", PROFILE, "--gpus", "2", "--gpu-count", "2"],
    ["compare", "--profile", PROFILE, "--gpus", "H200-SXM-141GB", "--gpu-kinds", "H200-SXM-141GB"],
    ["replay", "t.csv", "--out", "o", "--tensor-parallel", "2", "--tp", "2"],
])
def test_an_old_and_a_new_spelling_together_are_refused(args):
    result = run(*args)
    assert result.exit_code == 2 and "which means the same" in result.stderr.splitlines()[-1]


def test_refusals_name_the_new_spelling():
    result = run("--profile", PROFILE, "--energy-model", "nope")
    assert result.exit_code == 2 and result.stderr.startswith("error: --energy-model: no model 'nope'")
    offline_only = run("--profile", PROFILE, "--energy-model", "roofline", "--rate", "2")
    assert offline_only.exit_code == 2 and "--energy-model:" in offline_only.stderr

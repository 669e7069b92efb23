"""The report's --rate simulation shows a progress bar with an ETA on standard error when it takes more than a
second, in a terminal and without -q (issue 28, item 4 of the second pass); the simulator reports its progress
through an optional callback and answers the same with or without one."""

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from energy_predict import cli
from energy_predict.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PROFILE = str(EXAMPLES / "conversation.json")


def test_the_simulator_reports_its_progress_and_answers_the_same():
    from energy_predict.predict.run import predict_profile

    model = cli._load_model("default")
    seen = []
    with_bar = predict_profile(Path(PROFILE), model, 6.0, 2, lambda done, total: seen.append((done, total)))
    without = predict_profile(Path(PROFILE), model, 6.0, 2)
    assert with_bar.report.to_json() == without.report.to_json()
    total = with_bar.report.requests
    assert len(seen) >= 3 and {t for _, t in seen} == {total}
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == total and done[0] < total  # both engines, in order, to the end


@pytest.fixture
def terminal(monkeypatch):
    """Standard error as a terminal, and every simulation 'slow' (the bar's delay 0 s)."""
    stream = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=stream, force_terminal=True, width=100, markup=False,
                                            highlight=False))
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 0.0)
    return stream


def test_a_slow_simulation_draws_a_bar_with_an_eta_in_a_terminal(terminal):
    result = CliRunner().invoke(app, ["--profile", PROFILE, "--rate", "6", "--json"])
    assert result.exit_code == 0, result.output
    drawn = terminal.getvalue()
    assert "simulating requests" in drawn and "ETA" in drawn
    json.loads(result.stdout)  # standard output holds the report alone


def test_quiet_draws_no_bar(terminal):
    result = CliRunner().invoke(app, ["-q", "--profile", PROFILE, "--rate", "6", "--json"])
    assert result.exit_code == 0, result.output
    assert terminal.getvalue() == ""


def test_a_quick_simulation_draws_no_bar(terminal, monkeypatch):
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 3600.0)
    result = CliRunner().invoke(app, ["--profile", PROFILE, "--rate", "6", "--json"])
    assert result.exit_code == 0 and terminal.getvalue() == ""


def test_off_a_terminal_no_bar_and_no_callback(monkeypatch):
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 0.0)
    calls = []
    real = cli._LateProgress.__call__
    monkeypatch.setattr(cli._LateProgress, "__call__", lambda self, *a: calls.append(a) or real(self, *a))
    result = CliRunner().invoke(app, ["--profile", PROFILE, "--rate", "6", "--json"])
    assert result.exit_code == 0 and result.stderr == "" and calls == []


@pytest.mark.parametrize(("args", "label"), [
    (["plan", "-p", str(EXAMPLES / "code_gen.json"), "--gpu-kinds", "H100-SXM-80GB", "--tp", "1,2", "--precisions",
      "bf16", "--max-gpus", "2", "--json"], "planning: candidate families"),
    (["data", "list", "--json"], "reading runs"), (["data", "cells", "--csv", "-"], "reading runs"),
    (["compare", "--profile", str(EXAMPLES / "code_gen.json"), "--batch-caps", "16", "--json"], "comparing options"),
    (["capacity", "--profile", str(EXAMPLES / "code_gen.json"), "--rate", "4", "--json"], "searching GPU layouts"),
    (["sweep-rate", "--profile", str(EXAMPLES / "code_gen.json"), "--rates", "1,2", "--max-gpus", "1", "--json"],
     "simulating rates")])
def test_the_commands_that_take_seconds_draw_a_bar_in_a_terminal(terminal, args, label):
    """plan (13 s of CPU on its full space), data list and cells (all records), compare, capacity, sweep-rate."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    drawn = terminal.getvalue()
    assert label in drawn and "ETA" in drawn
    if "--json" in args:
        json.loads(result.stdout)  # standard output holds the answer alone
    else:
        assert result.stdout.startswith("backend,")  # data cells --csv -: the CSV alone

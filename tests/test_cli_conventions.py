"""CLI conventions (issue 28, item 6): --version, -h, completion, -v/-q, help on every option, one name one
meaning with deprecated aliases, a missing extra in one line, outputs in each --format. Run as a user would:
a subprocess, no terminal, COLUMNS set."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer

from energy_predict import __version__
from energy_predict.cli import app

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "examples" / "code_gen.json"
ENV = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "energy_predict", *map(str, args)], capture_output=True, text=True,
                          env=env or ENV, timeout=120)


def _commands(group: click.Command, path=()):
    yield path, group
    for name, sub in getattr(group, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_option_of_every_command_has_help():
    root = typer.main.get_command(app)
    missing = [f"{' '.join(path) or '(main)'} {p.opts[0]}" for path, cmd in _commands(root) for p in cmd.params
               if p.param_type_name == "option" and not p.hidden and not (p.help or "").strip()]
    # p.param_type_name, not isinstance(p, click.Option): typer vendors its own click in some versions, whose
    # options are no click.Option (the isinstance check passed with no option seen)
    assert not missing, missing
    assert sum(p.param_type_name == "option" for _, cmd in _commands(root) for p in cmd.params) > 100
    assert len(list(_commands(root))) > 10


def test_json_is_a_flag_in_help_and_deprecated_spellings_are_hidden():
    text = cli("gap", "-h").stdout
    assert "--json" in text and "<bool>" not in text and "--format" in text
    assert "--latency-p90-s" not in cli("capacity", "--help").stdout
    assert "--ttft-p90-ms" in cli("capacity", "--help").stdout


def test_version_help_and_completion():
    assert cli("--version").stdout.strip() == f"energy-predict {__version__}"
    assert "Usage:" in cli("-h").stdout and "--install-completion" in cli("-h").stdout
    assert "--show-completion" in cli("--help").stdout


def test_a_deprecated_spelling_works_with_one_warning_line():
    result = cli("capacity", "--profile", PROFILE, "--rate", "2", "--latency-p90-s", "0.3", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["warning: --latency-p90-s is deprecated and will be removed in the next "
                                          "release; use --ttft-p90-ms"]
    assert json.loads(result.stdout)["ttft_target_ms"] == pytest.approx(300)
    both = cli("capacity", "--profile", PROFILE, "--rate", "2", "--latency-p90-s", "0.3", "--ttft-p90-ms", "300")
    assert both.returncode == 2 and both.stderr.splitlines()[-1].startswith("error: --latency-p90-s")


def test_quiet_and_verbose_anywhere_on_the_line(tmp_path):
    loud = cli("--profile", PROFILE, "--plot-dir", tmp_path / "a", "-v")
    assert loud.returncode == 0 and "energy-predict: predicting" in loud.stderr and "wrote" in loud.stderr
    quiet = cli("--profile", PROFILE, "--plot-dir", tmp_path / "b", "-q")
    assert quiet.returncode == 0 and quiet.stderr == "" and len(list((tmp_path / "b").iterdir())) == 3


def test_no_progress_bar_off_a_terminal():
    result = cli("sweep-rate", "--profile", PROFILE, "--rates", "1,2", "--max-gpus", "1")
    assert result.returncode == 0 and "\x1b" not in result.stderr + result.stdout and "ETA" not in result.stderr


def test_a_bad_format_is_one_line_and_exit_2():
    result = cli("gap", "--profile", PROFILE, "--format", "xml")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--format" in result.stderr


@pytest.mark.parametrize("args", [["gap"], ["compare", "--batch-caps", "16"], ["capacity", "--rate", "2"],
                                  ["sweep-rate", "--rates", "1", "--max-gpus", "1"], []])
def test_each_format_carries_the_same_names(args):
    as_json = json.loads(cli(*args, "--profile", PROFILE, "--json").stdout)
    as_csv = list(csv.reader(io.StringIO(cli(*args, "--profile", PROFILE, "--format", "csv").stdout)))
    md = cli(*args, "--profile", PROFILE, "--format", "markdown").stdout
    table = cli(*args, "--profile", PROFILE).stdout
    header = as_csv[0]
    first = (as_json if isinstance(as_json, list) else as_json.get("rows") or as_json.get("points")
             or as_json.get("bins") or [as_json])[0]
    assert set(header) <= set(first), set(header) - set(first)  # every CSV column is a JSON key
    if args and args[0] != "capacity":
        assert all(name in table.split() for name in header)  # and a table column
    assert "|" in md and "---" in md


def test_report_units_never_mix():
    r = json.loads(cli("--profile", PROFILE, "--rate", "2", "--json").stdout)
    assert r["schema"] == "energy-predict/report/v3"
    b = r["bins"][0]
    assert b["energy_wh"] == pytest.approx(1000 * b["energy_kwh"])
    assert r["latency"]["ttft_p90_ms"] == pytest.approx(1000 * r["online"]["ttft_s"]["p90"])
    t = r["per_token_j"]
    assert t["decode_j_per_output_token"] == r["energy_per_output_token_j"]
    all_j = 3.6e6 * r["energy_kwh"]["estimate"]
    assert t["energy_j_per_output_token"] == pytest.approx(all_j / r["tokens"]["output"], rel=1e-6)
    assert t["energy_j_per_total_token"] == pytest.approx(all_j / (r["tokens"]["input"] + r["tokens"]["output"]),
                                                          rel=1e-6)


def test_compare_says_a_costlier_option_as_a_ratio_not_a_percentage():
    out = json.loads(cli("compare", "--profile", PROFILE, "--batch-caps", "1", "--json").stdout)
    for row in out["rows"]:
        assert row["energy_over_reference"] == pytest.approx(1 - row["saving_pct"] / 100)
        assert row["energy_j_per_output_token"] == row["total_j_per_output_token"]
    assert "%" not in cli("compare", "--profile", PROFILE, "--batch-caps", "1").stdout.split("\n", 3)[-1]


BLOCK = """
import importlib.util, sys
HEAVY = ("torch", "vllm", "transformers", "pynvml")
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(name)
sys.meta_path.insert(0, Block())
find = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: None if name.split(".")[0] in HEAVY else find(name, package)
from energy_predict.cli import main
sys.argv = ["energy-predict", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("args", [["replay", REPO / "examples/traces/burstgpt.csv"],
                                  ["calibrate", REPO / "campaigns/2026-12-07-h100-long-context/large-batch.json"]])
def test_a_missing_extra_is_named_in_one_line_with_its_install_command(args, tmp_path):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-c", BLOCK, *map(str, args), "--out", str(out)], capture_output=True,
                            text=True, env=ENV, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "pip install 'energy-predict[" in errors[0]
    assert not out.exists()  # nothing half-written


TABLE_COMMANDS = {
    "report": ["--profile", PROFILE], "estimate": ["estimate", "--model", "Llama-3.1-8B", "--gpu", "H100-SXM-80GB",
                                                   "--input", "1024", "--output", "256", "--requests", "1000"],
    "compare": ["compare", "--profile", PROFILE, "--batch-caps", "16,256"], "gap": ["gap", "--profile", PROFILE],
    "capacity": ["capacity", "--profile", PROFILE, "--rate", "10"],
    "sweep-rate": ["sweep-rate", "--profile", PROFILE, "--rates", "1,4", "--max-gpus", "2"],
    "plan": ["plan", "-p", PROFILE, "--gpu-kinds", "H100-SXM-80GB", "--tp", "1,2", "--precisions", "bf16",
             "--max-gpus", "2"],
    "data list": ["data", "list"], "data cells": ["data", "cells"]}


@pytest.mark.parametrize("name", sorted(TABLE_COMMANDS))
def test_off_a_terminal_at_80_and_60_columns_no_word_or_number_is_folded(name):
    """Issue 28's done-when: `... | cat` and `> file` at 80 columns (and 60) print every word and number whole.

    Every word of the narrow output is one of the unwrapped output's (a rule of dashes aside), and no line runs past
    the width but one whose last word alone is too long for it (a run id, a list of models without spaces).
    """
    from typer.testing import CliRunner

    def run(columns):
        env = {"COLUMNS": columns, "TERM": "dumb", "FORCE_COLOR": None, "TTY_COMPATIBLE": None}
        result = CliRunner().invoke(app, [str(a) for a in TABLE_COMMANDS[name]], env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    wide = set(run(None).split())
    for width in (80, 60):
        text = run(str(width))
        folded = {w for w in text.split() if w not in wide and set(w) != {"-"}}
        assert not folded, (width, sorted(folded)[:10])
        over = [line for line in text.splitlines() if len(line) > width and len(line.split()[-1]) <= width - 20]
        assert not over, (width, over[:3])

"""The README's shown commands exist and parse (issue 28, item 7): every `energy-predict` line of a bash block
parses against the real CLI, every script it runs is a file that compiles, every extra it installs is one
pyproject.toml declares, and its test command pulls no torch (on a normal machine that is the CUDA build)."""

from __future__ import annotations

import ast
import re
import shlex

import pytest
import typer.main

from energy_predict.cli import app
from tests.conftest import REPO

# typer vendors click in some versions: its classes are the ones typer's own exceptions derive from
USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
README = (REPO / "README.md").read_text()
_OPTIONAL = (REPO / "pyproject.toml").read_text().split("[project.optional-dependencies]")[1].split("\n[")[0]
EXTRAS = set(re.findall(r"^(\w+) = \[", _OPTIONAL, flags=re.M))  # tomllib is 3.11+; the package supports 3.10


def bash_commands() -> list[str]:
    """Each command of the README's bash blocks: continuation lines joined, comments cut, `&&` and `;` split."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = re.sub(r"\s#\s.*$", "", line).strip()
            if not line or line.startswith("#"):
                continue
            line = re.sub(r"\s(>|2>|\|)\s.*$", "", line)  # a redirect or pipe after the command is the shell's
            commands += [c.strip() for c in re.split(r"&&|;", line) if c.strip()]
    return commands


COMMANDS = bash_commands()
CLI = [c for c in COMMANDS if c.startswith("energy-predict")]
SCRIPTS = [c for c in COMMANDS if re.match(r"(taskset -c \d+ )?python3? [\w/]+\.py", c)]
PIP_INSTALLS = [c for c in COMMANDS if c.startswith("python3 -m pip install")]


def _rest(ctx) -> list[str]:
    """A group's arguments left for its subcommand (click keeps the subcommand's name apart, under one of two names)."""
    protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", None) or []
    return [*protected, *ctx.args]


def parse_cli(argv: list[str]) -> None:
    """Parse argv as `energy-predict` would, down to the subcommand (a usage error raises click's UsageError)."""
    command = typer.main.get_command(app)
    ctx = command.make_context("energy-predict", list(argv))
    while hasattr(command, "get_command") and _rest(ctx):  # a group: on to its subcommand
        name, *rest = _rest(ctx)
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r}"
        command, ctx = sub, sub.make_context(name, rest, parent=ctx)


def test_the_readme_shows_commands_of_each_kind():
    assert len(CLI) >= 3 and len(SCRIPTS) >= 5 and len(PIP_INSTALLS) >= 2
    assert {"data", "plots", "fit", "calibrate", "test"} <= EXTRAS


@pytest.mark.parametrize("argv", [["--profilex", "p.json"], ["no-such-command"], ["calibrate"],
                                  ["replay", "t.jsonl", "--n", "many"]])
def test_a_command_that_does_not_parse_is_caught(argv):
    with pytest.raises((USAGE_ERROR, AssertionError)):
        parse_cli(argv)


@pytest.mark.parametrize("command", CLI)
def test_each_cli_command_parses(command):
    argv = shlex.split(command.replace("$pc", "--prefix-caching"))[1:]
    parse_cli(argv)
    for arg in argv:  # a shipped example it names is in the checkout
        if arg.startswith("examples/"):
            assert (REPO / arg).is_file(), arg


@pytest.mark.parametrize("command", SCRIPTS)
def test_each_script_exists_and_compiles(command):
    script = next(a for a in shlex.split(command) if a.endswith(".py"))
    path = REPO / script
    assert path.is_file(), script
    ast.parse(path.read_text(), filename=script)


@pytest.mark.parametrize("command", PIP_INSTALLS)
def test_each_install_names_declared_extras(command):
    for extras in re.findall(r"\.\[([\w,]+)\]", command):
        assert set(extras.split(",")) <= EXTRAS, command


def test_the_test_command_is_the_one_ci_runs_and_pulls_no_torch():
    (test_command,) = [c for c in re.findall(r"^python3 -m pip install .*&& python3 -m pytest$", README, re.M)]
    assert "torch" not in test_command and "calibrate" not in test_command  # calibrate's extra holds torch
    ci = (REPO / ".ci" / "run").read_text()
    assert "grep -m1 -E '^python3 -m pip install .*&& python3 -m pytest' README.md" in ci
    assert "python3 -m pip install -q torch==2.13.0" in ci  # the CI machine's local CPU wheel, for the HF tests


def test_the_set_up_commands_say_how_long_they_take():
    setup = README[README.index("## Set up"):README.index("## Commands")]
    assert setup.count("```bash") == 2
    for block_end in [m.end() for m in re.finditer(r"```bash\n.*?```", setup, flags=re.S)]:
        before = setup[:block_end].rsplit("```bash", 1)[0][-400:]
        assert re.search(r"minute|\d+ s\b", before), before

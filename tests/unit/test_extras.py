"""A plain install (no extras) predicts; a command that needs an extra names it and the pip command in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from energy_predict.extras import EXTRA_OF, MissingExtra, from_import_error
from tests.conftest import EXAMPLES
from tests.test_hostile import RUN_JSON

# A process in which the extras' modules cannot be imported, as on a plain install, running the CLI.
BLOCKED = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Block())
import importlib.util
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: None if name.split(".")[0] in {blocked!r} else real(name, package)
sys.argv = ["energy-predict", *sys.argv[1:]]
from energy_predict.cli import main
main()
"""
EXTRAS = {"pyarrow", "matplotlib", "sklearn", "scipy", "xgboost", "torch"}


def run_plain(*args, cwd):
    code = BLOCKED.format(blocked=EXTRAS)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_the_report_on_the_shipped_example_needs_no_extra_and_plots_name_theirs(tmp_path):
    proc = run_plain("--profile", str(EXAMPLES / "code_gen.json"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_plain("--profile", str(EXAMPLES / "code_gen.json"), "--plot-dir", str(tmp_path / "plots"), cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "pip install 'energy-predict[plots]'" in lines[0] and "Traceback" not in proc.stderr


def test_reading_records_names_the_data_extra(tmp_path):
    run = tmp_path / "r1"
    run.mkdir()
    (run / "records.parquet").write_bytes(b"PAR1")
    (run / "run.json").write_text(json.dumps(RUN_JSON))
    proc = run_plain("data", "cells", "--dir", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "pip install 'energy-predict[data]'" in proc.stderr


def test_every_extra_is_declared_in_pyproject():
    from tests.test_readme_commands import EXTRAS as declared

    assert set(EXTRA_OF.values()) <= declared


@pytest.mark.parametrize("module", ["sklearn", "matplotlib.pyplot"])
def test_an_import_error_of_an_extra_becomes_the_pip_line_and_another_stays_a_bug(module, monkeypatch):
    monkeypatch.setattr("energy_predict.extras.is_installed", lambda name: False)
    missing = from_import_error(ModuleNotFoundError(f"No module named {module!r}", name=module))
    assert isinstance(missing, MissingExtra) and f"energy-predict[{EXTRA_OF[module.split('.')[0]]}]" in str(missing)
    assert from_import_error(ModuleNotFoundError("No module named 'nope'", name="nope")) is None
    assert from_import_error(ImportError("cannot import name 'x' from 'energy_predict'")) is None

"""The layout is the architecture: stages talk only through artifacts and the shared vocabulary."""

import ast
import subprocess
import sys

import pytest

from tests.conftest import REPO

PKG = REPO / "src" / "energy_predict"
STAGES = ("calibrate", "model", "predict")
HEAVY = ("torch", "vllm", "pynvml", "ray", "transformers")


def _imports(path):
    """Every module name a file imports, absolute (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text())
    package = ["energy_predict", *path.relative_to(PKG).parts[:-1]]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                yield ".".join([*base, node.module] if node.module else base)
            else:
                yield node.module


def _stage_files(stage):
    return sorted((PKG / stage).rglob("*.py"))


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_another_stage(stage):
    offenders = []
    for path in _stage_files(stage):
        for name in _imports(path):
            parts = (name or "").split(".")
            if parts[0] in STAGES or (parts[0] == "energy_predict" and len(parts) > 1 and parts[1] in STAGES
                                      and parts[1] != stage):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders


def test_the_vocabulary_imports_no_stage_except_the_cli():
    offenders = []
    for path in sorted(PKG.glob("*.py")):
        if path.name in ("cli.py", "api.py") or path.name.startswith("cli_"):  # composition roots: the CLI and the
            # Python API load a model and hand it to predict
            continue
        for name in _imports(path):
            parts = (name or "").split(".")
            if parts[0] == "energy_predict" and len(parts) > 1 and parts[1] in STAGES:
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_has_one_import_name(stage):
    result = subprocess.run([sys.executable, "-c", f"import {stage}"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0 and f"No module named '{stage}'" in result.stderr
    assert not (REPO / stage).exists(), f"{stage}/ belongs under src/energy_predict/"


def test_the_package_has_no_path_trick_and_the_build_lists_every_package():
    import tomllib

    assert "__path__" not in (PKG / "__init__.py").read_text()
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO / "src").parts) for p in PKG.rglob("__init__.py")}
    assert found | {"energy_predict.artifacts"} == listed
    assert not (REPO / "artifacts" / "__init__.py").exists(), "artifacts/ is data, not a package"


def test_prediction_path_imports_no_heavy_or_fitting_library():
    code = ("import sys; from pathlib import Path; from energy_predict.cli import _load_model; "
            "from energy_predict.predict.run import predict_profile; "
            f"predict_profile(Path({str(REPO / 'examples' / 'code_gen.json')!r}), _load_model('default'), rate=2.57); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{HEAVY + ('sklearn', 'scipy', 'xgboost', 'joblib')!r}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

"""Issue 13, parts 1 and 4: no pickle is ever loaded, a model folder is checked by its manifest before it is
read, and `model fit` rebuilds the shipped model from committed inputs only, writing only where it should."""

import json
import pickle
import shutil
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from energy_predict.cli import app
from energy_predict.errors import EnergyPredictError
from energy_predict.model import card_io, persistence
from energy_predict.model import inputs as fit_inputs_module
from energy_predict.model.padding import fit_padding
from tests.conftest import REPO

runner = CliRunner()
SHIPPED = REPO / "artifacts" / "models" / "default"
PROFILE = REPO / "examples" / "code_gen.json"
PADDING_FIT = REPO / "artifacts" / "padding" / fit_inputs_module.PADDING_FIT
IGNORED = {"created", "commit", "versions"}  # when and from what a fit ran, not what it fitted


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


class _Payload:
    """Unpickling this creates `path`: what a planted model.joblib could do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def plant(folder, marker) -> bytes:
    data = pickle.dumps(_Payload(marker))
    for name in ("model.joblib", "model.pkl", "estimator.pickle"):
        (folder / name).write_bytes(data)
    return data


@pytest.fixture
def model_copy(tmp_path):
    folder = tmp_path / "models" / "default"
    shutil.copytree(SHIPPED, folder)
    return folder


def test_shipped_model_has_no_pickle_and_a_manifest():
    assert sorted(p.name for p in SHIPPED.iterdir()) == ["card.json", "manifest.json", "model.json"]
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    assert manifest["schema_version"] == card_io.SCHEMA_VERSION
    assert set(manifest["sha256"]) == {"model.json", "card.json"}
    assert "joblib" not in (REPO / "pyproject.toml").read_text()


def hf_profile(folder):
    """The code-generation profile served by HF generate (the padded-batch path reads the card's padding term)."""
    profile = json.loads(PROFILE.read_text())
    profile["serving"].update(framework="hf", cuda_graphs=False, max_batch=16)
    path = folder / "hf.json"
    path.write_text(json.dumps(profile))
    return path


@pytest.mark.parametrize("framework", ["vllm", "hf"])
def test_planted_pickle_never_runs(model_copy, tmp_path, monkeypatch, framework):
    marker = tmp_path / "pwned"
    profile = PROFILE if framework == "vllm" else hf_profile(tmp_path)
    payload = plant(model_copy, marker)

    # --energy-model DIR through the CLI, and the library
    result = invoke("--profile", profile, "--energy-model", model_copy, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["model"]["kind"] == "measured"
    assert (report.get("hf_padded_batches") is not None) == (framework == "hf")
    model = persistence.load_model(str(model_copy))
    assert model.card.name == "default"
    assert not marker.exists()

    # the same folder as the shipped default, by name
    monkeypatch.setattr(persistence, "models_dir", lambda: model_copy.parent)
    result = invoke("--profile", profile, "--json")
    assert result.exit_code == 0, result.output
    assert persistence.load_default_model().kind == "measured"
    assert not marker.exists()

    # the planted file was live: unpickling it is what creates the marker
    pickle.loads(payload)
    assert marker.exists()


def test_a_pickle_alone_is_not_a_model(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    marker = tmp_path / "pwned"
    plant(folder, marker)
    result = invoke("--profile", PROFILE, "--energy-model", folder)
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1 and "--energy-model" in result.output
    assert not marker.exists()


def _edit_coefficient(folder):
    data = json.loads((folder / "model.json").read_text())
    data["energy"]["coefficients"][0]["coef"][0] *= 2
    (folder / "model.json").write_text(json.dumps(data, indent=1) + "\n")


def _edit_card(folder):
    card = json.loads((folder / "card.json").read_text())
    card["valid"]["gpus"].append("B200")
    (folder / "card.json").write_text(json.dumps(card, indent=1) + "\n")


def _manifest(folder, change):
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


TAMPER = {
    "model-json-coefficient": (_edit_coefficient, "model.json"),
    "model-json-whitespace": (lambda f: (f / "model.json").write_text((f / "model.json").read_text() + " "),
                              "model.json"),
    "card-json-edited": (_edit_card, "card.json"),
    "manifest-missing": (lambda f: (f / "manifest.json").unlink(), "manifest.json"),
    "manifest-unknown-schema": (lambda f: _manifest(f, lambda m: m.update(schema_version=99)), "manifest.json"),
    "manifest-extra-file": (lambda f: _manifest(f, lambda m: m["sha256"].update({"model.pkl": "0" * 64})),
                            "manifest.json"),
    "manifest-not-json": (lambda f: (f / "manifest.json").write_text("{oops"), "manifest.json"),
    "manifest-list": (lambda f: (f / "manifest.json").write_text("[1]"), "manifest.json"),
    "model-json-missing": (lambda f: (f / "model.json").unlink(), "model.json"),
}


@pytest.mark.parametrize("how", sorted(TAMPER))
def test_tampered_model_is_refused_with_one_line(model_copy, monkeypatch, how):
    tamper, named = TAMPER[how]
    tamper(model_copy)
    monkeypatch.setattr(persistence, "models_dir", lambda: model_copy.parent)
    for args in (["--energy-model", model_copy], []):  # a folder, and the shipped default (never a silent fallback)
        result = invoke("--profile", PROFILE, *args)
        assert result.exit_code == 2, result.output
        (line,) = error_lines(result)
        assert line.startswith("error: --energy-model:") and named in line and "energy-predict model fit" in line
        assert "Traceback" not in result.output
    with pytest.raises(EnergyPredictError, match=named):
        persistence.load_model(str(model_copy))


def test_save_model_round_trips_through_the_manifest(tmp_path):
    model = persistence.load_model(str(SHIPPED))
    folder = persistence.save_model(model, tmp_path / "m")
    again = persistence.load_model(str(folder))
    assert again.card == model.card and again.log_bounds == model.log_bounds
    assert (folder / "card.json").read_bytes() == (SHIPPED / "card.json").read_bytes()
    assert (folder / "model.json").read_bytes() == (SHIPPED / "model.json").read_bytes()
    assert (folder / "manifest.json").read_text() == (SHIPPED / "manifest.json").read_text()


@pytest.mark.parametrize("name", ["../../x", "..", "a/b", "/tmp/x", "", "x.y", "名前", "[/x]"])
def test_model_fit_takes_a_name_not_a_path(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in (REPO / "artifacts" / "models").iterdir())
    result = invoke("model", "fit", "--name", name)
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result)
    assert line.startswith("error: --name:")
    assert sorted(p.name for p in (REPO / "artifacts" / "models").iterdir()) == before
    assert not list(tmp_path.iterdir())


def test_model_fit_refuses_outside_a_source_checkout(tmp_path, monkeypatch):
    installed = tmp_path / "site-packages" / "energy_predict" / "artifacts"
    shutil.copytree(SHIPPED, installed / "models" / "default")
    monkeypatch.setattr(persistence, "artifacts_dir", lambda: installed)
    result = invoke("model", "fit")
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result)
    assert "source checkout" in line
    assert (installed / "models" / "default" / "card.json").read_bytes() == (SHIPPED / "card.json").read_bytes()


def test_model_fit_refuses_without_the_padding_input(tmp_path, monkeypatch):
    monkeypatch.setattr(fit_inputs_module, "padding_dir", lambda: tmp_path)
    monkeypatch.setattr(persistence, "models_dir", lambda: tmp_path / "models")
    result = invoke("model", "fit", "--name", "scratch")
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result)
    assert fit_inputs_module.PADDING_FIT in line and "missing" in line
    assert not (tmp_path / "models").exists()


def test_model_fit_refuses_a_run_without_committed_records(tmp_path, monkeypatch):
    import energy_predict.datasets as datasets

    calibration = tmp_path / "calibration"
    shutil.copytree(REPO / "artifacts" / "calibration", calibration)
    run = sorted(p for p in calibration.iterdir() if (p / "records.parquet").is_file())[0]
    (run / "records.parquet").unlink()  # a run known only by its (git-ignored) journal, or by nothing
    monkeypatch.setattr(datasets, "calibration_dir", lambda: calibration)
    monkeypatch.setattr(persistence, "models_dir", lambda: tmp_path / "models")
    result = invoke("model", "fit", "--name", "scratch")
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result)
    assert f"{run.name}/records.parquet is missing" in line
    assert not (tmp_path / "models").exists()


def test_padding_fit_agrees_with_its_published_cell_means():
    """The committed coefficients are the fit of the lost rows: the rounded means docs/findings.md published
    refit to within a few percent of them (not exactly: the means were rounded to 1 J)."""
    fit = json.loads(PADDING_FIT.read_text())
    assert fit["raw_rows"]["committed"] is False and "lost" in fit["raw_rows"]["statement"]
    table = fit["published_cell_means_j"]
    rows = [{"b": b, "i": i, "o": o, "variant": variant, "energy_j": energy}
            for b, i, o, *energies in table["rows"]
            for variant, energy in zip(table["columns"][3:], energies) if energy is not None]
    np.testing.assert_allclose(fit_padding(rows), fit["coef"], rtol=0.05)


def _assert_same(fitted, shipped, path=""):
    """Equal JSON trees, floats to ~1e-9 relative."""
    if isinstance(shipped, dict):
        assert isinstance(fitted, dict) and set(fitted) == set(shipped), path
        for key in shipped:
            _assert_same(fitted[key], shipped[key], f"{path}.{key}")
    elif isinstance(shipped, list):
        assert isinstance(fitted, list) and len(fitted) == len(shipped), path
        for i, (a, b) in enumerate(zip(fitted, shipped)):
            _assert_same(a, b, f"{path}[{i}]")
    elif isinstance(shipped, float):
        assert fitted == pytest.approx(shipped, rel=1e-9, abs=1e-300), path
    else:
        assert fitted == shipped, path


@pytest.mark.slow
def test_refit_reproduces_the_shipped_model(refit):  # refit: tests/conftest.py, one fit for the session
    card, shipped_card = (json.loads((f / "card.json").read_text()) for f in (refit, SHIPPED))
    _assert_same({k: v for k, v in card.items() if k not in IGNORED},
                 {k: v for k, v in shipped_card.items() if k not in IGNORED})
    _assert_same(json.loads((refit / "model.json").read_text()), json.loads((SHIPPED / "model.json").read_text()))
    # the parts the issue names, spelled out
    assert card["training"]["table_sha256_16"] == shipped_card["training"]["table_sha256_16"]
    assert card["interval"]["log_bounds"] == pytest.approx(shipped_card["interval"]["log_bounds"], rel=1e-9)
    assert card["hf_padding"] is not None and card["hf_padding"] == shipped_card["hf_padding"]
    assert card["hf_padding"]["coef"] == json.loads(PADDING_FIT.read_text())["coef"]
    assert card["valid"] == shipped_card["valid"]


def test_every_input_the_card_cites_is_committed():
    card = json.loads((SHIPPED / "card.json").read_text())
    option_runs = card["training"]["option_runs"]  # the decoding and speculative cells the options are fitted on
    assert option_runs
    inputs = fit_inputs_module.fit_inputs(card["training"]["runs"] + option_runs)
    assert PADDING_FIT in inputs
    assert {f"{p.parent.name}/{p.name}" for p in inputs} >= {f"{r}/records.parquet" for r in card["training"]["runs"]}
    if subprocess.run(["git", "rev-parse"], cwd=REPO, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    assert fit_inputs_module.uncommitted(inputs) == []
    assert fit_inputs_module.uncommitted([SHIPPED / f for f in ("model.json", "card.json", "manifest.json")]) == []

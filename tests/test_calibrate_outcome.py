"""`calibrate` never reports success it did not have: failed cells are counted, and the exit code says so."""

import json

import pytest
from typer.testing import CliRunner

from energy_predict.calibrate import preflight, sweep
from energy_predict.calibrate.backends import base
from energy_predict.calibrate.meter import NullMeter
from energy_predict.calibrate.sweep import read_outcome
from energy_predict.cli import app
from energy_predict.datasets import load_records
from tests.fakes import FakeBackend, TickingMeter
from tests.test_calibrate import grid_dict, tiny_config  # noqa: F401 - a fixture

runner = CliRunner()


class UnloadableBackend(FakeBackend):
    def __init__(self):
        super().__init__()
        self.loads = 0

    def load(self, arch, config):
        self.loads += 1
        raise OSError("weights not found: /models/missing")


@pytest.fixture
def engine(monkeypatch):
    """Calibrate through the real CLI with a fake engine and meter; returns a setter for the engine."""
    chosen = {"backend": FakeBackend(), "meter": TickingMeter()}
    monkeypatch.setattr(base, "make_backend", lambda name, device=None: chosen["backend"])
    monkeypatch.setattr(preflight, "check_gpu", lambda device, command="calibrate": None)  # the fake engine's GPU
    monkeypatch.setattr(preflight, "check_installed", lambda backends: None)  # and its framework (torch may be absent)
    monkeypatch.setattr(sweep, "open_meter", lambda gpus: chosen["meter"])
    return chosen


def calibrate(tmp_path, *args, **grid_overrides):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(grid_dict(grid_overrides.pop("model", "Llama-3.2-1B"), min_window_s=0.0,
                                         **grid_overrides)))
    return runner.invoke(app, ["calibrate", str(path), "--out", str(tmp_path / "run"), *args])


def lines(result):
    return [line for line in result.output.splitlines() if line.strip()]


def test_every_cell_ok_exits_0_with_the_counts(tmp_path, engine):
    result = calibrate(tmp_path)
    assert result.exit_code == 0, result.output
    assert "8 cells: 8 ok, 0 infeasible, 0 error" in result.output
    assert "warning" not in result.output and "error:" not in result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"


def test_every_cell_failing_exits_1_with_a_summary(tmp_path, engine):
    engine["backend"] = FakeBackend(fail_input=8)
    result = calibrate(tmp_path, blocks=[{"batch_sizes": [1, 2], "input_tokens": [8], "output_tokens": [1, 3]}])
    assert result.exit_code == 1, result.output
    (last,) = [line for line in lines(result) if line.startswith("error:")]
    assert "nothing was measured: 4 cells: 0 ok, 0 infeasible, 4 error" in last and "kernel exploded" in last
    assert not [line for line in lines(result) if "records in" in line]  # no success line
    outcome = read_outcome(tmp_path / "run")
    assert outcome.failed and outcome.error == 4 and outcome.ok == 0
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_some_cells_failing_warn_and_exit_0(tmp_path, engine):
    engine["backend"] = FakeBackend(fail_input=16)
    result = calibrate(tmp_path)
    assert result.exit_code == 0, result.output
    assert "8 cells: 4 ok, 0 infeasible, 4 error" in result.output
    (warning,) = [line for line in lines(result) if line.startswith("warning:")]
    assert "4 of 8 cells failed" in warning and "kernel exploded" in warning and "--resume" in warning
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "incomplete"
    # resuming with the fault gone measures the failed cells and the run is complete
    engine["backend"] = FakeBackend()
    result = calibrate(tmp_path, "--resume")
    assert result.exit_code == 0 and "8 cells: 8 ok" in result.output and "warning" not in result.output


def test_nothing_fitting_exits_1(tmp_path, engine):
    engine["backend"] = FakeBackend(oom_batch=1)
    result = calibrate(tmp_path, blocks=[{"batch_sizes": [1], "input_tokens": [8], "output_tokens": [1]}])
    assert result.exit_code == 1 and "no cell fits" in result.output


def test_a_model_that_cannot_load_fails_fast_with_one_line(tmp_path, engine):
    engine["backend"] = backend = UnloadableBackend()
    result = calibrate(tmp_path)
    assert result.exit_code == 1, result.output
    (line,) = lines(result)  # one line, not a progress line per cell
    assert line.startswith("error:") and "did not load: OSError: weights not found" in line and "--resume" in line
    assert backend.loads == 1 and backend.calls == 0
    assert not len(load_records(tmp_path / "run"))  # no cell pretends to have been tried
    assert read_outcome(tmp_path / "run").not_reached == 8


def test_a_model_that_cannot_load_stops_the_sweep_after_what_was_measured(tmp_path, engine, monkeypatch):
    configs = [{"name": "a", "backend": "hf"}, {"name": "b", "backend": "hf", "attn_implementation": "eager"}]
    engines = iter([FakeBackend(), UnloadableBackend()])
    monkeypatch.setattr(base, "make_backend", lambda name, device=None: next(engines))
    monkeypatch.setattr(preflight, "check_gpu", lambda device, command="calibrate": None)
    monkeypatch.setattr(preflight, "check_installed", lambda backends: None)
    result = calibrate(tmp_path, configs=configs)
    assert result.exit_code == 1
    outcome = read_outcome(tmp_path / "run")
    assert (outcome.ok, outcome.not_reached) == (8, 8) and "b did not load" in outcome.load_error
    assert len(load_records(tmp_path / "run")) == 16  # config a's repetitions are kept


def test_an_unknown_model_is_bad_input_before_anything_is_written(tmp_path, engine):
    result = calibrate(tmp_path, model="NoSuchModel-7B")
    assert result.exit_code == 2 and len(lines(result)) == 1 and "unknown model" in result.output
    assert not (tmp_path / "run").exists()


def test_no_energy_sensor_is_said_once_at_the_start(tmp_path, engine):
    engine["meter"] = NullMeter("no GPU energy sensor: NVML not found")
    result = calibrate(tmp_path)
    assert result.exit_code == 0, result.output
    notices = [line for line in lines(result) if "no energy sensor" in line]
    assert len(notices) == 1 and lines(result).index(notices[0]) == 0
    assert "NVML not found" in notices[0] and "energy_j = null" in notices[0]
    records = load_records(tmp_path / "run")
    assert records["energy_j"].isna().all() and (records["null_reason"] == "no GPU energy sensor: NVML not found").all()
    assert read_outcome(tmp_path / "run").null_reason == "no GPU energy sensor: NVML not found"


@pytest.mark.slow
def test_real_hf_engine_that_cannot_load_fails_fast(tmp_path, tiny_config, monkeypatch):  # noqa: F811
    pytest.importorskip("torch")
    monkeypatch.setattr(sweep, "open_meter", lambda gpus: NullMeter("no sensor on CPU"))
    result = calibrate(tmp_path, "--device", "no-such-device", model=tiny_config)
    assert result.exit_code == 1, result.output
    errors = [line for line in lines(result) if line.startswith("error:")]
    assert len(errors) == 1 and "did not load" in errors[0]
    assert not [line for line in lines(result) if line.startswith("calibrate ")]  # no per-cell progress

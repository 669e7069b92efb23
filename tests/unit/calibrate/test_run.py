"""calibrate.run.Run: the run folder the sweep and the Ray campaign share (journal, run.json, done keys)."""

import json

import pytest

from energy_predict.calibrate import records as rec
from energy_predict.calibrate.grid import parse_grid
from energy_predict.calibrate.run import Run, read_outcome
from energy_predict.calibrate.sweep import record_row
from energy_predict.contracts.records import IdlePower
from energy_predict.errors import InputError


def grid():
    return parse_grid({"name": "g", "models": ["Llama-3.2-1B"], "configs": [{"name": "hf-eager", "backend": "hf"}],
                       "blocks": [{"batch_sizes": [1, 2], "input_tokens": [8], "output_tokens": [1]}],
                       "repetitions": 2, "min_window_s": 0.0, "idle_seconds": 0.0})


def row(run, cell, rep, status="ok", **values):
    return record_row(run.dir.name, cell, run.grid.configs[0], "cpu", 1, rep, status, None, **values)


def test_a_run_journals_each_record_once_and_knows_what_is_done(tmp_path):
    run = Run.open(grid(), tmp_path / "run", resume=False)
    one, two = run.cells
    run.begin(command="calibrate g.json")
    run.journal([row(run, one, 0, energy_j=1.0), row(run, one, 0, energy_j=2.0)])  # the second is a duplicate
    assert len(rec.read_journal(run.dir)) == 1 and run.measured_repetitions(one) == {0} and not run.complete(one)
    run.journal([row(run, one, 1), row(run, one, 0, "error", error="after a measured repetition")])
    assert run.complete(one) and run.errors == {one.key: "after a measured repetition"}  # an error is always kept
    run.journal([row(run, two, 0, "infeasible", error="out of memory"), row(run, two, 1)])
    assert run.complete(two) and len(rec.read_journal(run.dir)) == 4  # closed for good: nothing after it
    seen = []
    run.cell_ended(two, "infeasible", lambda *a: seen.append(a))
    assert seen == [(1, 2, two, "infeasible")]


def test_run_json_says_running_then_how_it_ended_and_a_resume_keeps_the_first_idle_reading(tmp_path):
    run = Run.open(grid(), tmp_path / "run", resume=False)
    meta = run.begin(command=None, meter=None, gpu=None, gpu_indices=[0])
    meta.set_idle("before", IdlePower(60.0, (60.0,)), keep_first=True)
    run.save()
    data = json.loads((run.dir / rec.RUN_META).read_text())
    assert data["status"] == "running" and "outcome" not in data and "finished" not in data
    run.journal([row(run, c, k) for c in run.cells for k in range(2)])
    outcome = run.finish(None, None, IdlePower(61.0, None))
    assert outcome.summary() == "2 cells: 2 ok, 0 infeasible, 0 error" and read_outcome(run.dir) == outcome
    data = json.loads((run.dir / rec.RUN_META).read_text())
    assert data["status"] == "complete" and data["idle_power_w"] == {"before": 60.0, "after": 61.0}
    assert data["idle_power_per_gpu_w"] == {"before": [60.0], "after": None}

    again = Run.open(grid(), tmp_path / "run", resume=True)
    meta = again.begin(command="resume")
    assert meta.command is None and len(meta.resumed) == 1 and meta.outcome is None and meta.status == "running"
    meta.set_idle("before", IdlePower(99.0, (99.0,)), keep_first=True)
    again.save()
    data = json.loads((run.dir / rec.RUN_META).read_text())
    assert data["idle_power_w"]["before"] == 60.0 and "outcome" not in data and again.done == 2


def test_records_there_without_resume_and_a_record_that_is_not_one_are_bad_input(tmp_path):
    run = Run.open(grid(), tmp_path / "run", resume=False)
    run.journal([row(run, run.cells[0], 0)])
    with pytest.raises(InputError, match="--resume"):
        Run.open(grid(), tmp_path / "run", resume=False)
    rec.append_record(run.dir, {**row(run, run.cells[0], 1).to_json(), "energy_kwh": 1.0})
    with pytest.raises(InputError, match=r"records\.jsonl:2: energy_kwh: extra inputs are not permitted"):
        Run.open(grid(), tmp_path / "run", resume=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="cannot make the run folder"):
        Run.open(grid(), tmp_path / "file" / "run", resume=False)


def test_a_run_with_no_run_json_has_no_outcome(tmp_path):
    assert read_outcome(tmp_path) is None
    (tmp_path / rec.RUN_META).write_text("[1, 2]")
    with pytest.raises(InputError, match="is not a JSON object"):
        read_outcome(tmp_path)

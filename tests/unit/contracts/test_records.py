"""The contracts of what calibrate writes: every committed run and replay reads through them, unchanged."""

import json

import pandas as pd
import pytest

from energy_predict.contracts.records import (
    EngineKey,
    IdlePower,
    RunOutcome,
    parse_record,
    parse_replay,
    parse_run_meta,
)
from energy_predict.datasets import (
    calibration_dir,
    load_records,
    load_replay_records,
    load_run_meta,
    replay_dir,
    run_dirs,
)
from energy_predict.errors import InputError

RUNS = run_dirs(calibration_dir())
REPLAYS = sorted(p for p in replay_dir().rglob("*.json"))


def test_the_committed_artifacts_are_all_there():
    assert len(RUNS) >= 50 and len(REPLAYS) >= 20


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_every_committed_run_validates_and_run_json_writes_back_as_it_was_read(run):
    meta = load_run_meta(run)
    assert meta.to_json() == json.loads((run / "run.json").read_text())  # the format is the one on disk
    records = load_records(run)  # every row validated against the record contract
    assert len(records) and set(records["run_id"]) == {meta.run_id}
    for engine, idle in meta.loaded_idle().items():  # idle readings by engine, each of a config the run loaded
        assert engine.config in meta.configs and meta.backend_of(engine.config) in ("hf", "vllm")
        assert idle.total_w is None or idle.total_w > 0


def test_every_committed_replay_validates_and_writes_back_as_it_was_read():
    records = load_replay_records()
    assert len(records) == len(REPLAYS)
    for path, record in zip(REPLAYS, records):
        assert record.to_json() == json.loads(path.read_text())
        assert len(record.requests.input_tokens) == record.n and all(r.duration_s > 0 for r in record.runs)


def test_a_field_nobody_declared_or_of_the_wrong_type_is_bad_input_naming_file_and_field(tmp_path):
    run = RUNS[0]
    meta = json.loads((run / "run.json").read_text())
    with pytest.raises(InputError, match=r"run\.json: idle_power_watts: extra inputs are not permitted"):
        parse_run_meta({**meta, "idle_power_watts": {}}, "run.json")
    with pytest.raises(InputError, match=r"r\.json: runs\.0\.duration_s: input should be a valid number"):
        parse_replay({**json.loads(REPLAYS[0].read_text()), "runs": [{"energy_j": 1.0, "duration_s": "long",
                                                                       "sensor": "x"}]}, "r.json")
    row = pd.read_parquet(run / "records.parquet").iloc[0].to_dict()
    with pytest.raises(InputError, match="status: input should be 'ok', 'infeasible' or 'error'"):
        parse_record({"run_id": "r", **{k: row[k] for k in ("backend", "config", "model", "gpu", "timestamp")},
                      "gpu_count": 1, "batch_size": 1, "input_tokens": 8, "output_tokens": 1, "repetition": 0,
                      "status": "done"}, "records.jsonl:1")
    folder = tmp_path / "bad"
    folder.mkdir()
    pd.DataFrame([{**row, "energy_j": "a lot"}]).to_parquet(folder / "records.parquet")
    with pytest.raises(InputError, match=r"records\.parquet row 1: energy_j"):
        load_records(folder)
    (folder / "x.json").write_text("{")
    with pytest.raises(InputError, match="cannot be read as a replay record"):
        load_replay_records(folder)


def test_idle_readings_are_keyed_by_engine_and_a_resumed_run_keeps_its_first():
    meta = load_run_meta(next(r for r in RUNS if r.name == "2026-11-27-x4c-ray-campaign"))
    engine = EngineKey("Llama-3.1-8B", "vllm-graphs-tp2-noarfusion")
    assert engine in meta.loaded_idle() and meta.idle(engine).per_gpu_w is not None
    assert len(meta.idle(engine).per_gpu_w) == 2 and meta.backend_of(engine.config) == "vllm"
    assert EngineKey.from_idle_key(engine.idle_key) == engine and EngineKey.from_idle_key("before") is None
    assert EngineKey.from_idle_key("loaded:/models/x:y:hf-eager") == EngineKey("/models/x:y", "hf-eager")
    before = meta.idle("before")
    meta.set_idle("before", IdlePower(1.0, (1.0,)), keep_first=True)
    assert meta.idle("before") == before
    meta.set_idle("after", IdlePower(2.0, None))
    assert meta.idle("after") == IdlePower(2.0, None)


@pytest.mark.parametrize("outcome, problem", [
    (RunOutcome(cells=4, ok=4, infeasible=0, error=0), None),
    (RunOutcome(cells=4, ok=2, infeasible=0, error=2, first_error="boom"), "2 of 4 cells failed (first: boom)"),
    (RunOutcome(cells=4, ok=0, infeasible=0, error=4), "nothing was measured: 4 cells: 0 ok"),
    (RunOutcome(cells=1, ok=0, infeasible=1, error=0), "no cell fits this GPU"),
    (RunOutcome(cells=4, ok=2, infeasible=0, error=0, not_reached=2, load_error="x did not load"),
     "x did not load; the sweep stopped there (4 cells: 2 ok, 0 infeasible, 0 error, 2 not reached)"),
])
def test_an_outcome_says_what_went_wrong_and_what_to_do(outcome, problem):
    assert (outcome.problem() is None) if problem is None else problem in outcome.problem()
    assert outcome.failed == (outcome.ok == 0 or outcome.load_error is not None)

"""The calibration journal survives kills: a torn last line is cut on resume, nothing is lost, doubled or glued."""

import json
import random
import subprocess
import sys
import threading

import pandas as pd
import pytest

from energy_predict.calibrate import records as rec
from energy_predict.calibrate.grid import parse_grid
from energy_predict.calibrate.sweep import run_sweep
from energy_predict.datasets import load_records
from energy_predict.errors import InputError
from tests.conftest import REPO
from tests.fakes import FakeBackend, TickingMeter
from tests.test_calibrate import grid_dict

LINE_A = {"status": "ok", "repetition": 0}
LINE_B = {"status": "ok", "repetition": 1}


def journal(tmp_path, data: bytes):
    (tmp_path / rec.JOURNAL).write_bytes(data)
    return tmp_path / rec.JOURNAL


def line(record) -> bytes:
    return (json.dumps(record) + "\n").encode()


def test_torn_last_line_is_left_out_and_cut_on_repair(tmp_path):
    torn = line(LINE_B)[:9]
    path = journal(tmp_path, line(LINE_A) + torn)
    assert rec.read_journal(tmp_path) == [LINE_A]
    assert path.read_bytes().endswith(torn)  # reading alone changes nothing
    assert rec.read_journal(tmp_path, repair=True) == [LINE_A]
    assert path.read_bytes() == line(LINE_A)
    rec.append_record(tmp_path, LINE_B)  # the next record starts on its own line, not glued onto the fragment
    assert path.read_bytes() == line(LINE_A) + line(LINE_B)
    assert rec.read_journal(tmp_path, repair=True) == [LINE_A, LINE_B]


@pytest.mark.parametrize("tail, kept", [
    (b'{"status": "o', [LINE_A]),  # killed mid-record
    (b"\x00" * 12 + b"\n", [LINE_A]),  # a power cut: the file grew but its bytes never landed
    (b"[1, 2]\n", [LINE_A]),  # JSON, but not a record
    (json.dumps(LINE_B).encode(), [LINE_A, LINE_B]),  # whole record, only its newline missing: kept
    (b"\n\n", [LINE_A]),  # blank lines are not records
])
def test_repair_keeps_every_complete_record(tmp_path, tail, kept):
    path = journal(tmp_path, line(LINE_A) + tail)
    assert rec.read_journal(tmp_path, repair=True) == kept
    data = path.read_bytes()
    assert data.endswith(b"\n") and [json.loads(x) for x in data.splitlines() if x.strip()] == kept


def test_torn_only_line_is_cut_to_an_empty_journal(tmp_path):
    path = journal(tmp_path, b'{"run_id": "x", "sta')
    assert rec.read_journal(tmp_path, repair=True) == []
    assert path.read_bytes() == b""


@pytest.mark.parametrize("middle", [b'{"status": "o\n', line(LINE_B)[:-1][:7] + line(LINE_B), b"not json\n"])
def test_a_bad_line_before_the_last_is_an_error_naming_file_and_line(tmp_path, middle):
    path = journal(tmp_path, line(LINE_A) + middle + line(LINE_B))
    before = path.read_bytes()
    with pytest.raises(InputError, match=r"records\.jsonl:2"):
        rec.read_journal(tmp_path, repair=True)
    assert path.read_bytes() == before  # nothing is cut when the damage is not a kill's


def test_run_sweep_refuses_a_journal_damaged_in_the_middle(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    journal(run_dir, line(LINE_A) + b"garbage\n" + line(LINE_B))
    grid = parse_grid(grid_dict("Llama-3.2-1B", min_window_s=0.0))
    with pytest.raises(InputError, match="records.jsonl:2"):
        run_sweep(grid, run_dir, resume=True, backend_factory=lambda name: FakeBackend(), meter=TickingMeter())


def test_resume_from_the_table_alone_keeps_its_records(tmp_path):
    """A run with only records.parquet (what is committed) resumes twice without losing the table's rows."""
    grid = parse_grid(grid_dict("Llama-3.2-1B", min_window_s=0.0))
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(grid, run_dir, backend_factory=lambda name: FakeBackend(kill_after=7), meter=TickingMeter())
    first = pd.read_parquet(run_dir / rec.TABLE)
    assert 0 < len(first) < 16
    (run_dir / rec.JOURNAL).unlink()
    with pytest.raises(KeyboardInterrupt):
        run_sweep(grid, run_dir, resume=True, backend_factory=lambda name: FakeBackend(kill_after=4),
                  meter=TickingMeter())
    run_sweep(grid, run_dir, resume=True, backend_factory=lambda name: FakeBackend(), meter=TickingMeter())
    final = load_records(run_dir)
    keys = ["batch_size", "input_tokens", "output_tokens", "repetition"]
    assert len(final) == 16 and not final[keys].duplicated().any()
    assert set(first["timestamp"]) <= set(final["timestamp"])  # the first session's measurements, not redone


# The child: a real sweep (fake engine, fake 100 W meter) whose journal writes go in two parts. With
# "handshake" it stops mid-line until the parent answers, so the parent can kill it exactly there; with
# "free" it pauses a few ms mid-line and the parent kills it at a random moment.
CHILD = r"""
import os, sys, time
from energy_predict.calibrate import records
from energy_predict.calibrate.grid import parse_grid
from energy_predict.calibrate.sweep import run_sweep
from tests.fakes import FakeBackend, TickingMeter

run_dir, grid_json, mode = sys.argv[1:4]
whole = records._write_all

def say(event):
    os.write(1, (event + "\n").encode())

def two_parts(fd, data):
    if not os.readlink(f"/proc/self/fd/{fd}").endswith(records.JOURNAL):
        return whole(fd, data)
    half = len(data) // 2
    whole(fd, data[:half])
    say("mid")
    if mode == "handshake":
        sys.stdin.readline()
    else:
        time.sleep(0.015)
    whole(fd, data[half:])

records._write_all = two_parts

grid = parse_grid(__import__("json").loads(grid_json))
say("ready")
run_sweep(grid, run_dir, resume=True, backend_factory=lambda name: FakeBackend(oom_batch=4, sleep_s=0.002),
          meter=TickingMeter())
say("done")
"""


def _run_child(run_dir, grid_json, mode, kill_at_mid=None, kill_after_s=None):
    """Run the child sweep; kill it at its `kill_at_mid`-th mid-line pause, or `kill_after_s` after it is ready.

    Returns whether it was killed and whether that was mid-line.
    """
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(run_dir), grid_json, mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, cwd=REPO)
    mids, killed_mid, timer = 0, False, None
    try:
        for raw in proc.stdout:
            event = raw.decode().strip()
            if event == "ready" and kill_after_s is not None:
                timer = threading.Timer(kill_after_s, proc.kill)
                timer.start()
            elif event == "mid":
                mids += 1
                if mids == kill_at_mid:
                    proc.kill()
                    killed_mid = True
                    break
                if mode == "handshake":
                    try:
                        proc.stdin.write(b"go\n")
                        proc.stdin.flush()
                    except BrokenPipeError:
                        break
    finally:
        if timer:
            timer.cancel()
        rc = proc.wait(timeout=60)
        proc.stdout.close()
        proc.stdin.close()
    return rc != 0, killed_mid, rc


def test_kill_at_20_random_points_and_resume_loses_duplicates_and_glues_nothing(tmp_path):
    """SIGKILL a real sweep 20 times (half of them mid-line in the journal), resume each time, then finish it."""
    grid = grid_dict("Llama-3.2-1B", min_window_s=0.0, repetitions=6, idle_seconds=0.0,
                     blocks=[{"batch_sizes": [1, 2, 4], "input_tokens": [8, 16], "output_tokens": [1, 2]}])
    grid_json = json.dumps(grid)
    run_dir = tmp_path / "run"
    rng = random.Random(13)
    torn_seen = 0
    for i in range(20):
        if i % 2 == 0:  # exactly mid-line: the journal holds half a record when the process dies
            killed, mid, rc = _run_child(run_dir, grid_json, "handshake", kill_at_mid=rng.randint(1, 3))
        else:  # anywhere: in a record, the table, run.json, between them
            killed, mid, rc = _run_child(run_dir, grid_json, "free", kill_after_s=rng.uniform(0.0, 0.12))
        assert rc in (0, -9), f"child {i} failed with exit code {rc}"
        path = run_dir / rec.JOURNAL
        if mid:
            assert not path.read_bytes().endswith(b"\n")  # the kill did land mid-line
            torn_seen += 1
        if path.is_file():
            rec.read_journal(run_dir)  # damage, if any, is only ever the last line
    assert torn_seen == 10
    killed, _, rc = _run_child(run_dir, grid_json, "free")
    assert rc == 0 and not killed

    data = (run_dir / rec.JOURNAL).read_bytes()
    assert data.endswith(b"\n")
    lines = data.decode().splitlines()
    parsed = [json.loads(x) for x in lines]  # every line parses: nothing torn or glued is left
    assert all(isinstance(r, dict) and x.count('{"run_id"') == 1 for r, x in zip(parsed, lines))
    ok = [(r["batch_size"], r["input_tokens"], r["output_tokens"], r["repetition"])
          for r in parsed if r["status"] == "ok"]
    expected = {(b, i, o, k) for b in (1, 2) for i in (8, 16) for o in (1, 2) for k in range(6)}
    assert sorted(ok) == sorted(expected)  # every repetition exactly once
    infeasible = [(r["batch_size"], r["input_tokens"], r["output_tokens"]) for r in parsed
                  if r["status"] == "infeasible"]
    assert sorted(infeasible) == sorted({(4, i, o) for i in (8, 16) for o in (1, 2)})
    assert not [r for r in parsed if r["status"] == "error"]
    assert len(pd.read_parquet(run_dir / rec.TABLE)) == len(parsed)
    meta = json.loads((run_dir / rec.RUN_META).read_text())
    assert meta["status"] == "complete" and meta["outcome"]["ok"] == 8 and meta["outcome"]["infeasible"] == 4

"""The calibration journal survives kills: a torn last line is cut on resume, nothing is lost, doubled or glued."""

import json
import random
import subprocess
import sys

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


# The children: real sweeps (fake engine, fake 100 W meter) whose journal writes go in two parts, forked one at a
# time from one process that imported everything once (a fresh interpreter per kill cost ~0.7 s of CPU each, nearly
# all of it imports). With "handshake" a child stops mid-line until the test answers, "go" or "die" (it SIGKILLs
# itself right there, with half a record written); with "free" it pauses a few ms mid-line and its parent SIGKILLs
# it at a random moment (`after` seconds from its fork; "never": it runs to the end).
FORKER = r"""
import json, os, signal, sys, threading, time, traceback
import pandas, pyarrow.parquet
from energy_predict.calibrate import records
from energy_predict.calibrate.grid import parse_grid
from energy_predict.calibrate.sweep import run_sweep
from tests.fakes import FakeBackend, TickingMeter

run_dir, grid_json = sys.argv[1:3]
whole = records._write_all
mode = None

def say(event):
    os.write(1, (event + "\n").encode())

def answer():
    line = b""
    while not line.endswith(b"\n"):  # a byte at a time: nothing of the next line is read ahead
        byte = os.read(0, 1)
        if not byte:
            return None
        line += byte
    return line.decode().strip()

def two_parts(fd, data):
    if not os.readlink(f"/proc/self/fd/{fd}").endswith(records.JOURNAL):
        return whole(fd, data)
    half = len(data) // 2
    whole(fd, data[:half])
    say("mid")
    if mode == "handshake":
        if answer() == "die":
            os.kill(os.getpid(), signal.SIGKILL)
    else:
        time.sleep(0.015)
    whole(fd, data[half:])

records._write_all = two_parts

while (command := answer()) is not None:  # "<mode> <after>": one child, to its end or its kill
    mode, after = command.split()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            run_sweep(parse_grid(json.loads(grid_json)), run_dir, resume=True,
                      backend_factory=lambda name: FakeBackend(oom_batch=4, sleep_s=0.002), meter=TickingMeter())
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    timer = threading.Timer(float(after), os.kill, (pid, signal.SIGKILL)) if after != "never" else None
    if timer:
        timer.start()
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # dead but not reaped: its pid cannot be reused yet
    if timer:
        timer.cancel()
        timer.join()
    say(f"exit {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}")
"""


class Forker:
    """The process that forks the sweeps; `run` starts one and returns its exit code and whether it died mid-line."""

    def __init__(self, run_dir, grid_json):
        self.proc = subprocess.Popen([sys.executable, "-c", FORKER, str(run_dir), grid_json], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, cwd=REPO)

    def _send(self, line: str) -> None:
        self.proc.stdin.write(f"{line}\n".encode())
        self.proc.stdin.flush()

    def run(self, mode: str, kill_at_mid: int | None = None, kill_after_s: float | None = None):
        """A child sweep, killed at its `kill_at_mid`-th mid-line pause (handshake) or `kill_after_s` from its
        start (free), or neither."""
        self._send(f"{mode} {'never' if kill_after_s is None else kill_after_s}")
        mids, killed_mid = 0, False
        for raw in self.proc.stdout:
            event = raw.decode().strip()
            if event.startswith("exit "):
                return int(event.split()[1]), killed_mid
            if event == "mid":
                mids += 1
                if mode == "handshake":
                    killed_mid = mids == kill_at_mid
                    self._send("die" if killed_mid else "go")
        raise AssertionError(f"the forking process ended (exit code {self.proc.wait(timeout=60)})")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


@pytest.mark.slow
def test_kill_at_20_random_points_and_resume_loses_duplicates_and_glues_nothing(tmp_path):
    """SIGKILL a real sweep 20 times (half of them mid-line in the journal), resume each time, then finish it."""
    grid = grid_dict("Llama-3.2-1B", min_window_s=0.0, repetitions=6, idle_seconds=0.0,
                     blocks=[{"batch_sizes": [1, 2, 4], "input_tokens": [8, 16], "output_tokens": [1, 2]}])
    run_dir = tmp_path / "run"
    rng = random.Random(13)
    torn_seen = 0
    forker = Forker(run_dir, json.dumps(grid))
    try:
        for i in range(20):
            if i % 2 == 0:  # exactly mid-line: the journal holds half a record when the process dies
                rc, mid = forker.run("handshake", kill_at_mid=rng.randint(1, 3))
            else:  # anywhere: in a record, the table, run.json, between them
                rc, mid = forker.run("free", kill_after_s=rng.uniform(0.0, 0.12))
            assert rc in (0, -9), f"child {i} failed with exit code {rc}"
            path = run_dir / rec.JOURNAL
            if mid:
                assert rc == -9 and not path.read_bytes().endswith(b"\n")  # the kill did land mid-line
                torn_seen += 1
            if path.is_file():
                rec.read_journal(run_dir)  # damage, if any, is only ever the last line
        assert torn_seen == 10
        rc, _ = forker.run("free")
        assert rc == 0
    finally:
        forker.close()

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

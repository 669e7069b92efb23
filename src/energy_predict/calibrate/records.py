"""Calibration records: appended to a JSONL journal as taken, mirrored to records.parquet.

The journal is what makes a killed run resumable without lost, duplicated or glued rows: a record is one
`write` of a whole line, fsynced before the next repetition starts. A kill can still leave a torn last
line (a partial write, a power cut); resuming cuts the file back to the last complete record, so the
next append starts on a fresh line.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd

from energy_predict.contracts.records import RunMeta, parse_run_meta
from energy_predict.errors import InputError
from energy_predict.extras import require

JOURNAL = "records.jsonl"
TABLE = "records.parquet"
RUN_META = "run.json"

# The columns every run has, in this order (more may follow).
COLUMNS = [
    "run_id", "backend", "config", "model", "gpu", "gpu_count", "batch_size", "input_tokens", "output_tokens",
    "repetition", "status", "energy_j", "energy_above_idle_j", "duration_s", "repeats", "idle_power_w",
    "mean_power_w", "max_power_w", "sampled_energy_j", "sm_clock_mhz", "temperature_c", "sensor", "null_reason",
    "generated_tokens", "error", "timestamp",
]


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to `fd` (a regular file takes it in one call; loop for the rare short write)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _line(record: dict) -> bytes:
    return (json.dumps(record, default=_native) + "\n").encode()


def _native(value):
    """Plain Python values for what a parquet table gives back (numpy scalars and arrays)."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def append_record(run_dir: Path, record: dict) -> None:
    """Append one record to the journal as one whole line, durable (fsynced) before returning.

    Never through a symbolic link (O_NOFOLLOW) and never blocking on a named pipe (O_NONBLOCK): read_journal
    refuses both up front; this is the guard against one put there mid-run.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    fd = os.open(run_dir / JOURNAL, flags, 0o644)
    try:
        _write_all(fd, _line(record))
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse(line: bytes) -> dict | None:
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: a line nested 100k deep
        return None
    except ValueError:  # an integer of more digits than Python converts
        return None
    return value if isinstance(value, dict) else None


def _journal_exists(path: Path) -> bool:
    """Whether the journal is there, as a regular file; InputError for a folder, a pipe, a device or a link.

    Appending to a link to /dev/null would lose every record measured; to a named pipe, block for ever.
    """
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # no journal yet (or no run folder: said when it is made)
        return False
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror or type(exc).__name__})",
                         "check the run folder's permissions, or measure into a new folder") from None
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode) else \
            "a named pipe" if stat.S_ISFIFO(mode) else "not a regular file"
        raise InputError(str(path), f"is {kind}, not a journal of records (records would be lost or wait for ever)",
                         "move it away, or measure into a new folder")
    return True


def read_journal(run_dir: Path, *, repair: bool = False) -> list[dict]:
    """Records taken so far, in the order taken.

    A torn last line (a kill mid-write: no newline, or not a JSON object) is left out; with `repair` the
    file is also cut back to the end of the last complete record, so the next append is not glued onto the
    fragment. A bad line before the last is not a kill's doing: it raises InputError naming file and line.
    Only records.parquet is committed, so a run without its journal resumes from the table; with `repair`
    the journal is rebuilt from it first, so the records appended next do not replace the table's.
    """
    path = run_dir / JOURNAL
    if not _journal_exists(path):
        if not (run_dir / TABLE).is_file():
            return []
        require("pyarrow", "resuming from records.parquet")
        try:
            table = pd.read_parquet(run_dir / TABLE)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a damaged file
            raise InputError(str(run_dir / TABLE), f"cannot be read ({type(exc).__name__})",
                             "restore it from git, or measure into a new folder") from None
        records = [json.loads(_line({k: v for k, v in r.items() if not (isinstance(v, float) and v != v)}))
                   for r in table.to_dict("records")]  # plain values, as the journal's own lines give
        if repair:
            _replace(path, b"".join(_line(r) for r in records))
        return records
    data = path.read_bytes()
    lines = data.split(b"\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    records, pos, cut = [], 0, len(data)
    for i, line in enumerate(lines):
        if line.strip():
            record = _parse(line)
            if record is not None:
                records.append(record)
            elif i < last:
                raise InputError(f"{path}:{i + 1}", "is not a complete JSON record (only the last line can be "
                                 "torn by a kill)", "remove or fix that line, or measure into a new folder")
            else:
                cut = pos  # the torn last line starts here
        pos += len(line) + 1
    if repair and cut < len(data):
        _replace(path, data[:cut])
    elif repair and data and not data.endswith(b"\n"):
        _replace(path, data + b"\n")  # the last record is whole but its newline was not written
    return records


def _replace(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a temporary beside it, fsynced, renamed over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_meta(run_dir: Path, meta: RunMeta) -> None:
    """Write run.json atomically: a kill while writing it leaves the previous version, never half a file."""
    _replace(run_dir / RUN_META, json.dumps(meta.to_json(), indent=1).encode())


def read_meta(run_dir: Path) -> RunMeta | None:
    """run.json of a run (validated), or None when there is none yet."""
    path = run_dir / RUN_META
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        meta = None
    if not isinstance(meta, dict):
        raise InputError(str(path), "is not a JSON object", "restore it from git, or measure into a new folder")
    return parse_run_meta(meta, str(path))


def write_table(run_dir: Path, records: list[dict]) -> pd.DataFrame:
    """Rewrite records.parquet from all records so far (standard columns first), atomically."""
    require("pyarrow", "writing records.parquet")
    frame = pd.DataFrame(records)
    ordered = [c for c in COLUMNS if c in frame] + [c for c in frame if c not in COLUMNS]
    frame = frame[ordered] if len(frame) else pd.DataFrame(columns=COLUMNS)
    tmp = run_dir / f".{TABLE}.tmp"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, run_dir / TABLE)
    return frame

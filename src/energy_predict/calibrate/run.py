"""One calibration run folder, for the local sweep and the Ray campaign alike: its journal, run.json, what is done.

Every record is journaled (appended, fsynced) before the next is taken, so a killed run loses at most what was
in flight, and `Run.open(..., resume=True)` continues exactly where it stopped: a repetition already measured and
a cell closed for good (infeasible) are not measured again, and a record is never journaled twice. How the
cells ended is kept in run.json (`outcome`), so a failed calibration never looks like a finished one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from energy_predict.architectures import resolve_architecture
from energy_predict.calibrate import records as rec
from energy_predict.calibrate.environment import host_info, now_iso
from energy_predict.calibrate.grid import Cell, Grid, expand_grid
from energy_predict.contracts.records import (
    IDLE_AFTER,
    CalibrationRecord,
    EngineKey,
    HostInfo,
    IdlePower,
    RunMeta,
    RunOutcome,
    parse_record,
)
from energy_predict.errors import InputError

CellKey = tuple[str, str, int, int, int]  # Cell.key
OnCell = Callable[[int, int, Cell, str], None]  # (cells done, cells in all, the cell, how it ended)
OnNotice = Callable[[str], None]


def done_keys(records: Iterable[CalibrationRecord]) -> tuple[set[tuple], set[CellKey]]:
    """Repetitions measured ((*cell key, repetition)), and cells closed for good (infeasible)."""
    measured, closed = set(), set()
    for r in records:
        if r.status == "ok":
            measured.add((*r.cell_key, r.repetition))
        elif r.status == "infeasible":
            closed.add(r.cell_key)
    return measured, closed


def once_each(records: list[CalibrationRecord]) -> list[CalibrationRecord]:
    """The records with each measured repetition once: a journal line duplicated (copied, merged by hand) counts once.

    The first is kept, as `Run.journal` keeps the first when a retried cell's records come back again.
    """
    seen: set[tuple] = set()
    kept = []
    for r in records:
        if r.status == "ok":
            key = (*r.cell_key, r.repetition)
            if key in seen:
                continue
            seen.add(key)
        kept.append(r)
    return kept


def cells_outcome(cells: list[Cell], closed: set[CellKey], complete: Callable[[Cell], bool],
                  errors: dict[CellKey, str | None], load_error: str | None, null_reason: str | None) -> RunOutcome:
    """Each cell's end: infeasible (closed), ok (every repetition measured), error (failed this session)."""
    infeasible = sum(1 for c in cells if c.key in closed)
    ok = sum(1 for c in cells if c.key not in closed and complete(c))
    error = sum(1 for c in cells if c.key in errors and not complete(c))
    return RunOutcome(cells=len(cells), ok=ok, infeasible=infeasible, error=error,
                      not_reached=len(cells) - ok - infeasible - error, load_error=load_error,
                      first_error=next((e for e in errors.values() if e), None), null_reason=null_reason)


def read_outcome(run_dir: Path) -> RunOutcome | None:
    """The outcome a run kept in run.json (None while a run has not finished one)."""
    meta = rec.read_meta(Path(run_dir))
    return meta.outcome if meta is not None else None


class Run:
    """A run folder opened for measuring: the grid's cells, the records so far, run.json, and the progress count."""

    def __init__(self, run_dir: Path, grid: Grid, cells: list[Cell], records: list[CalibrationRecord],
                 meta: RunMeta | None) -> None:
        self.dir, self.grid, self.cells = Path(run_dir), grid, cells
        self.records = list(records)
        self.resumed_meta = meta  # run.json as found (resume), until `begin` makes the run's own
        self.meta: RunMeta | None = None
        self.measured, self.closed = done_keys(records)
        self.errors: dict[CellKey, str | None] = {}  # cells that failed in this session, and the first error of each
        self.total = len(cells)
        self.done = sum(1 for c in cells if self.complete(c))

    @classmethod
    def open(cls, grid: Grid, run_dir: Path, *, resume: bool) -> Run:
        """The grid's cells and the records already taken; the run folder made, a torn journal line cut.

        Bad input (records there without `resume`, an unknown model, a folder that cannot be made, a record
        that is not one) is said before anything is written.
        """
        run_dir = Path(run_dir)
        previous = rec.read_journal(run_dir)
        if previous and not resume:
            raise InputError("--out", f"{run_dir} already holds {len(previous)} records",
                             "pass --resume to continue that run, or choose a new folder")
        cells = expand_grid(grid)
        for name in dict.fromkeys(c.model for c in cells):
            resolve_architecture(name)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError("--out", f"cannot make the run folder {run_dir} ({exc.strerror})",
                             "give a folder path that is not a file and can be written") from None
        rows = rec.read_journal(run_dir, repair=True)  # a torn last line is cut, so no append is glued to it
        records = once_each([parse_record(r, f"{run_dir / rec.JOURNAL}:{i + 1}") for i, r in enumerate(rows)])
        return cls(run_dir, grid, cells, records, rec.read_meta(run_dir) if resume else None)

    def begin(self, *, command: str | None, **fresh: Any) -> RunMeta:
        """run.json for this session: the resumed run's (marked resumed), or a new one with `fresh`'s fields.

        The caller writes it (`save`) once it is sure the run will go ahead.
        """
        meta = self.resumed_meta or RunMeta(
            run_id=self.dir.name, grid=self.grid.model_dump(), started=now_iso(), command=command,
            host=HostInfo.model_validate(host_info()), configs={}, idle_power_w={}, idle_power_per_gpu_w={},
            resumed=[], status="running", **fresh)
        if self.records:
            meta.resumed = [*meta.resumed, now_iso()]
        meta.status, meta.outcome = "running", None
        self.meta = meta
        return meta

    def save(self) -> None:
        """Write run.json (atomically)."""
        rec.write_meta(self.dir, self.meta)

    def complete(self, cell: Cell) -> bool:
        return cell.key in self.closed or all((*cell.key, k) in self.measured for k in range(self.grid.repetitions))

    def measured_repetitions(self, cell: Cell) -> set[int]:
        """The cell's repetitions already measured (a resumed or retried cell skips them)."""
        return {k for k in range(self.grid.repetitions) if (*cell.key, k) in self.measured}

    def journal(self, records: Iterable[CalibrationRecord]) -> None:
        """Append each record to the journal, durable before the next.

        A repetition already measured, or anything more of a cell closed for good, is left out: a journal never
        holds a repetition twice (a retried cell's records can come back again). An error is always kept.
        """
        for r in records:
            if r.cell_key in self.closed or (r.status == "ok" and (*r.cell_key, r.repetition) in self.measured):
                continue
            rec.append_record(self.dir, r.to_json())
            self.records.append(r)
            if r.status == "ok":
                self.measured.add((*r.cell_key, r.repetition))
            elif r.status == "infeasible":
                self.closed.add(r.cell_key)
            else:
                self.errors.setdefault(r.cell_key, r.error)

    def cell_ended(self, cell: Cell, status: str, on_cell: OnCell | None) -> None:
        """Count the cell as done and say so."""
        self.done += 1
        if on_cell:
            on_cell(self.done, self.total, cell, status)

    def write_table(self) -> None:
        """Bring records.parquet up to the journal."""
        rec.write_table(self.dir, [r.to_json() for r in self.records])

    def engine_loaded(self, engine: EngineKey, config: dict[str, Any], idle: IdlePower) -> None:
        """Keep a loaded engine's serving config (with its versions) and its loaded idle power; write run.json."""
        self.meta.configs = {**self.meta.configs, engine.config: config}
        self.meta.set_idle(engine, idle)
        self.save()

    def finish(self, load_error: str | None, null_reason: str | None, idle_after: IdlePower | None = None
               ) -> RunOutcome:
        """Close the run: its outcome and status in run.json, the table brought up to the journal."""
        if idle_after is not None:
            self.meta.set_idle(IDLE_AFTER, idle_after)
        outcome = cells_outcome(self.cells, self.closed, self.complete, self.errors, load_error, null_reason)
        self.meta.finished = now_iso()
        self.meta.status = "failed" if outcome.failed else "incomplete" if outcome.error else "complete"
        self.meta.outcome = outcome
        self.write_table()
        self.save()
        return outcome

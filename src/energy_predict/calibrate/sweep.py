"""The sweep runner: backend x meter x grid, one record per measured repetition.

Every record is journaled before the next one is taken, so a killed run loses at most the repetition
in flight, and `resume` continues exactly where it stopped. A cell that does not fit (out of memory) is
recorded as infeasible and the sweep goes on; so is a cell that fails for another reason, as an error.
A model or engine that cannot load stops the sweep at once: every cell after it would fail the same way.
How the cells ended is kept in run.json (`outcome`), so a failed calibration never looks like a finished one.
"""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from energy_predict.architectures import resolve_architecture
from energy_predict.calibrate import records as rec
from energy_predict.calibrate.backends.base import Backend, CellInfeasible, make_backend
from energy_predict.calibrate.environment import host_info, now_iso
from energy_predict.calibrate.grid import Cell, Grid, ServingConfig, expand_grid
from energy_predict.calibrate.meter import measure_idle, measure_repeated, open_meter
from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.gpus import resolve_gpu

OnCell = Callable[[int, int, Cell, str], None]
OnNotice = Callable[[str], None]


@dataclass(frozen=True)
class SweepOutcome:
    """How the cells of a grid ended: measured (ok), infeasible, error, or not reached.

    `failed` is the calibration failing as a whole: no cell was measured, or a model or engine did not
    load (the sweep stops there). The CLI exits 1 for it, apart from exit 2 for bad input.
    """

    cells: int
    ok: int
    infeasible: int
    error: int
    not_reached: int = 0
    load_error: str | None = None
    first_error: str | None = None  # one failed cell's error, as an example
    null_reason: str | None = None  # why there is no energy sensor, when there is none

    @property
    def failed(self) -> bool:
        return self.load_error is not None or (self.cells > 0 and self.ok == 0)

    def summary(self) -> str:
        """The counts, on one line."""
        line = f"{self.cells} cells: {self.ok} ok, {self.infeasible} infeasible, {self.error} error"
        return line + (f", {self.not_reached} not reached" if self.not_reached else "")

    def problem(self) -> str | None:
        """What went wrong and what to do, on one line; None when every cell was measured or infeasible."""
        if self.load_error:
            return f"{self.load_error}; the sweep stopped there ({self.summary()}); fix it and rerun with --resume"
        first = f" (first: {self.first_error})" if self.first_error else ""
        if self.failed:
            return (f"nothing was measured: {self.summary()}{first}; each cell's error is in records.jsonl"
                    if self.error else f"nothing was measured: {self.summary()}; no cell fits this GPU")
        if self.error:
            return f"{self.error} of {self.cells} cells failed{first}; rerun with --resume to retry them"
        return None


def read_outcome(run_dir: Path) -> SweepOutcome | None:
    """The outcome run_sweep kept in run.json (None while a run has not finished one)."""
    outcome = (rec.read_meta(Path(run_dir)) or {}).get("outcome")
    return SweepOutcome(**outcome) if isinstance(outcome, dict) else None


def gpu_label(meter_info: dict) -> str:
    """The catalog name of the first metered GPU (its NVML name when not in the catalog; "cpu" without one)."""
    gpus = meter_info.get("gpus") or []
    if not gpus or not gpus[0].get("name"):
        return "cpu"
    try:
        return resolve_gpu(gpus[0]["name"]).name
    except EnergyPredictError:
        return gpus[0]["name"]


def done_keys(records: list[dict]) -> tuple[set[tuple], set[tuple]]:
    """Repetitions measured, and cells closed for good (infeasible)."""
    measured, closed = set(), set()
    for r in records:
        cell = (r["model"], r["config"], r["batch_size"], r["input_tokens"], r["output_tokens"])
        if r["status"] == "ok":
            measured.add((*cell, r["repetition"]))
        elif r["status"] == "infeasible":
            closed.add(cell)
    return measured, closed


def _max_model_len(cells: list[Cell]) -> int:
    return max(c.input_tokens + c.output_tokens for c in cells) + 16


def open_run(grid: Grid, run_dir: Path, resume: bool) -> tuple[list[Cell], list[dict]]:
    """The grid's cells and the records already taken; the run folder made, a torn journal line cut.

    Bad input (records there without `resume`, an unknown model, a folder that cannot be made) is said
    before anything is written.
    """
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
    return cells, rec.read_journal(run_dir, repair=True)  # a torn last line is cut, so no append is glued to it


def shared_cells(groups: list[tuple[tuple[str, str], list[Cell]]], k: int, configs: dict[str, ServingConfig]
                 ) -> list[Cell]:
    """Group k's cells and those of the groups right after it that will share its engine.

    The engine's context length must hold them all.
    """
    (model, name), cells = groups[k]
    fields = configs[name].engine_fields()
    out = list(cells)
    for (m, n), more in groups[k + 1:]:
        if m != model or configs[n].engine_fields() != fields:
            break
        out += more
    return out


class EngineLoadError(RuntimeError):
    """A model or engine did not load; its message is the one line the outcome keeps."""


def load_engine(backend_factory: Callable[[str], Backend], meter, model: str, config: ServingConfig,
                group: list[Cell], idle_seconds: float) -> tuple[Backend, ServingConfig, tuple]:
    """Load one engine configuration and measure its loaded idle power: (backend, config as loaded, idle).

    `idle` is (all GPUs summed, per GPU) in W. A load that fails closes what it made and raises
    EngineLoadError with the one line the outcome keeps.
    """
    if config.framework == "vllm" and config.engine.max_model_len is None:
        config = config.with_max_model_len(_max_model_len(group))
    backend = None
    try:
        backend = backend_factory(config.framework)
        if hasattr(meter, "sync"):
            meter.sync = backend.synchronize
        backend.load(resolve_architecture(model), config)
        return backend, config, measure_idle(meter, idle_seconds)
    except Exception as exc:  # noqa: BLE001 - said once in the outcome: every cell after would fail alike
        if backend is not None:
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - the load error is the one to report
                pass
        raise EngineLoadError(f"{model} under {config.name} did not load: {type(exc).__name__}: {exc}"[:500]) from exc


def record_row(run_id: str, cell: Cell, config: ServingConfig, gpu: str, gpu_count: int, repetition: int,
               status: str, idle_power_w: float | None, **values) -> dict:
    """One record: the cell, its serving configuration and what was measured (`values`)."""
    spec = config.speculative
    return {"run_id": run_id, "backend": config.framework, "config": config.name, "model": cell.model,
            "gpu": gpu, "gpu_count": gpu_count, "tensor_parallel": config.tensor_parallel,
            "batch_size": cell.batch_size, "input_tokens": cell.input_tokens, "output_tokens": cell.output_tokens,
            "repetition": repetition, "status": status, "idle_power_w": idle_power_w, "timestamp": now_iso(),
            "dtype": config.dtype, "attn_implementation": config.engine.attn_implementation,
            "compile": config.compile, "decoding": config.decoding, "beam_width": config.beam_width or 1,
            "cuda_graphs": config.cuda_graphs, "quantization": config.quantization or "none",
            "max_num_seqs": config.max_batch,
            **({"speculative_model": spec.draft, "num_speculative_tokens": spec.draft_tokens,
                "synthetic_acceptance": spec.synthetic_acceptance} if spec else {}),
            **({"prefix_caching": True, "prefix_hit_rate": config.prefix_hit_rate} if config.prefix_caching else {}),
            **values}


def counters(backend: Backend) -> dict[str, float]:
    """The engine's own counters (vLLM: prefix-cache queries and hits, speculative drafts and acceptances).

    Read outside the measured window; empty for a backend or configuration without them.
    """
    read = getattr(backend, "counters", None)
    return (read() or {}) if read else {}


def measure_cell(backend: Backend, meter, grid: Grid, cell: Cell, skip: set[int], idle_before: float | None,
                 loaded_idle: float | None) -> Iterator[tuple[int, str, dict]]:
    """Warm a cell up, then measure its repetitions not in `skip`: yields (repetition, status, values).

    Each repetition is yielded as soon as it is measured, so the caller journals it before the next starts.
    A cell that does not fit yields one "infeasible" and one that fails one "error" (repetition 0).
    """
    try:
        run = backend.prepare(cell)
        for _ in range(grid.warmup_runs):  # the first run of a shape is not a measurement
            run()
        for k in range(grid.repetitions):
            if k in skip:
                continue
            before = counters(backend)
            window = measure_repeated(meter, run, grid.min_window_s)
            r, n = window.reading, window.repeats
            per_run = {f"counter_{k}": (v - before[k]) / n for k, v in counters(backend).items() if k in before}
            energy = r.energy_j / n if r.energy_j is not None else None
            duration = r.duration_s / n
            above = energy - idle_before * duration if energy is not None and idle_before else None
            yield k, "ok", dict(
                energy_j=energy, energy_above_idle_j=above, duration_s=duration, repeats=n, window_s=r.duration_s,
                mean_power_w=r.mean_power_w, max_power_w=r.max_power_w,
                sampled_energy_j=r.sampled_energy_j / n if r.sampled_energy_j is not None else None,
                cross_checked=getattr(r, "cross_checked", False), sm_clock_mhz=r.sm_clock_mhz,
                temperature_c=r.temperature_c, sensor=r.sensor,
                null_reason=r.null_reason, generated_tokens=min(window.results),
                gpu_energy_j=[e / n for e in r.gpu_energy_j] if r.gpu_energy_j is not None else None,
                loaded_idle_power_w=loaded_idle, **per_run)
    except CellInfeasible as exc:
        yield 0, "infeasible", {"error": str(exc)[:500]}
    except Exception as exc:  # noqa: BLE001 - one broken cell must not end a long sweep
        yield 0, "error", {"error": f"{type(exc).__name__}: {exc}"[:500], "traceback": traceback.format_exc()[-2000:]}


def run_sweep(grid: Grid, run_dir: Path, *, gpus: tuple[int, ...] = (0,), resume: bool = False,
              backend_factory: Callable[[str], Backend] = make_backend, meter=None,
              on_cell: OnCell | None = None, on_notice: OnNotice | None = None,
              command: str | None = None) -> Path:
    """Measure every cell of the grid into `run_dir` (records.jsonl, records.parquet, run.json).

    Returns `run_dir`; `read_outcome(run_dir)` tells how the cells ended. `on_notice` gets what a user
    must be told once, at the start (no energy sensor); `on_cell` gets each cell as it ends.
    """
    for c in grid.configs:  # a tensor-parallel engine's energy is that of all its GPUs, each metered
        if c.tensor_parallel != len(gpus):
            raise InputError("--gpus", f"config {c.name!r} runs on {c.tensor_parallel} GPU(s) but {len(gpus)} are "
                             "metered", "pass one --gpus index per GPU the engine uses (e.g. --gpus 0,1 for TP 2)")
    run_dir = Path(run_dir)
    cells, previous = open_run(grid, run_dir, resume)
    measured, closed = done_keys(previous)
    configs = {c.name: c for c in grid.configs}

    meter = meter or open_meter(gpus)
    meter_info = meter.describe()
    null_reason = meter_info.get("null_reason") if meter_info.get("sensor") == "none" else None
    if null_reason and on_notice:
        on_notice(f"no energy sensor ({null_reason}): durations are measured, but every record will hold "
                  "energy_j = null with that reason in null_reason")
    gpu = gpu_label(meter_info)
    meta = (rec.read_meta(run_dir) if resume else None) or {
        "run_id": run_dir.name, "grid": grid.model_dump(), "started": now_iso(), "command": command,
        "host": host_info(), "meter": meter_info, "gpu": gpu, "gpu_indices": list(gpus), "configs": {},
        "idle_power_w": {}, "idle_power_per_gpu_w": {}, "resumed": []}
    if previous:
        meta["resumed"].append(now_iso())
    meta["status"] = "running"
    meta.pop("outcome", None)
    rec.write_meta(run_dir, meta)

    idle_before, idle_per_gpu = measure_idle(meter, grid.idle_seconds)
    meta["idle_power_w"].setdefault("before", idle_before)
    meta.setdefault("idle_power_per_gpu_w", {}).setdefault("before", idle_per_gpu)
    all_records = list(previous)
    def complete(c: Cell) -> bool:
        return c.key in closed or all((*c.key, k) in measured for k in range(grid.repetitions))

    done = sum(1 for c in cells if complete(c))
    total = len(cells)

    def record(cell: Cell, config: ServingConfig, repetition: int, status: str, **values) -> None:
        row = record_row(run_dir.name, cell, config, gpu, len(gpus), repetition, status, idle_before, **values)
        rec.append_record(run_dir, row)
        all_records.append(row)
        if status == "ok":
            measured.add((*cell.key, repetition))
        elif status == "infeasible":
            closed.add(cell.key)
        else:
            errors.setdefault(cell.key, values.get("error"))

    errors: dict[tuple, str | None] = {}  # cells that failed in this session, and the first error of each
    load_error = None

    groups = [(key, list(g)) for key, g in itertools.groupby(cells, key=lambda c: (c.model, c.config))]
    backend, engine, max_len = None, None, None  # the loaded engine, what it was built from, its context length
    for k, ((model, config_name), group) in enumerate(groups):
        pending = [c for c in group if not complete(c)]
        if not pending:
            continue
        wanted = (model, configs[config_name].engine_fields())
        if engine == wanted and hasattr(backend, "reconfigure"):  # same engine, other per-request options
            config = configs[config_name].with_max_model_len(max_len)
            backend.reconfigure(config)
        else:
            if backend is not None:
                backend.close()
            try:
                backend, config, (loaded_idle, loaded_per_gpu) = load_engine(
                    backend_factory, meter, model, configs[config_name], shared_cells(groups, k, configs),
                    grid.idle_seconds)
            except EngineLoadError as exc:
                load_error, backend = str(exc), None
                break
            engine, max_len = wanted, config.engine.max_model_len
        loaded = f"loaded:{model}:{config_name}"
        meta["configs"][config_name] = {**config.model_dump(), "versions": backend.versions()}
        meta["idle_power_w"][loaded], meta["idle_power_per_gpu_w"][loaded] = loaded_idle, loaded_per_gpu
        rec.write_meta(run_dir, meta)
        for cell in pending:
            status = "ok"
            done_reps = {k for k in range(grid.repetitions) if (*cell.key, k) in measured}
            for k, status, values in measure_cell(backend, meter, grid, cell, done_reps, idle_before, loaded_idle):
                record(cell, config, k, status, **values)
            rec.write_table(run_dir, all_records)
            done += 1
            if on_cell:
                on_cell(done, total, cell, status)
    if backend is not None:
        backend.close()

    if load_error is None:
        meta["idle_power_w"]["after"], meta["idle_power_per_gpu_w"]["after"] = measure_idle(meter, grid.idle_seconds)
    outcome = cells_outcome(cells, closed, complete, errors, load_error, null_reason)
    meta["finished"] = now_iso()
    meta["status"] = "failed" if outcome.failed else "incomplete" if outcome.error else "complete"
    meta["outcome"] = asdict(outcome)
    rec.write_table(run_dir, all_records)
    rec.write_meta(run_dir, meta)
    return run_dir


def cells_outcome(cells: list[Cell], closed: set[tuple], complete: Callable[[Cell], bool],
             errors: dict[tuple, str | None], load_error: str | None, null_reason: str | None) -> SweepOutcome:
    """Each cell's end: infeasible (closed), ok (every repetition measured), error (failed this session)."""
    infeasible = sum(1 for c in cells if c.key in closed)
    ok = sum(1 for c in cells if c.key not in closed and complete(c))
    error = sum(1 for c in cells if c.key in errors and not complete(c))
    return SweepOutcome(cells=len(cells), ok=ok, infeasible=infeasible, error=error,
                        not_reached=len(cells) - ok - infeasible - error, load_error=load_error,
                        first_error=next((e for e in errors.values() if e), None), null_reason=null_reason)

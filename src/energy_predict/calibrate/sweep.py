"""The sweep runner: backend x meter x grid on this machine, one record per measured repetition.

The run folder, its journal and resume are `calibrate.run.Run`'s. A cell that does not fit (out of memory) is
recorded as infeasible and the sweep goes on; so is a cell that fails for another reason, as an error.
A model or engine that cannot load stops the sweep at once: every cell after it would fail the same way.
"""

from __future__ import annotations

import dataclasses
import itertools
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from energy_predict.architectures import resolve_architecture
from energy_predict.calibrate.backends.base import Backend, CellInfeasible, make_backend
from energy_predict.calibrate.environment import now_iso
from energy_predict.calibrate.grid import Cell, Grid, ServingConfig
from energy_predict.calibrate.meter import Meter, measure_idle, measure_repeated, open_meter
from energy_predict.calibrate.run import OnCell, OnNotice, Run, read_outcome
from energy_predict.contracts.records import IDLE_BEFORE, CalibrationRecord, EngineKey, IdlePower, MeterInfo
from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.gpus import resolve_gpu

__all__ = ["EngineLoadError", "load_engine", "measure_cell", "read_outcome", "record_row", "run_sweep"]


def gpu_label(meter_info: MeterInfo) -> str:
    """The catalog name of the first metered GPU (its NVML name when not in the catalog; "cpu" without one)."""
    if not meter_info.gpus or not meter_info.gpus[0].name:
        return "cpu"
    try:
        return resolve_gpu(meter_info.gpus[0].name).name
    except EnergyPredictError:
        return meter_info.gpus[0].name


def no_sensor_notice(meter_info: MeterInfo) -> str | None:
    """What a user must be told once, at the start, when the meter has no energy sensor (None when it has one)."""
    if meter_info.sensor != "none":
        return None
    return (f"no energy sensor ({meter_info.null_reason}): durations are measured, but every record will hold "
            "energy_j = null with that reason in null_reason")


def _max_model_len(cells: list[Cell]) -> int:
    return max(c.input_tokens + c.output_tokens for c in cells) + 16


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


def load_engine(backend_factory: Callable[[str], Backend], meter: Meter, model: str, config: ServingConfig,
                group: list[Cell], idle_seconds: float) -> tuple[Backend, Meter, ServingConfig, IdlePower]:
    """Load one engine configuration and measure its loaded idle power.

    Returns the backend, the meter synchronised with it, the config as loaded and the idle power. A load that
    fails closes what it made and raises EngineLoadError with the one line the outcome keeps.
    """
    if config.framework == "vllm" and config.engine.max_model_len is None:
        config = config.with_max_model_len(_max_model_len(group))
    backend = None
    try:
        backend = backend_factory(config.framework)
        synced = meter.synced(backend.synchronize)
        backend.load(resolve_architecture(model), config)
        return backend, synced, config, measure_idle(synced, idle_seconds)
    except Exception as exc:  # noqa: BLE001 - said once in the outcome: every cell after would fail alike
        if backend is not None:
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - the load error is the one to report
                pass
        raise EngineLoadError(f"{model} under {config.name} did not load: {type(exc).__name__}: {exc}"[:500]) from exc


def record_row(run_id: str, cell: Cell, config: ServingConfig, gpu: str, gpu_count: int, repetition: int,
               status: str, idle_power_w: float | None, **values: Any) -> CalibrationRecord:
    """One record: the cell, its serving configuration and what was measured (`values`)."""
    spec = config.speculative
    return CalibrationRecord(
        run_id=run_id, backend=config.framework, config=config.name, model=cell.model, gpu=gpu, gpu_count=gpu_count,
        tensor_parallel=config.tensor_parallel, batch_size=cell.batch_size, input_tokens=cell.input_tokens,
        output_tokens=cell.output_tokens, repetition=repetition, status=status, idle_power_w=idle_power_w,
        timestamp=now_iso(), dtype=config.dtype, attn_implementation=config.engine.attn_implementation,
        compile=config.compile, decoding=config.decoding, beam_width=config.beam_width or 1,
        cuda_graphs=config.cuda_graphs, quantization=config.quantization or "none", max_num_seqs=config.max_batch,
        **({"speculative_model": spec.draft, "num_speculative_tokens": spec.draft_tokens,
            "synthetic_acceptance": spec.synthetic_acceptance} if spec else {}),
        **({"prefix_caching": True, "prefix_hit_rate": config.prefix_hit_rate} if config.prefix_caching else {}),
        **values)


def counters(backend: Backend) -> dict[str, float]:
    """The engine's own counters (vLLM: prefix-cache queries and hits, speculative drafts and acceptances).

    Read outside the measured window; empty for a backend or configuration without them.
    """
    read = getattr(backend, "counters", None)
    return (read() or {}) if read else {}


def measure_cell(backend: Backend, meter: Meter, grid: Grid, cell: Cell, skip: set[int], idle_before: float | None,
                 loaded_idle: float | None) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Warm a cell up, then measure its repetitions not in `skip`: yields (repetition, status, values).

    Each repetition is yielded as soon as it is measured, so the caller journals it before the next starts.
    A cell that does not fit yields one "infeasible" and one that fails one "error" (repetition 0).
    """
    try:
        run = backend.prepare(cell)
        warm = run
        if grid.warmup_output_tokens is not None and cell.output_tokens > grid.warmup_output_tokens:
            warm = backend.prepare(dataclasses.replace(cell, output_tokens=grid.warmup_output_tokens))
        for _ in range(grid.warmup_runs):  # the first run of a shape is not a measurement
            warm()
        for k in range(grid.repetitions):
            if k in skip:
                continue
            before = counters(backend)
            watch = getattr(backend, "watch_running", None)  # vLLM: its running/waiting counts over the window
            stop_watch = watch() if watch else None
            try:
                window = measure_repeated(meter, run, grid.min_window_s)
            finally:
                running = stop_watch() if stop_watch else {}
            r, n = window.reading, window.repeats
            per_run = {f"counter_{k}": (v - before[k]) / n for k, v in counters(backend).items() if k in before}
            energy = r.energy_j / n if r.energy_j is not None else None
            duration = r.duration_s / n
            above = energy - idle_before * duration if energy is not None and idle_before else None
            yield k, "ok", dict(
                energy_j=energy, energy_above_idle_j=above, duration_s=duration, repeats=n, window_s=r.duration_s,
                mean_power_w=r.mean_power_w, max_power_w=r.max_power_w,
                sampled_energy_j=r.sampled_energy_j / n if r.sampled_energy_j is not None else None,
                cross_checked=r.cross_checked, sm_clock_mhz=r.sm_clock_mhz,
                temperature_c=r.temperature_c, sensor=r.sensor,
                null_reason=r.null_reason, generated_tokens=min(window.results),
                gpu_energy_j=[e / n for e in r.gpu_energy_j] if r.gpu_energy_j is not None else None,
                loaded_idle_power_w=loaded_idle, **per_run, **running)
    except CellInfeasible as exc:
        yield 0, "infeasible", {"error": str(exc)[:500]}
    except Exception as exc:  # noqa: BLE001 - one broken cell must not end a long sweep
        yield 0, "error", {"error": f"{type(exc).__name__}: {exc}"[:500], "traceback": traceback.format_exc()[-2000:]}


def run_sweep(grid: Grid, run_dir: Path, *, gpus: tuple[int, ...] = (0,), resume: bool = False,
              backend_factory: Callable[[str], Backend] = make_backend, meter: Meter | None = None,
              on_cell: OnCell | None = None, on_notice: OnNotice | None = None,
              command: str | None = None) -> Path:
    """Measure every cell of the grid into `run_dir` (records.jsonl, records.parquet, run.json).

    Returns `run_dir`; `read_outcome(run_dir)` tells how the cells ended. `on_notice` gets what a user
    must be told once, at the start (no energy sensor); `on_cell` gets each cell as it ends.
    """
    for c in grid.configs:  # a tensor-parallel engine's energy is that of all its GPUs, each metered
        if c.tensor_parallel != len(gpus):
            raise InputError("--devices", f"config {c.name!r} runs on {c.tensor_parallel} GPU(s) but {len(gpus)} "
                             "are metered", "pass one --devices index per GPU the engine uses (e.g. --devices 0,1 "
                             "for TP 2)")
    run = Run.open(grid, Path(run_dir), resume=resume)
    meter = meter or open_meter(gpus)
    meter_info = meter.describe()
    notice = no_sensor_notice(meter_info)
    if notice and on_notice:
        on_notice(notice)
    gpu = gpu_label(meter_info)
    meta = run.begin(command=command, meter=meter_info, gpu=gpu, gpu_indices=list(gpus))
    run.save()

    idle_before = measure_idle(meter, grid.idle_seconds)
    meta.set_idle(IDLE_BEFORE, idle_before, keep_first=True)
    configs = {c.name: c for c in grid.configs}
    load_error = None
    groups = [(key, list(g)) for key, g in itertools.groupby(run.cells, key=lambda c: (c.model, c.config))]
    backend, engine, max_len = None, None, None  # the loaded engine, what it was built from, its context length
    for k, ((model, config_name), group) in enumerate(groups):
        pending = [c for c in group if not run.complete(c)]
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
                backend, synced, config, loaded_idle = load_engine(
                    backend_factory, meter, model, configs[config_name], shared_cells(groups, k, configs),
                    grid.idle_seconds)
            except EngineLoadError as exc:
                load_error, backend = str(exc), None
                break
            engine, max_len = wanted, config.engine.max_model_len
        run.engine_loaded(EngineKey(model, config_name), {**config.model_dump(), "versions": backend.versions()},
                          loaded_idle)
        for cell in pending:
            status = "ok"
            for rep, status, values in measure_cell(backend, synced, grid, cell, run.measured_repetitions(cell),
                                                    idle_before.total_w, loaded_idle.total_w):
                run.journal([record_row(run.dir.name, cell, config, gpu, len(gpus), rep, status,
                                        idle_before.total_w, **values)])
            run.write_table()
            run.cell_ended(cell, status, on_cell)
    if backend is not None:
        backend.close()
    run.finish(load_error, meter_info.null_reason if notice else None,
               measure_idle(meter, grid.idle_seconds) if load_error is None else None)
    return run.dir

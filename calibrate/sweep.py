"""The sweep runner: backend x meter x grid, one record per measured repetition.

Every record is journaled before the next one is taken, so a killed run loses at most the repetition
in flight, and `resume` continues exactly where it stopped. A cell that does not fit (out of memory) is
recorded as infeasible and the sweep goes on; so is a cell that fails for another reason.
"""

from __future__ import annotations

import itertools
import json
import traceback
from collections.abc import Callable
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


def _gpu_label(meter_info: dict) -> str:
    gpus = meter_info.get("gpus") or []
    if not gpus or not gpus[0].get("name"):
        return "cpu"
    try:
        return resolve_gpu(gpus[0]["name"]).name
    except EnergyPredictError:
        return gpus[0]["name"]


def _done_keys(records: list[dict]) -> tuple[set[tuple], set[tuple]]:
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


def run_sweep(grid: Grid, run_dir: Path, *, gpus: tuple[int, ...] = (0,), resume: bool = False,
              backend_factory: Callable[[str], Backend] = make_backend, meter=None,
              on_cell: OnCell | None = None, command: str | None = None) -> Path:
    """Measure every cell of the grid into `run_dir` (records.jsonl, records.parquet, run.json)."""
    for c in grid.configs:  # a tensor-parallel engine's energy is that of all its GPUs, each metered
        if c.tensor_parallel != len(gpus):
            raise InputError("--gpus", f"config {c.name!r} runs on {c.tensor_parallel} GPU(s) but {len(gpus)} are "
                             "metered", "pass one --gpus index per GPU the engine uses (e.g. --gpus 0,1 for TP 2)")
    run_dir = Path(run_dir)
    previous = rec.read_journal(run_dir)
    if previous and not resume:
        raise InputError("--out", f"{run_dir} already holds {len(previous)} records",
                         "pass --resume to continue that run, or choose a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    measured, closed = _done_keys(previous)
    cells = expand_grid(grid)
    configs = {c.name: c for c in grid.configs}

    meter = meter or open_meter(gpus)
    meter_info = meter.describe()
    gpu = _gpu_label(meter_info)
    meta_path = run_dir / rec.RUN_META
    meta = json.loads(meta_path.read_text()) if resume and meta_path.is_file() else {
        "run_id": run_dir.name, "grid": grid.model_dump(), "started": now_iso(), "command": command,
        "host": host_info(), "meter": meter_info, "gpu": gpu, "gpu_indices": list(gpus), "configs": {},
        "idle_power_w": {}, "idle_power_per_gpu_w": {}, "resumed": []}
    if previous:
        meta["resumed"].append(now_iso())
    meta["status"] = "running"
    meta_path.write_text(json.dumps(meta, indent=1))

    idle_before, idle_per_gpu = measure_idle(meter, grid.idle_seconds)
    meta["idle_power_w"].setdefault("before", idle_before)
    meta.setdefault("idle_power_per_gpu_w", {}).setdefault("before", idle_per_gpu)
    all_records = list(previous)
    def complete(c: Cell) -> bool:
        return c.key in closed or all((*c.key, k) in measured for k in range(grid.repetitions))

    done = sum(1 for c in cells if complete(c))
    total = len(cells)

    def record(cell: Cell, config: ServingConfig, repetition: int, status: str, **values) -> None:
        row = {"run_id": run_dir.name, "backend": config.backend, "config": config.name, "model": cell.model,
               "gpu": gpu, "gpu_count": len(gpus), "tensor_parallel": config.tensor_parallel,
               "batch_size": cell.batch_size, "input_tokens": cell.input_tokens, "output_tokens": cell.output_tokens,
               "repetition": repetition, "status": status, "idle_power_w": idle_before, "timestamp": now_iso(),
               "dtype": config.dtype, "attn_implementation": config.attn_implementation, "compile": config.compile,
               "decoding": config.decoding, "beam_width": config.beam_width, "cuda_graphs": config.cuda_graphs,
               "quantization": config.quantization or "none", "max_num_seqs": config.max_num_seqs, **values}
        rec.append_record(run_dir, row)
        all_records.append(row)

    for (model, config_name), group in itertools.groupby(cells, key=lambda c: (c.model, c.config)):
        group = list(group)
        pending = [c for c in group if not complete(c)]
        if not pending:
            continue
        config = configs[config_name]
        if config.backend == "vllm" and config.max_model_len is None:
            config = config.model_copy(update={"max_model_len": _max_model_len(group)})
        backend = None
        try:
            backend = backend_factory(config.backend)
            if hasattr(meter, "sync"):
                meter.sync = backend.synchronize
            backend.load(resolve_architecture(model), config)
            meta["configs"][config_name] = {**config.model_dump(), "versions": backend.versions()}
            loaded = f"loaded:{model}:{config_name}"
            meta["idle_power_w"][loaded], meta["idle_power_per_gpu_w"][loaded] = measure_idle(meter, grid.idle_seconds)
            meta_path.write_text(json.dumps(meta, indent=1))
        except Exception as exc:  # noqa: BLE001 - a config that cannot load is recorded, the sweep goes on
            for cell in pending:
                record(cell, config, 0, "error", error=f"load failed: {type(exc).__name__}: {exc}"[:500])
                done += 1
                if on_cell:
                    on_cell(done, total, cell, "error")
            if backend is not None:
                backend.close()
            continue
        loaded_idle = meta["idle_power_w"][f"loaded:{model}:{config_name}"]
        for cell in pending:
            status = "ok"
            try:
                run = backend.prepare(cell)
                for _ in range(grid.warmup_runs):  # the first run of a shape is not a measurement
                    run()
                for k in range(grid.repetitions):
                    if (*cell.key, k) in measured:
                        continue
                    window = measure_repeated(meter, run, grid.min_window_s)
                    r, n = window.reading, window.repeats
                    energy = r.energy_j / n if r.energy_j is not None else None
                    duration = r.duration_s / n
                    above = energy - idle_before * duration if energy is not None and idle_before else None
                    record(cell, config, k, "ok", energy_j=energy, energy_above_idle_j=above, duration_s=duration,
                           repeats=n, window_s=r.duration_s, mean_power_w=r.mean_power_w,
                           max_power_w=r.max_power_w,
                           sampled_energy_j=r.sampled_energy_j / n if r.sampled_energy_j is not None else None,
                           sm_clock_mhz=r.sm_clock_mhz, temperature_c=r.temperature_c, sensor=r.sensor,
                           null_reason=r.null_reason, generated_tokens=min(window.results),
                           gpu_energy_j=[e / n for e in r.gpu_energy_j] if r.gpu_energy_j is not None else None,
                           loaded_idle_power_w=loaded_idle)
            except CellInfeasible as exc:
                status = "infeasible"
                record(cell, config, 0, "infeasible", error=str(exc)[:500])
            except Exception as exc:  # noqa: BLE001 - one broken cell must not end a long sweep
                status = "error"
                record(cell, config, 0, "error", error=f"{type(exc).__name__}: {exc}"[:500],
                       traceback=traceback.format_exc()[-2000:])
            rec.write_table(run_dir, all_records)
            done += 1
            if on_cell:
                on_cell(done, total, cell, status)
        backend.close()

    meta["idle_power_w"]["after"], meta["idle_power_per_gpu_w"]["after"] = measure_idle(meter, grid.idle_seconds)
    meta["finished"] = now_iso()
    meta["status"] = "complete"
    meta_path.write_text(json.dumps(meta, indent=1))
    rec.write_table(run_dir, all_records)
    return run_dir

"""Ray's per-cell scheduling overhead (issue 18): the same grid through the local runner and through Ray.

The engine is a fake that does no work, so the time per cell is the runner's own: journal appends, the
table, and for Ray one actor call per cell (the cell out, its records back). It is compared with the time a
real cell takes, from the committed H100 records (warm-up run + each repetition's window of >= 2 s).

    PYTHONPATH=. python benchmarks/ray_overhead.py [CELLS]   # from the repository root (the engine and meter
                                                             # are tests/fakes.py's); writes results/ray_overhead.json
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from energy_predict.calibrate.fanout import EngineWorker, run_campaign
from energy_predict.calibrate.grid import expand_grid, parse_grid
from energy_predict.calibrate.pool import import_ray
from energy_predict.calibrate.records import append_record
from energy_predict.calibrate.sweep import run_sweep
from energy_predict.datasets import calibration_dir, run_dirs
from tests.fakes import FakeBackend, TickingMeter, ray_runtime_env

OUT = Path(__file__).parent / "results" / "ray_overhead.json"


def grid(cells: int):
    return parse_grid({"name": "overhead", "models": ["Llama-3.2-1B"], "configs": [{"name": "fake", "backend": "hf"}],
                       "blocks": [{"batch_sizes": [1], "input_tokens": list(range(cells)), "output_tokens": [1]}],
                       "repetitions": 3, "min_window_s": 0.0, "warmup_runs": 1, "idle_seconds": 0.0})


def per_cell_s(stamps: list[float]) -> float:
    """Median gap between consecutive cells' ends: the steady-state time per cell, start-up left out."""
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:]))


def run(cells: int) -> dict:
    ray = import_ray()
    g = grid(cells)
    with tempfile.TemporaryDirectory() as tmp:
        local: list[float] = []
        t0 = time.perf_counter()
        run_sweep(g, Path(tmp) / "local", backend_factory=lambda name: FakeBackend(), meter=TickingMeter(),
                  on_cell=lambda *a: local.append(time.perf_counter()))
        local_total = time.perf_counter() - t0
        t0 = time.perf_counter()
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, runtime_env=ray_runtime_env())
        init_s = time.perf_counter() - t0
        try:
            remote: list[float] = []
            t0 = time.perf_counter()
            run_campaign(g, Path(tmp) / "ray", backend_factory=lambda name: FakeBackend(), meter_factory=TickingMeter,
                         on_cell=lambda *a: remote.append(time.perf_counter()))
            ray_total = time.perf_counter() - t0
            first_cell_s = remote[0] - t0  # actor start + load, once per engine configuration
            same = same_work_in_process(g, Path(tmp) / "same")
            trip = round_trip_s(ray, g, Path(tmp) / "same")
        finally:
            ray.shutdown()
    return {"cells": cells, "local_per_cell_s": per_cell_s(local), "ray_per_cell_s": per_cell_s(remote),
            "same_work_in_process_per_cell_s": per_cell_s(same), "ray_round_trip_s": trip, "local_total_s": local_total,
            "ray_total_s": ray_total, "ray_init_s": init_s, "ray_first_cell_s": first_cell_s, "ray": ray.__version__}


class Echo:
    def rows(self, cell, rows):
        return rows


def round_trip_s(ray, g, run_dir: Path, n: int = 300) -> float:
    """Median time of one actor call carrying a cell out and its records (as journaled) back: Ray's own cost."""
    rows = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()[:3]]
    actor = ray.remote(Echo).options(num_cpus=0).remote()
    cell = expand_grid(g)[0]
    ray.get(actor.rows.remote(cell, rows))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        ray.get(actor.rows.remote(cell, rows))
        times.append(time.perf_counter() - t0)
    ray.kill(actor)
    return statistics.median(times)


def same_work_in_process(g, run_dir: Path) -> list[float]:
    """What a Ray worker and the driver do per cell (measure, journal each record), in one process, no Ray.

    The local runner also rewrites records.parquet after every cell (the Ray driver every 10 s), so the
    difference between Ray and this is Ray's own cost: the actor call, the cell out, the records back.
    """
    run_dir.mkdir()
    worker = EngineWorker(run_dir.name, g, g.models[0], g.configs[0], expand_grid(g), lambda name: FakeBackend(),
                          TickingMeter)
    worker.start(gpu_indices=(0,))
    stamps = []
    for cell in expand_grid(g):
        for row in worker.measure(cell, set()):
            append_record(run_dir, row.to_json())
        stamps.append(time.perf_counter())
    return stamps


def real_cell_seconds() -> dict:
    """Seconds one committed cell took on the GPU: a warm-up run plus each repetition's whole window."""
    frames = []
    for d in run_dirs(calibration_dir()):
        r = pd.read_parquet(d / "records.parquet")
        r = r[r["status"] == "ok"]
        window = r["window_s"] if "window_s" in r else r["duration_s"] * r["repeats"]
        frames.append(r.assign(window=window.fillna(r["duration_s"] * r["repeats"]), run=d.name))
    r = pd.concat(frames)
    per_cell = r.groupby(["run", "config", "model", "batch_size", "input_tokens", "output_tokens"]).agg(
        windows=("window", "sum"), warmup=("duration_s", "median"))
    seconds = per_cell["windows"] + per_cell["warmup"]
    return {"cells": int(len(seconds)), "median_s": float(seconds.median()), "p10_s": float(seconds.quantile(0.1)),
            "min_s": float(seconds.min())}


def main() -> None:
    cells = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    result = run(cells)
    real = real_cell_seconds()
    overhead = result["ray_round_trip_s"]
    result.update(real_cell=real, ray_overhead_per_cell_s=overhead,
                  overhead_share_of_median_cell=overhead / real["median_s"],
                  overhead_share_of_shortest_cell=overhead / real["min_s"],
                  ray_per_cell_share_of_shortest_cell=result["ray_per_cell_s"] / real["min_s"],
                  under_1_percent=result["ray_per_cell_s"] / real["min_s"] < 0.01,
                  host={"machine": platform.machine(), "python": platform.python_version(),
                        "cpus": os.cpu_count()})
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"per cell: local runner {result['local_per_cell_s'] * 1e3:.2f} ms, Ray {result['ray_per_cell_s'] * 1e3:.2f} "
          f"ms, the same work without Ray {result['same_work_in_process_per_cell_s'] * 1e3:.2f} ms; one Ray call "
          f"(cell out, records back) {overhead * 1e3:.2f} ms; Ray start {result['ray_init_s']:.1f} s, first cell after "
          f"{result['ray_first_cell_s']:.1f} s (once per engine configuration)")
    print(f"a real H100 cell: median {real['median_s']:.1f} s, shortest {real['min_s']:.1f} s over {real['cells']} "
          f"cells: one Ray call is {result['overhead_share_of_median_cell']:.4%} of the median, "
          f"{result['overhead_share_of_shortest_cell']:.4%} of the shortest; the whole time per cell through Ray "
          f"(call, journal fsyncs) {result['ray_per_cell_share_of_shortest_cell']:.3%} of the shortest")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

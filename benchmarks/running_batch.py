"""The KV-occupancy model against vLLM's measured running batches (issue 26, item 2).

For each cell of the 2026-12-07 large-batch run (Llama-3.1-8B, vLLM graphs, H100, `max_num_seqs` 1,024, stats
logged once a second), vLLM's running/waiting counts from its log (`calibrate.vllm_stats`) against what the tool
says runs:
- `predicted_running`: what the estimate serves a batch of B equal vLLM requests in (`predict.estimate.batch_sizes`,
  the vLLM path: `memory.running_sequences_that_fit` at the tool's KV capacity, capped at B), the number it costs;
- `predicted_static`: a static batch held at every sequence's final length (`memory.max_batch_that_fits`);
- `predicted_at_vllm_capacity`: the estimate's function at vLLM's logged capacity (the occupancy model alone);
and the tool's KV capacity (`memory.kv_token_capacity`) against vLLM's start-up line.

Stats lines belong to the cell whose "calibrate k/N" line follows them (warm-up and repetitions); the measured
windows are each record's [timestamp - duration_s, timestamp] (UTC, to the second, the log's clock), a line counting
in a window when its second overlaps it. Lines after the last cell line are the cell the run was stopped in (the
grid's next cell; no record). Other campaign logs with cell lines and stats lines (10 s stats, small batches) are
listed with their counts only. Writes benchmarks/results/running_batch.{json,md}.

Run from the repository root: python benchmarks/running_batch.py
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.architectures import resolve_architecture
from energy_predict.calibrate.grid import expand_grid, parse_grid
from energy_predict.calibrate.vllm_stats import (
    LoggedCell,
    StatsSample,
    kv_capacities_tokens,
    split_cells,
    summarize,
)
from energy_predict.gpus import resolve_gpu
from energy_predict.memory import kv_token_capacity, max_batch_that_fits, running_sequences_that_fit
from energy_predict.predict.estimate import batch_sizes
from energy_predict.serving import Deployment, Serving

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).parent / "results"
LOG = ROOT / "campaigns" / "2026-12-07-h100-batch-moe" / "logs" / "large-batch.log"
RUN = ROOT / "artifacts" / "calibration" / "2026-12-07-h100bm-large-batch"


def log_clock_s(timestamp: str) -> float:
    """A record's ISO timestamp on the log's clock (`vllm_stats`: seconds since 1 January of a leap year, UTC).

    vLLM stamps its lines in the machine's local time, which is UTC on the lent GPU machines: in
    campaigns/2026-12-07-h100-batch-moe/logs the pipeline's `date -u` stamps and vLLM's agree (an engine started
    at 15:33:49 UTC logs from 15:36:49). A record stamped in another zone is converted to UTC first.
    """
    t = datetime.fromisoformat(timestamp)
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return (datetime(2000, t.month, t.day, t.hour, t.minute, t.second) - datetime(2000, 1, 1)).total_seconds()


def in_windows(samples: tuple[StatsSample, ...], windows: list[tuple[float, float]]) -> list[StatsSample]:
    """The lines whose second ([t, t + 1): stamps are whole seconds) overlaps a measured window."""
    return [s for s in samples if any(s.t_s <= end and s.t_s + 1 > start for start, end in windows)]


def deployment(run: dict) -> Deployment:
    """The run's engine as the tool sees it (one model, one vLLM config, one GPU)."""
    config = run["grid"]["configs"][0]
    return Deployment(resolve_architecture(run["grid"]["models"][0]), resolve_gpu(run["gpu"]),
                      Serving(framework="vllm", cuda_graphs=bool(config["cuda_graphs"]),
                              max_batch=int(config["max_batch"])))


def predictions(dep: Deployment, vllm_capacity: int, b: int, i: int, o: int) -> dict:
    """What the tool says runs of a batch of b equal requests (i -> o): see the module docstring."""
    estimate = int(batch_sizes(dep, np.array([i]), np.array([o]), requests=b, weight=np.array([float(b)]))[0])
    static = int(np.clip(max_batch_that_fits(dep, np.array([i]), np.array([o]))[0], 1, b))
    at_vllm = int(np.clip(running_sequences_that_fit(vllm_capacity, [i], [o]), 1, b))
    return {"predicted_running": estimate, "predicted_static": static, "predicted_at_vllm_capacity": at_vllm,
            # equal requests started together all run until the cache holds b x (i + t): the step it fills at
            "cache_full_at_step": int(vllm_capacity // b - i) if vllm_capacity // b - i < o else None}


def cell_rows(run: dict, records: pd.DataFrame, cells: list[LoggedCell], dep: Deployment, vllm_capacity: int
              ) -> list[dict]:
    grid_cells = expand_grid(parse_grid(run["grid"]))
    rows = []
    for k, cell in enumerate(cells):
        if cell.done is None:  # the run stopped in this cell: the grid's next one
            nxt = grid_cells[k]
            b, i, o, status = nxt.batch_size, nxt.input_tokens, nxt.output_tokens, "stopped (no record)"
        else:
            b, i, o, status = cell.batch_size, cell.input_tokens, cell.output_tokens, cell.status
        mine = records[(records.batch_size == b) & (records.input_tokens == i) & (records.output_tokens == o)
                       & (records.status == "ok")]
        windows = [(log_clock_s(r.timestamp) - r.duration_s, log_clock_s(r.timestamp)) for r in mine.itertuples()]
        inside = in_windows(cell.samples, windows)
        whole, measured = summarize(cell.samples), summarize(inside)
        decode = [s.running for s in inside if s.prompt_tokens_per_s == 0.0]  # no new prompt: past the admission
        decode_mean = float(np.mean(decode)) if decode else None
        pred = predictions(dep, vllm_capacity, b, i, o)
        mean = measured.running_mean if measured.running_mean is not None else whole.running_mean
        rows.append({
            "batch": b, "input_tokens": i, "output_tokens": o, "status": status, "repetitions": len(mine),
            "lines_cell": whole.samples, "lines_measured": measured.samples,
            "running_max": whole.running_max, "running_mean_cell": whole.running_mean,
            "running_mean_measured": measured.running_mean,
            "running_mean_decode": round(decode_mean, 1) if decode else None,
            "waiting_max": whole.waiting_max,
            "preempted": whole.preempted, "preempted_measured": measured.preempted, **pred,
            "error_vs_mean_measured": round(pred["predicted_running"] / mean - 1, 4),
            "error_vs_peak": round(pred["predicted_running"] / whole.running_max - 1, 4),
            "error_vs_mean_decode": round(pred["predicted_running"] / decode_mean - 1, 4) if decode else None,
            "static_error_vs_mean_decode": round(pred["predicted_static"] / decode_mean - 1, 4) if decode else None})
    return rows


def other_logs() -> list[dict]:
    """Counts of every other campaign log with cell lines and stats lines (no prediction: other engines)."""
    rows = []
    for log in sorted(ROOT.glob("campaigns/*/logs/*.log")):
        if log == LOG:
            continue
        cells = [c for c in split_cells(log.read_text(errors="replace").splitlines()) if c.done and c.samples]
        for c in cells:
            s = summarize(c.samples)
            rows.append({"log": str(log.relative_to(ROOT)), "config": c.config, "batch": c.batch_size,
                         "input_tokens": c.input_tokens, "output_tokens": c.output_tokens, "lines": s.samples,
                         "running_max": s.running_max, "waiting_max": s.waiting_max, "preempted": s.preempted,
                         "ran_whole": s.running_max == c.batch_size})
    return rows


def compute() -> dict:
    """The comparison, as the JSON holds it less its commit (tests/test_running_batch.py recomputes it)."""
    run = json.loads((RUN / "run.json").read_text())
    records = pd.read_parquet(RUN / "records.parquet")
    lines = LOG.read_text().splitlines()
    (vllm_capacity,) = kv_capacities_tokens(lines)
    dep = deployment(run)
    tool_capacity = kv_token_capacity(dep)
    rows = cell_rows(run, records, split_cells(lines), dep, vllm_capacity)
    large = [r for r in rows if r["batch"] >= 768 and r["repetitions"]]
    result = {
        "log": str(LOG.relative_to(ROOT)), "run": str(RUN.relative_to(ROOT)), "model": dep.arch.name,
        "gpu": dep.gpu.name, "max_num_seqs": dep.serving.max_batch,
        "kv_capacity_tokens": {"tool": tool_capacity, "vllm": vllm_capacity,
                               "error": round(tool_capacity / vllm_capacity - 1, 4)},
        "cells": rows,
        "large_batch_error_vs_mean_measured": {
            "median_abs": float(np.median([abs(r["error_vs_mean_measured"]) for r in large])),
            "max_abs": float(max(abs(r["error_vs_mean_measured"]) for r in large))},
        "other_logs": other_logs(),
    }
    return result


def main() -> None:
    result = {**compute(), "commit": subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True,
                                                   text=True, cwd=ROOT).stdout.strip()}
    OUT.mkdir(exist_ok=True)
    (OUT / "running_batch.json").write_text(json.dumps(result, indent=1) + "\n")
    (OUT / "running_batch.md").write_text(render(result))
    print(render(result))


def _num(x) -> str:
    return "-" if x is None else f"{x:,.1f}"


def _pct(x) -> str:
    return "-" if x is None else f"{x:+.1%}"


def render(r: dict) -> str:
    kv = r["kv_capacity_tokens"]
    out = [f"# Running batches: the KV-occupancy model against vLLM's counts ({r['model']}, {r['gpu']}, "
           f"max_num_seqs {r['max_num_seqs']:,})", "",
           f"From `{r['log']}` (stats once a second) and `{r['run']}`; `python benchmarks/running_batch.py` "
           f"(commit {r['commit']}).", "",
           f"KV capacity: the tool {kv['tool']:,} tokens, vLLM {kv['vllm']:,} ({kv['error']:+.1%}).", "",
           "| cell (B x I->O) | status | lines (measured) | running max | running mean, measured windows "
           "(whole cell) | running mean, decode lines | waiting max | preempted | predicted (estimate) | static fit | "
           "at vLLM's capacity | cache full at step | error vs measured mean | error vs decode mean | "
           "static fit vs decode mean | error vs peak |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in r["cells"]:
        mean = "-" if c["running_mean_measured"] is None else f"{c['running_mean_measured']:,.1f}"
        out.append(f"| {c['batch']:,} x {c['input_tokens']:,}->{c['output_tokens']:,} | {c['status']} | "
                   f"{c['lines_cell']} ({c['lines_measured']}) | {c['running_max']:,} | {mean} "
                   f"({c['running_mean_cell']:,.1f}) | {_num(c['running_mean_decode'])} | {c['waiting_max']:,} | "
                   f"{c['preempted']} | "
                   f"{c['predicted_running']:,} | {c['predicted_static']:,} | {c['predicted_at_vllm_capacity']:,} | "
                   f"{c['cache_full_at_step'] if c['cache_full_at_step'] is not None else '-'} | "
                   f"{c['error_vs_mean_measured']:+.1%} | {_pct(c['error_vs_mean_decode'])} | "
                   f"{_pct(c['static_error_vs_mean_decode'])} | {c['error_vs_peak']:+.1%} |")
    e = r["large_batch_error_vs_mean_measured"]
    out += ["", f"Large batches (768 and 1,024, recorded): the estimate's running batch against the measured "
            f"time-weighted mean in the measured windows, median |error| {e['median_abs']:.1%}, max "
            f"{e['max_abs']:.1%}.", "",
            "Reading: a measured window starts with admission (vLLM prefills at most its token budget a step, so "
            "the running count ramps up while the rest wait) and ends with a tail, so the mean sits below the batch "
            "even where the whole batch ran; `preempted` means the running count fell while requests waited and no "
            "new prompt started (KV blocks ran out), not the ramp. Equal requests started together all run until "
            "the cache holds B x (I + t) tokens (`cache full at step` t, at vLLM's capacity), then vLLM preempts; "
            "the estimate's occupancy model (capacity / (I + (O + 1) / 2), sequences at every stage of growth) is "
            "a continuous-batching steady state and does not see this; here the static fit (capacity / (I + O)) "
            "came closer to the decode-phase mean of the preempted batch. `decode lines`: lines in the measured "
            "windows that started no new prompt (past admission; the tail of the batch included).", ""]
    if r["other_logs"]:
        o = r["other_logs"]
        out += [f"Other campaign logs (speculative decoding and prefix caching, batches <= 128, stats every 10 s): "
                f"{len(o)} cells with 1-{max(x['lines'] for x in o)} stats lines each (listed in the JSON); the "
                f"running count reached B in {sum(x['ran_whole'] for x in o)} (a 10 s snapshot can fall in the ramp "
                f"or the tail: too few lines to say more), preemption seen in "
                f"{sum(bool(x['preempted']) for x in o)}. No long-context cell (16k+ inputs) logged its counts."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()

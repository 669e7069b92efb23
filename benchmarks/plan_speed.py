"""Plan speed on one core: 1,000+ candidates for an hour of the Azure 2023 conversation trace (issue 27, item 5).

    taskset -c 0 python3 benchmarks/plan_speed.py    # writes benchmarks/results/plan_speed.{json,md}

The trace at its own arrival times (19,366 requests over 3,502 s), Llama-3.1-8B; the space: H100 and H200,
TP 1, 2, 4, 8, bf16 and fp8, batch caps 16..512, token budgets 2048..16384, up to 8 GPUs (1,440 candidates),
p90 TTFT 500 ms, p90 TPOT 50 ms. Three runs of `energy_predict.predict.plan.plan` after a warm-up of the model,
with one OpenBLAS thread (CPU time counts every thread of the process). Target: at most 10 s of CPU time, judged on
the median run (each run's CPU and wall time are kept: the core may be shared with other work, which slows a run).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one core, one thread

import json
import platform
import time
from pathlib import Path

import numpy as np

from energy_predict.architectures import resolve_architecture
from energy_predict.gpus import resolve_gpu
from energy_predict.model.persistence import load_default_model
from energy_predict.predict.plan import plan
from energy_predict.predict.plan_types import PlanSpace, PlanTargets
from energy_predict.provenance import git_commit, now_iso
from energy_predict.serving import Deployment, Serving
from energy_predict.traces import read_trace
from energy_predict.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT.parent / "shared" / "data" / "traces" / "azure_2023" / "AzureLLMInferenceTrace_conv.csv"
OUT = ROOT / "benchmarks" / "results"
COMMAND = "taskset -c 0 python3 benchmarks/plan_speed.py"
TARGET_S, TARGET_CANDIDATES = 10.0, 1000
REPEATS = 3
SPACE = PlanSpace(gpus=("H100-SXM-80GB", "H200-SXM-141GB"), tp=(1, 2, 4, 8), precisions=("bf16", "fp8"),
                  batch_caps=(16, 32, 64, 128, 256, 512), token_budgets=(2048, 4096, 8192, 16384), max_gpus=8)
TARGETS = PlanTargets(ttft_p90_ms=500, tpot_p90_ms=50)


def main() -> None:
    frame = read_trace(TRACE)
    t = frame["arrival_s"].to_numpy()
    w = Workload(frame["input_tokens"].to_numpy().astype(float), frame["output_tokens"].to_numpy().astype(float),
                 np.ones(len(frame)), None, t)
    dep = Deployment(resolve_architecture("Llama-3.1-8B"), resolve_gpu("H100-SXM-80GB"), Serving())
    model = load_default_model()
    load_before = os.getloadavg()[0]
    cpu, wall, plans = [], [], []
    for _ in range(REPEATS):
        t0, c0 = time.perf_counter(), time.process_time()
        plans.append(plan(w, dep, model, SPACE, TARGETS))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    p = plans[0]
    if any(q.to_dict() != p.to_dict() for q in plans[1:]):
        raise SystemExit("the runs gave different plans")
    wall_s, cpu_s = float(np.median(wall)), float(np.median(cpu))
    c = p.counts
    met = c.candidates >= TARGET_CANDIDATES and cpu_s <= TARGET_S
    result = {"command": COMMAND, "commit": git_commit(), "date": now_iso(), "python": platform.python_version(),
              "machine": platform.processor() or platform.machine(), "requests": len(frame),
              "candidates": c.candidates, "wall_s": round(wall_s, 2), "cpu_s": round(cpu_s, 2),
              "cpu_s_runs": [round(x, 2) for x in cpu], "wall_s_runs": [round(x, 2) for x in wall],
              "target_s": TARGET_S, "met": met, "load_average_1min": round(load_before, 2),
              "over_target": round(cpu_s / TARGET_S, 2), "counts": p.to_dict()["counts"],
              "recommended": p.recommended.candidate.label, "front_rows": len(p.rows)}
    OUT.mkdir(exist_ok=True)
    (OUT / "plan_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# plan speed (issue 27, item 5)", "", f"`{COMMAND}` at {result['commit']} on {result['date']}.", "",
             f"- {c.candidates:,} candidates, an hour of the Azure 2023 conversation trace ({len(frame):,} requests)",
             f"- CPU time, median of {REPEATS} runs: {cpu_s:.2f} s (runs: "
             f"{', '.join(f'{x:.2f}' for x in cpu)} s; wall {', '.join(f'{x:.2f}' for x in wall)} s on a core shared "
             f"with other work: load average {load_before:.1f} on {os.cpu_count()} cores as it started) against a "
             f"target of {TARGET_S:g} s: " + ("met" if met else f"missed, {cpu_s / TARGET_S:.2f}x the target"),
             f"- simulated {c.simulated}, reused {c.reused}, pruned by the energy bound {c.pruned_by_bound}, "
             f"not needed {c.not_needed}, infeasible by a bound {c.infeasible_by_bound}, refused by the model "
             f"{c.refused_by_model}, do not fit {c.refused_by_memory}",
             f"- recommended: {p.recommended.candidate.label} ({p.recommended.energy_kwh_per_day:.3g} kWh/day)", ""]
    (OUT / "plan_speed.md").write_text("\n".join(lines))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

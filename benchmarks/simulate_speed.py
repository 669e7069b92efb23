"""Online simulation speed on one core: an hour of conversation traffic, and an overloaded rate.

    taskset -c 0 python3 benchmarks/simulate_speed.py    # writes benchmarks/results/simulate_speed.json

- conversation_hour: one hour of Azure 2023 conversation traffic (19,366 requests) at the trace's own arrival
  times, Llama-3.1-8B on one H100, vLLM with CUDA graphs: the library call behind `energy-predict --profile ...
  --rate`, best of 3 after a warm-up. Target: under 10 s.
- code_gen_rate_100: examples/code_gen.json at `--rate 100` on one GPU, far beyond what one GPU serves; the
  simulator detects the growing queue and stops. The library call (`simulate_deployment`), best of 3 after a
  warm-up, and the whole `energy-predict --profile examples/code_gen.json --rate 100 --gpus 1` process (which
  exits 2 with the overload line), best of 3, wall and CPU time. Target: under 2 s (`met`: the library call).
"""

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from energy_predict.architectures import REGISTRY
from energy_predict.gpus import CATALOG
from energy_predict.model.store import load_default_model
from energy_predict.predict.run import load_case
from energy_predict.predict.serving import overload_error, simulate_deployment, summary
from energy_predict.provenance import git_commit, now_iso
from energy_predict.serving import Deployment, Serving
from energy_predict.traces import read_trace
from energy_predict.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT.parent / "shared" / "data" / "traces" / "azure_2023" / "AzureLLMInferenceTrace_conv.csv"
PROFILE = ROOT / "examples" / "code_gen.json"
COMMAND = "taskset -c 0 python3 benchmarks/simulate_speed.py"
TARGETS_S = {"conversation_hour": 10.0, "code_gen_rate_100": 2.0}


def best_of(fn, n: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def child_cpu_s() -> float:
    """CPU seconds (user + system) of finished child processes so far (less inflated by others' load than wall)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cli_command() -> list[str]:
    exe = shutil.which("energy-predict")
    return [exe] if exe else [sys.executable, "-m", "energy_predict"]


def conversation_hour(model) -> dict:
    frame = read_trace(TRACE)
    w = Workload(frame["input_tokens"].to_numpy(), frame["output_tokens"].to_numpy(), np.ones(len(frame)), None,
                 frame["arrival_s"].to_numpy())
    dep = Deployment(REGISTRY["Llama-3.1-8B"], CATALOG["H100-SXM-80GB"], Serving(framework="vllm", cuda_graphs=True))
    simulate_deployment(w, dep, model)
    wall, r = best_of(lambda: simulate_deployment(w, dep, model))
    return {"requests": r.result.requests, "simulated_s": round(r.result.period_s, 1), "wall_s": round(wall, 3),
            "target_s": TARGETS_S["conversation_hour"], "met": wall < TARGETS_S["conversation_hour"],
            "summary": asdict(summary(r))}


def code_gen_rate_100(model) -> dict:
    case = load_case(PROFILE, gpus=1)
    simulate_deployment(case.workload, case.dep, model, 100.0)
    wall, r = best_of(lambda: simulate_deployment(case.workload, case.dep, model, 100.0))
    cmd = [*cli_command(), "--profile", str(PROFILE.relative_to(ROOT)), "--rate", "100", "--gpus", "1"]
    procs, cpu = [], []
    for _ in range(3):
        c0, t0 = child_cpu_s(), time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        procs.append((time.perf_counter() - t0, p))
        cpu.append(child_cpu_s() - c0)
    process_s = min(t for t, _ in procs)
    last = procs[-1][1]
    return {"profile": str(PROFILE.relative_to(ROOT)), "rate_per_s": 100.0, "gpus": 1,
            "offered_requests": int(r.result.requests), "completed": int(r.result.completed),
            "simulated_s": round(r.result.period_s, 1), "overloaded": r.overloaded,
            "sustainable_rate_per_s": r.sustainable_rate_per_s, "message": str(overload_error(r)) if r.overloaded
            else None, "wall_s": round(wall, 3),
            "process_cmd": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd)),
            "process_s": round(process_s, 3), "process_cpu_min_s": round(min(cpu), 3),
            "process_exit_code": last.returncode,
            "process_stderr": last.stderr.strip().splitlines()[-1] if last.stderr.strip() else "",
            "target_s": TARGETS_S["code_gen_rate_100"], "met": wall < TARGETS_S["code_gen_rate_100"],
            "process_under_target": {"wall": process_s < TARGETS_S["code_gen_rate_100"],
                                     "cpu": min(cpu) < TARGETS_S["code_gen_rate_100"]}}


def main() -> None:
    model = load_default_model()
    out = {"command": COMMAND, "commit": git_commit(ROOT), "created": now_iso(),
           "conversation_hour": conversation_hour(model), "code_gen_rate_100": code_gen_rate_100(model),
           "affinity": sorted(os.sched_getaffinity(0)), "python": platform.python_version(),
           "load_average_1m": round(os.getloadavg()[0], 2)}  # a shared machine: other work inflates the times
    path = ROOT / "benchmarks" / "results" / "simulate_speed.json"
    path.write_text(json.dumps(out, indent=1, default=float) + "\n")
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()

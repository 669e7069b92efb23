"""Online simulation speed: one hour of Azure 2023 conversation traffic (19,366 requests) on one core.

    taskset -c 0 python benchmarks/simulate_speed.py    # writes benchmarks/results/simulate_speed.json

Target: under 10 s. Times the library call behind `energy-predict --profile ... --rate` with the trace's
own arrival times, after one warm-up call.
"""

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from energy_predict.architectures import REGISTRY
from energy_predict.gpus import CATALOG
from energy_predict.model.store import load_default_model
from energy_predict.predict.estimate import Deployment
from energy_predict.predict.serving import simulate_deployment
from energy_predict.traces import read_trace
from energy_predict.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT.parent / "shared" / "data" / "traces" / "azure_2023" / "AzureLLMInferenceTrace_conv.csv"


def main() -> None:
    frame = read_trace(TRACE)
    w = Workload(frame["input_tokens"].to_numpy(), frame["output_tokens"].to_numpy(), np.ones(len(frame)), None,
                 frame["arrival_s"].to_numpy())
    dep = Deployment(REGISTRY["Llama-3.1-8B"], CATALOG["H100-SXM-80GB"],
                     {"framework": "vllm", "backend": "vllm", "cuda_graphs": True, "compile": False,
                      "quantization": None, "max_batch": 256})
    model = load_default_model()
    simulate_deployment(w, dep, model)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        result = simulate_deployment(w, dep, model)
        times.append(time.perf_counter() - t0)
    out = {"requests": result.requests, "simulated_s": round(result.period_s, 1), "wall_s": round(min(times), 3),
           "target_s": 10.0, "met": min(times) < 10.0, "affinity": sorted(os.sched_getaffinity(0)),
           "python": platform.python_version(), "summary": result.summary()}
    path = ROOT / "benchmarks" / "results" / "simulate_speed.json"
    path.write_text(json.dumps(out, indent=1, default=float) + "\n")
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()

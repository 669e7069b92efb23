"""Prediction speed on one core: a 1,000,000-request trace and a histogram profile.

    taskset -c 0 python benchmarks/predict_speed.py     # writes benchmarks/results/predict_speed.json

The trace is the Azure 2023 conversation trace resampled to 1,000,000 requests (seeded), written to a
temporary CSV; timing covers reading it, binning, the default model and both baselines (the library call
behind `energy-predict --profile`, without interpreter start-up). Targets: < 2 s and < 0.2 s.
"""

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.predict.run import predict_profile

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT.parent / "shared" / "data" / "traces" / "azure_2023" / "AzureLLMInferenceTrace_conv.csv"


def best_of(fn, n=3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    src = pd.read_csv(TRACE)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(src), 1_000_000)
    big = pd.DataFrame({"arrival_s": np.sort(rng.uniform(0, 86400, 1_000_000)).round(3),
                        "input_tokens": src["ContextTokens"].to_numpy()[idx],
                        "output_tokens": src["GeneratedTokens"].to_numpy()[idx]})
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.csv"
        big.to_csv(trace, index=False)
        profile = Path(tmp) / "p.json"
        profile.write_text(json.dumps({"model": "Llama-3.1-8B", "hardware": {"gpu": "H100"},
                                       "workload": {"tokens": {"kind": "trace", "path": str(trace)}}}))
        predict_profile(profile)  # warm imports and caches
        trace_s = best_of(lambda: predict_profile(profile))
    hist = ROOT / "examples" / "conversation.json"
    predict_profile(hist)
    hist_s = best_of(lambda: predict_profile(hist), 5)
    result = {"trace_1m_requests_s": round(trace_s, 3), "histogram_profile_s": round(hist_s, 4),
              "targets_s": {"trace_1m_requests_s": 2.0, "histogram_profile_s": 0.2},
              "met": trace_s < 2.0 and hist_s < 0.2, "cpu": platform.processor() or platform.machine(),
              "affinity": sorted(os.sched_getaffinity(0)), "python": platform.python_version()}
    out = ROOT / "benchmarks" / "results" / "predict_speed.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Does metering slow what it meters? HF eager generate, batch 1, 512 -> 128, Llama-3.1-8B shape (GPU).

Times the same call with no meter, with the NVML meter sampling power in every window (the old default), and with
the meter as calibration now runs it (counter only; the sampler only in its cross-check windows, 1 in 3),
interleaved over ROUNDS rounds (>= 5, issue 15) so that drift (clocks, temperature) hits every variant alike.
A launch-bound loop shares the GIL with the sampler, so a difference would show here.
Run: PYTHONPATH=. python3 benchmarks/meter_overhead.py [NVML_INDEX]   (prints one line per variant; the index is
NVML's, which ignores CUDA_VISIBLE_DEVICES: pass the GPU that CUDA_VISIBLE_DEVICES names)
"""

import contextlib
import statistics
import sys
import time

from energy_predict.architectures import REGISTRY
from energy_predict.calibrate import meter as meter_mod
from energy_predict.calibrate.backends.hf import HFBackend
from energy_predict.calibrate.grid import Cell, ServingConfig

ROUNDS = 6


def main() -> None:
    backend = HFBackend()
    backend.load(REGISTRY["Llama-3.1-8B"], ServingConfig(name="hf-eager", backend="hf"))
    run = backend.prepare(Cell("Llama-3.1-8B", "hf-eager", 1, 512, 128))
    run()
    run()
    index = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    every = meter_mod.NvmlMeter([index], sync=backend.synchronize, cross_check_every=1)
    counter = meter_mod.NvmlMeter([index], sync=backend.synchronize, cross_check_every=10**9)
    meter_mod.measure(counter, lambda: None)  # spend the one cross-check window the counter-only meter opens with

    variants = {"no meter": contextlib.nullcontext, "sampler every window": every.window,
                "counter only (calibration)": counter.window}
    times = {k: [] for k in variants}
    energies = {k: [] for k in variants}
    for _ in range(ROUNDS):
        for label, window in variants.items():
            with window() as w:
                t0 = time.perf_counter()
                run()
                backend.synchronize()
                times[label].append(time.perf_counter() - t0)
            r = w.reading if w is not None else None
            energies[label].append(r.energy_j if r is not None else float("nan"))
    for label in variants:
        print(f"{label:28s} time_s {statistics.median(times[label]):.3f} {[round(t, 3) for t in times[label]]} "
              f"energy_j {[round(e, 1) for e in energies[label]]} J/token "
              f"{statistics.median(energies[label]) / 128:.2f}", flush=True)
    import torch
    import transformers
    print("torch", torch.__version__, "transformers", transformers.__version__, flush=True)


if __name__ == "__main__":
    main()

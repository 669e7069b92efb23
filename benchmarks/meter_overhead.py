"""Does metering slow what it meters? HF eager generate, batch 1, 512 -> 128, Llama-3.1-8B shape (GPU).

Times the same call with no meter, with the NVML meter (counter + 50 Hz sampling thread), and with the
sampling thread off. A launch-bound loop shares the GIL with the sampler, so a difference would show here.
Run: PYTHONPATH=. python3 benchmarks/meter_overhead.py   (prints one line per variant)
"""

import statistics
import time

from energy_predict.architectures import REGISTRY
from energy_predict.calibrate import meter as meter_mod
from energy_predict.calibrate.backends.hf import HFBackend
from energy_predict.calibrate.grid import Cell, ServingConfig


def main() -> None:
    backend = HFBackend()
    backend.load(REGISTRY["Llama-3.1-8B"], ServingConfig(name="hf-eager", backend="hf"))
    run = backend.prepare(Cell("Llama-3.1-8B", "hf-eager", 1, 512, 128))
    run()
    run()
    meter = meter_mod.NvmlMeter([0], sync=backend.synchronize)

    def timed(label: str, start, stop) -> None:
        times, energies = [], []
        for _ in range(3):
            start()
            t0 = time.perf_counter()
            run()
            backend.synchronize()
            times.append(time.perf_counter() - t0)
            r = stop()
            energies.append(r.energy_j if r is not None else float("nan"))
        print(f"{label:28s} time_s {statistics.median(times):.3f} {[round(t, 3) for t in times]} "
              f"energy_j {[round(e, 1) for e in energies]}", flush=True)

    timed("no meter", lambda: None, lambda: None)
    timed("nvml meter, 50 Hz sampler", meter.start, meter.stop)
    original = meter_mod._Sampler.run
    meter_mod._Sampler.run = lambda self: None  # sampler thread exits at once
    timed("nvml meter, no sampler", meter.start, meter.stop)
    meter_mod._Sampler.run = original
    import torch
    import transformers
    print("torch", torch.__version__, "transformers", transformers.__version__, flush=True)


if __name__ == "__main__":
    main()

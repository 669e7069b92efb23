"""On the one-GPU machine: ML.ENERGY's closed loop for Llama-3.1-8B on one H100, measured with this repository's
replay code (issue 25, item 5: is the 8B's gap to ML.ENERGY at high concurrency the engine's step cost, or the
workload the tool assumes?).

    python closed_loop.py TRACES_DIR OUT_DIR DEADLINE_S

One engine per max_num_seqs (256, then 64): vLLM, bf16, CUDA graphs, prefix caching off, chunked prefill with
ML.ENERGY's 8192-token budget, random weights. On each engine, each request file of `make_traces.py` is replayed
offline (every request handed to the engine at once, so it keeps max_num_seqs running: ML.ENERGY's client), one
measured run, the loaded idle power metered before it; the engine's first replay is warmed up once on its own
requests (every later one runs the same chunked shapes). A replay that would not finish before the deadline is
skipped. Records are written as replays end (`replay`'s format), one folder per engine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from energy_predict.calibrate.backends.base import make_backend
from energy_predict.calibrate.grid import ServingConfig
from energy_predict.calibrate.meter import open_meter
from energy_predict.calibrate.replay import (
    measure_replay,
    open_engine,
    plan_replays,
    prefix_hooks,
    replay_runner,
    write_replay,
)

MODEL = "Llama-3.1-8B"
ORDER = ((256, ("in256", "in1024")), (64, ("in256", "in1024")))
MAX_INPUT, MAX_OUTPUT = 1024, 4096  # every plan of an engine has the same context length, so one engine serves all
TOKENS_PER_S = {256: 9000.0, 64: 4000.0}  # a cautious rate for the deadline check (ML.ENERGY's own, lower than ours)


def serving(cap: int) -> ServingConfig:
    return ServingConfig.model_validate({"name": f"closed-loop-cap{cap}", "backend": "vllm", "cuda_graphs": True,
                                         "max_num_seqs": cap, "max_num_batched_tokens": 8192,
                                         "enable_prefix_caching": False})


def expected_s(path: Path, cap: int) -> float:
    rows = path.read_text().splitlines()[1:]
    out = sum(int(r.split(",")[1]) for r in rows)
    prefill = sum(int(r.split(",")[0]) for r in rows) / 30000.0
    return out / TOKENS_PER_S[cap] + prefill + 6.0


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} {msg}", flush=True)


def main(traces: Path, out: Path, deadline_s: float) -> None:
    end = time.time() + deadline_s
    for cap, inputs in ORDER:
        files = [traces / f"cap{cap}-{i}-{ab}.csv" for i in inputs for ab in "ab"]
        if time.time() + 120 + expected_s(files[0], cap) * 3 > end:
            log(f"cap {cap}: skipped, {end - time.time():.0f} s left")
            continue
        plans = [plan_replays(f, backend_name="vllm", model=MODEL, n=len(f.read_text().splitlines()) - 1, seed=0,
                              modes=["offline"], rates=[], batch_size=1, cuda_graphs=True, repetitions=1,
                              max_input=MAX_INPUT, max_output=MAX_OUTPUT, serving=serving(cap)) for f in files]
        assert all(p.config == plans[0].config for p in plans), "one engine per cap: the plans must agree"
        log(f"cap {cap}: loading the engine")
        backend, meter, engine = open_engine(plans[0], (0,), make_backend, open_meter)
        log(f"cap {cap}: loaded")
        folder = out / f"cap{cap}"
        folder.mkdir(parents=True, exist_ok=True)
        warm = False
        for f, plan in zip(files, plans):
            need = expected_s(f, cap) * (1 if warm else 2)
            if time.time() + need > end:
                log(f"{f.stem}: skipped, {end - time.time():.0f} s left, needs ~{need:.0f}")
                continue
            unit = plan.units[0]
            run = replay_runner(backend, plan, unit)
            reset, counters = prefix_hooks(backend, plan)
            fields = {"backend": engine.backend, "config": engine.config, "versions": engine.versions,
                      "meter": engine.meter, "empty_idle_power_w": engine.empty_idle_power_w, "seed": plan.seed,
                      "n": plan.n, **plan.unit_meta(unit)}
            log(f"{f.stem}: start ({len(unit.reqs.input_tokens)} requests, warm-up {not warm})")
            record = measure_replay(unit.name, meter, run, unit.reqs, plan.arch, fields, repetitions=1,
                                    warmup=not warm, idle_s=3.0, reset=reset, counters=counters)
            warm = True
            write_replay(folder, record)
            r = record.runs[0]
            log(f"{f.stem}: {r.energy_j} J in {r.duration_s:.2f} s")
        backend.close()
        log(f"cap {cap}: closed")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]))

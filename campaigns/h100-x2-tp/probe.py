"""Start one vLLM engine configuration and time batch-1 decode steps; the start-up experiments' probe.

  python probe.py LABEL TP GRAPHS(0|1) '{"compilation_config": ...}' OUT_DIR
Prints and writes OUT_DIR/LABEL.json: whether the engine started, the error if not, and the decode step time
(generate 128 -> 136 tokens minus 128 -> 8, over 128 steps; median of 3) at batch 1.
"""

import json
import statistics
import sys
import time
import traceback
from pathlib import Path

from energy_predict.architectures import resolve_architecture
from energy_predict.calibrate.backends.vllm import engine_kwargs, write_model_dir
from energy_predict.calibrate.grid import ServingConfig


def main() -> None:
    label, tp, graphs, extra, out = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", json.loads(sys.argv[4]), sys.argv[5]
    result = {"label": label, "tensor_parallel": tp, "cuda_graphs": graphs, "extra": extra, "started": False}
    t0, llm = time.perf_counter(), None
    try:
        from vllm import LLM, SamplingParams

        config = ServingConfig(name=label, backend="vllm", cuda_graphs=graphs, tensor_parallel=tp, max_num_seqs=256,
                               **extra)
        arch = resolve_architecture("Llama-3.1-8B")
        llm = LLM(**engine_kwargs(config, write_model_dir(arch, 2048), 2048))
        result["started"], result["start_s"] = True, time.perf_counter() - t0
        prompt = [{"prompt_token_ids": list(range(100, 228))}]

        def run(o: int) -> float:
            params = SamplingParams(temperature=0.0, ignore_eos=True, min_tokens=o, max_tokens=o, detokenize=False)
            t = time.perf_counter()
            llm.generate(prompt, params, use_tqdm=False)
            return time.perf_counter() - t

        run(8), run(136)  # warm-up
        short, long = [run(8) for _ in range(3)], [run(136) for _ in range(3)]
        result["decode_step_ms"] = (statistics.median(long) - statistics.median(short)) / 128 * 1000
        result["generate_8_s"], result["generate_136_s"] = short, long
        out_ok = llm.generate(prompt, SamplingParams(temperature=0.0, max_tokens=4, detokenize=False), use_tqdm=False)
        result["tokens_sample"] = list(out_ok[0].outputs[0].token_ids)
    except BaseException as exc:  # noqa: BLE001 - the probe's job is to report the failure
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        result["traceback"] = traceback.format_exc()[-4000:]
    try:
        llm.llm_engine.engine_core.shutdown()  # free the TP workers before the next probe
    except Exception:  # noqa: BLE001 - no engine, or already down
        pass
    result["wall_s"] = time.perf_counter() - t0
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / f"{label}.json").write_text(json.dumps(result, indent=1))
    print("PROBE", json.dumps({k: v for k, v in result.items() if k != "traceback"}), flush=True)


if __name__ == "__main__":
    main()

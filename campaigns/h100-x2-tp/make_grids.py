"""Write the TP campaign's grids: Llama-3.1-8B at TP 1 and 2 on one shared set of cells, Llama-3.1-70B fp8 at TP 2.

Run from the repository root: python calibrate/campaigns/h100-x2-tp/make_grids.py
The cells are a subset of the TP1 grid already measured (artifacts/calibration/*vllm-graphs-llama8b), so the
TP1 rows here can be checked against those. Most important first: the reference study's batch-1 cells.
TP1 runs on both GPUs at once, so its cells are split in two grids of the same config.
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
CELLS_8B = [  # (batch, input, output), most important first
    (1, 128, 128), (1, 512, 256), (1, 128, 32), (1, 2048, 128), (1, 8192, 32), (8, 128, 128), (64, 128, 128),
    (256, 128, 128), (16, 1024, 64), (8, 2048, 32), (64, 512, 32), (128, 256, 64), (16, 256, 8), (256, 512, 32),
    (8, 8192, 32), (64, 2048, 32), (32, 128, 512), (1, 128, 1024),
]
CELLS_70B = [(1, 128, 128), (1, 512, 256), (8, 128, 128), (64, 512, 32), (16, 1024, 64), (256, 128, 128)]
# vLLM 0.26 at -O2 turns on, for TP > 1 on Hopper, FlashInfer's all-reduce + RMSNorm fusion (and for hidden
# size >= 8192 sequence parallelism and async TP). docs/measurements/2026-11-27-tp-startup.md says which of
# them fail on this machine; the grids keep one config with the fusion (vLLM's default) and one without.
NO_AR_FUSION = {"pass_config": {"fuse_allreduce_rms": False}}
NO_TP_PASSES = {"pass_config": {"fuse_allreduce_rms": False, "enable_sp": False, "fuse_gemm_comms": False}}


def config(name: str, tp: int, graphs: bool = True, **extra) -> dict:
    return {"name": name, "backend": "vllm", "cuda_graphs": graphs, "tensor_parallel": tp, "max_num_seqs": 256,
            "enable_prefix_caching": False, **extra}


def grid(name: str, model: str, configs: list[dict], cells: list[tuple[int, int, int]]) -> dict:
    blocks = [{"batch_sizes": [b], "input_tokens": [i], "output_tokens": [o]} for b, i, o in cells]
    return {"name": name, "models": [model], "configs": configs, "blocks": blocks, "repetitions": 3,
            "min_window_s": 2.0, "warmup_runs": 1, "idle_seconds": 3.0}


def main() -> None:
    tp2 = [config("vllm-graphs-tp2", 2), config("vllm-graphs-tp2-noarfusion", 2, compilation_config=NO_AR_FUSION),
           config("vllm-eager-tp2", 2, graphs=False)]
    grids = {
        "tp1-a.json": grid("tp-8b-tp1", "Llama-3.1-8B", [config("vllm-graphs", 1)], CELLS_8B[0::2]),
        "tp1-b.json": grid("tp-8b-tp1", "Llama-3.1-8B", [config("vllm-graphs", 1)], CELLS_8B[1::2]),
        "tp2.json": grid("tp-8b-tp2", "Llama-3.1-8B", tp2, CELLS_8B),
        "tp2-70b-fp8.json": grid("tp-70b-fp8-tp2", "Llama-3.1-70B", [
            config("vllm-graphs-fp8-tp2-notppasses", 2, quantization="fp8", compilation_config=NO_TP_PASSES)],
            CELLS_70B),
    }
    for name, data in grids.items():
        (HERE / name).write_text(json.dumps(data, indent=1) + "\n")
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()

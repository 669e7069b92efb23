"""Write the 4-GPU campaign's grids (issues 14, 15, 16, 18): one `calibrate GRID --ray` command per card.

Run from the repository root: python calibrate/campaigns/x4-tp4-families/make_grids.py
Engines start in the order of the blocks (calibrate/fanout.py: most important first, none overtakes one
waiting for GPUs), so a lease cut short still holds what matters most:
 1. Llama-3.1-8B at TP4 on the 18 cells already measured at TP1 and TP2 (issue 14: the third degree);
 2. on an H100 only: the same model at TP2 on 12 of them (the H200 has TP1 and TP2 already; the H100 has TP1);
 3. Qwen2.5-32B at TP2 (issue 14), then Llama-3.1-8B in HF eager on the cells whose committed values
    the old in-process sampler disturbed (issue 15; six at batch 1, so the windows with and without the
    cross-check sampler give >= 5 interleaved rounds of a meter A/B);
 4. new architectures on one GPU each (issue 16): OLMoE-1B-7B and its dense peers OLMo-1B and OLMo-7B,
    Qwen3-30B-A3B, Mixtral-8x7B (bf16: one H200, or TP2 on H100s, whose 80 GB do not hold its 93 GB),
    Qwen2.5-7B; eight cells each, the grid a new model needs;
 5. Llama-3.1-70B in bf16 at TP4 last (a 70B configuration is committed already: fp8 TP2 on the H200).
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
CELLS_8B = [  # the TP campaign's cells (calibrate/campaigns/h100-x2-tp/make_grids.py), most important first
    (1, 128, 128), (1, 512, 256), (1, 128, 32), (1, 2048, 128), (1, 8192, 32), (8, 128, 128), (64, 128, 128),
    (256, 128, 128), (16, 1024, 64), (8, 2048, 32), (64, 512, 32), (128, 256, 64), (16, 256, 8), (256, 512, 32),
    (8, 8192, 32), (64, 2048, 32), (32, 128, 512), (1, 128, 1024),
]
CELLS_BIG = [(1, 128, 128), (1, 512, 256), (8, 128, 128), (64, 512, 32), (16, 1024, 64), (256, 128, 128)]
# A new model's grid: batch 1 to 256, prefill-heavy and decode-heavy, contexts to 2 K (OLMo's limit is 4 K).
CELLS_MODEL = [(1, 128, 128), (1, 2048, 32), (8, 128, 128), (8, 2048, 32), (16, 1024, 64), (64, 512, 32),
               (64, 128, 128), (256, 128, 128)]
# HF eager cells of Llama-3.1-8B whose committed repetitions spread most (the sampler's GIL share)
CELLS_HF = [(1, 128, 128), (1, 512, 128), (1, 2048, 128), (1, 128, 32), (1, 512, 32), (1, 2048, 32),
            (4, 512, 128), (16, 512, 128)]
# vLLM 0.26's -O2 turns on FlashInfer's all-reduce + RMSNorm fusion for TP > 1, which needs NVLink multicast
# (off on these machines); for hidden size >= 8192 also sequence parallelism and async TP.
# docs/measurements/2026-11-27-tp-startup.md
NO_AR_FUSION = {"pass_config": {"fuse_allreduce_rms": False}}
NO_TP_PASSES = {"pass_config": {"fuse_allreduce_rms": False, "enable_sp": False, "fuse_gemm_comms": False}}


def vllm(name: str, tp: int = 1, **extra) -> dict:
    return {"name": name, "backend": "vllm", "cuda_graphs": True, "tensor_parallel": tp, "max_num_seqs": 256,
            "enable_prefix_caching": False, **extra}


CONFIGS = {c["name"]: c for c in [
    vllm("vllm-graphs-tp4-noarfusion", 4, compilation_config=NO_AR_FUSION),
    vllm("vllm-graphs-tp2-noarfusion", 2, compilation_config=NO_AR_FUSION),
    vllm("vllm-graphs-tp4-notppasses", 4, compilation_config=NO_TP_PASSES),
    vllm("vllm-graphs"),
    # Qwen3-30B-A3B holds 61 GB of bf16 weights: at vLLM's default 0.9 an H100 keeps too little for batch 256's KV
    vllm("vllm-graphs-mem95", gpu_memory_utilization=0.95),
    {"name": "hf-eager", "backend": "hf"},
]}


def block(model: str, config: str, cells: list[tuple[int, int, int]]) -> list[dict]:
    return [{"batch_sizes": [b], "input_tokens": [i], "output_tokens": [o], "models": [model], "configs": [config]}
            for b, i, o in cells]


def campaign(card: str) -> dict:
    h100 = card == "h100"
    parts = [("Llama-3.1-8B", "vllm-graphs-tp4-noarfusion", CELLS_8B)]
    if h100:
        parts.append(("Llama-3.1-8B", "vllm-graphs-tp2-noarfusion", CELLS_8B[:12]))
    parts += [
        ("Qwen2.5-32B", "vllm-graphs-tp2-noarfusion", CELLS_BIG),
        ("Llama-3.1-8B", "hf-eager", CELLS_HF),
        ("OLMoE-1B-7B", "vllm-graphs", CELLS_MODEL),
        ("OLMo-1B", "vllm-graphs", CELLS_MODEL),
        ("OLMo-7B", "vllm-graphs", CELLS_MODEL),
        ("Qwen3-30B-A3B", "vllm-graphs-mem95" if h100 else "vllm-graphs", CELLS_MODEL),
        ("Mixtral-8x7B", "vllm-graphs-tp2-noarfusion" if h100 else "vllm-graphs", CELLS_MODEL),
        ("Qwen2.5-7B", "vllm-graphs", CELLS_MODEL),
        ("Llama-3.1-70B", "vllm-graphs-tp4-notppasses", CELLS_BIG),
    ]
    used = list(dict.fromkeys(c for _, c, _ in parts))
    models = list(dict.fromkeys(m for m, _, _ in parts))
    return {"name": f"x4-tp4-families-{card}", "models": models, "configs": [CONFIGS[c] for c in used],
            "blocks": [b for m, c, cells in parts for b in block(m, c, cells)], "repetitions": 3,
            "min_window_s": 2.0, "warmup_runs": 1, "idle_seconds": 3.0}


def main() -> None:
    for card in ("h100", "h200"):
        path = HERE / f"campaign-{card}.json"
        path.write_text(json.dumps(campaign(card), indent=1) + "\n")
        print("wrote", path)


if __name__ == "__main__":
    main()

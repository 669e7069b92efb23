"""Grids of the next one-GPU lease for issue 26 (what 2026-12-07-h100-batch-moe left): python make_grids.py."""

from pathlib import Path

from energy_predict.calibrate.grid_builders import cell_blocks, grid, vllm_config, write_grids

HERE = Path(__file__).parent
CAPTURE = {"cudagraph_capture_sizes": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]}
# the cells every H100 mixture of experts was measured at (x4c, 2026-12-07-h100bm)
MOE_CELLS = [(1, 128, 128), (8, 128, 128), (64, 128, 128), (256, 128, 128), (1, 2048, 32), (8, 2048, 32),
             (16, 1024, 64), (64, 512, 32)]
# the large-batch grid's cells the 2026-12-07 lease's cap left unmeasured, cheapest first
LARGE_REST = [(768, 256, 256), (8, 512, 2048), (64, 512, 2048), (64, 512, 4096), (8, 512, 8192), (1, 512, 8192)]
# a subset of the 2026-12-07 H100 cells, to repeat on an H200 (item 4): long contexts, large batches, Qwen-MoE
H200_LLAMA = [(1, 16384, 256), (1, 65536, 256), (1, 129024, 64), (1024, 128, 128), (1, 512, 4096)]


def grids() -> dict[str, dict]:
    out = {}
    # DeepSeek-V3's shape (latent attention, 2 shared experts, 64 routed top-6) routed by softmax over the token's
    # scores: random weights then spread tokens over the experts as a trained router does (the sigmoid router with
    # its per-expert bias sent every token to the same 6: campaigns/2026-12-07-h100-batch-moe/heldout-before-refit.md)
    softmax = vllm_config("vllm-graphs-softmax-router", compilation_config=CAPTURE,
                          router_overrides={"scoring_func": "softmax", "topk_method": "greedy"})
    softmax["engine"] = {"compilation_config": softmax.pop("compilation_config"),
                         "router_overrides": softmax.pop("router_overrides")}
    out["moe-moonlight-softmax"] = grid("next-moe-moonlight-softmax", [softmax], cell_blocks(MOE_CELLS),
                                        models=["moonshotai/Moonlight-16B-A3B-Instruct"], repetitions=2,
                                        idle_seconds=5.0)
    large = grid("next-large-batch-rest", [vllm_config("vllm-graphs-seqs1024", max_num_seqs=1024, log_stats=True,
                                                       compilation_config=CAPTURE)],
                 cell_blocks(LARGE_REST), models=["Llama-3.1-8B"], repetitions=2, idle_seconds=5.0)
    large["warmup_output_tokens"] = 256
    out["large-batch-rest"] = large
    h200 = grid("next-h200-repeats", [vllm_config("vllm-graphs-seqs1024", max_num_seqs=1024, log_stats=True,
                                                  compilation_config=CAPTURE)],
                cell_blocks(H200_LLAMA), models=["Llama-3.1-8B"], repetitions=2, idle_seconds=5.0)
    h200["warmup_output_tokens"] = 256
    out["h200-repeats-llama"] = h200
    out["h200-repeats-qwen15moe"] = grid("next-h200-repeats-qwen15moe",
                                         [vllm_config("vllm-graphs", compilation_config=CAPTURE)],
                                         cell_blocks(MOE_CELLS), models=["Qwen/Qwen1.5-MoE-A2.7B"], repetitions=2,
                                         idle_seconds=5.0)
    return out


if __name__ == "__main__":
    for path in write_grids(HERE, grids()):
        print(path)

"""The grids of the 2026-12-07 batch/MoE lease (issue 26 items 2 and 3): python make_grids.py (writes beside it)."""

from pathlib import Path

from energy_predict.calibrate.grid_builders import cell_blocks, grid, vllm_config, write_grids

HERE = Path(__file__).parent
# the cells OLMoE-1B-7B and Qwen3-30B-A3B were measured at on the H100 (x4c), so leave-one-MoE-out compares alike
MOE_CELLS = [(1, 128, 128), (8, 128, 128), (64, 128, 128), (256, 128, 128), (1, 2048, 32), (8, 2048, 32),
             (16, 1024, 64), (64, 512, 32)]
# large batches first (128 / 256 tokens, above vLLM's CUDA-graph sizes), then long outputs at 512-token prompts,
# the costliest last: a cap that ends the run keeps every cell before it
LARGE = [(1024, 128, 128), (768, 128, 128), (1024, 256, 256), (1, 512, 4096), (64, 512, 4096), (8, 512, 2048),
         (768, 256, 256), (64, 512, 2048), (8, 512, 8192), (1, 512, 8192)]


# CUDA graphs for these token counts only (vLLM captures 51 by default, ~20 s of each engine's start): every decode
# batch of the cells below 768 is one of them, so the measured steps run the graphs a default engine would run
CAPTURE = {"cudagraph_capture_sizes": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]}


def grids() -> dict[str, dict]:
    large = grid("2026-12-07-h100bm-large-batch", [vllm_config("vllm-graphs-seqs1024", max_num_seqs=1024,
                                                               log_stats=True, compilation_config=CAPTURE)],
                 cell_blocks(LARGE), models=["Llama-3.1-8B"], repetitions=2, idle_seconds=5.0)
    large["warmup_output_tokens"] = 256  # same batch and prompt (same graphs), not 8k unmeasured tokens
    out = {"large-batch": large}
    for key, model in (("moe-qwen15", "Qwen/Qwen1.5-MoE-A2.7B"), ("moe-moonlight", "moonshotai/Moonlight-16B-A3B-Instruct")):
        out[key] = grid(f"2026-12-07-h100bm-{key}", [vllm_config("vllm-graphs", compilation_config=CAPTURE)], cell_blocks(MOE_CELLS),
                        models=[model], repetitions=2, idle_seconds=5.0)
    return out


if __name__ == "__main__":
    for path in write_grids(HERE, grids()):
        print(path)

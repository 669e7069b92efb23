"""Grid of one more plain mixture of experts (issue 26, item 3): python make_grids.py."""

from pathlib import Path

from energy_predict.calibrate.grid_builders import cell_blocks, grid, vllm_config, write_grids

HERE = Path(__file__).parent
CAPTURE = {"cudagraph_capture_sizes": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]}
# the cells every H100 mixture of experts was measured at (campaigns/2026-12-07-h100-batch-moe/moe-qwen15.json)
MOE_CELLS = [(1, 128, 128), (8, 128, 128), (64, 128, 128), (256, 128, 128), (1, 2048, 32), (8, 2048, 32),
             (16, 1024, 64), (64, 512, 32)]


def grids() -> dict[str, dict]:
    # Granite-3.1-1B-A400M: 32 routed experts, top-8, no shared expert, softmax router, plain attention
    return {"moe-granite-1b": grid("next-moe-granite-1b", [vllm_config("vllm-graphs", compilation_config=CAPTURE)],
                                   cell_blocks(MOE_CELLS), models=["ibm-granite/granite-3.1-1b-a400m-instruct"],
                                   repetitions=2, idle_seconds=5.0)}


if __name__ == "__main__":
    for path in write_grids(HERE, grids()):
        print(path)

"""Write the one-H200 campaign's grid (issue 15): the configurations the H100 has and the H200 lacked.

Run from the repository root: python calibrate/campaigns/h200-x1/make_grids.py
One GPU, one engine at a time (pipeline.sh), most important first, so a lease cut short keeps what matters:
 1. Llama-3.1-8B in HF eager on the H100's re-measured cells, alone on the machine (launch-bound at batch 1);
 2. (pipeline.sh) the Azure replays on vLLM CUDA graphs, offline and online at two rates, the H100's request sets;
 3. Mixtral-8x7B in bf16 on one GPU: 93 GB of weights, which no H100 holds (the reason this lease is an H200);
 4. Llama-3.1-8B in vLLM fp8 and eager, then Llama-3.2-1B and -3B with CUDA graphs: the H100's other configurations.
Every block is the eight-cell grid a new model gets (calibrate/campaigns/x4-tp4-families/make_grids.py).
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "x4-tp4-families"))
from make_grids import CELLS_HF, CELLS_MODEL, block, vllm  # noqa: E402

CONFIGS = [{"name": "hf-eager", "backend": "hf"}, vllm("vllm-graphs"), vllm("vllm-graphs-fp8", quantization="fp8"),
           vllm("vllm-eager", cuda_graphs=False)]
PARTS = [("Llama-3.1-8B", "hf-eager", CELLS_HF), ("Mixtral-8x7B", "vllm-graphs", CELLS_MODEL),
         ("Llama-3.1-8B", "vllm-graphs-fp8", CELLS_MODEL), ("Llama-3.1-8B", "vllm-eager", CELLS_MODEL),
         ("Llama-3.2-1B", "vllm-graphs", CELLS_MODEL), ("Llama-3.2-3B", "vllm-graphs", CELLS_MODEL)]


def main() -> None:
    grid = {"name": "h200-x1", "models": list(dict.fromkeys(m for m, _, _ in PARTS)), "configs": CONFIGS,
            "blocks": [b for m, c, cells in PARTS for b in block(m, c, cells)], "repetitions": 3,
            "min_window_s": 2.0, "warmup_runs": 1, "idle_seconds": 3.0}
    (HERE / "campaign.json").write_text(json.dumps(grid, indent=1) + "\n")
    print("wrote", HERE / "campaign.json")


if __name__ == "__main__":
    main()

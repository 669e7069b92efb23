"""Write the one-GPU H100 check of speculative decoding at lengths it was not fitted on (issue 17).

Run from the repository root: python campaigns/x1-spec-lengths/make_grids.py
The step-cost model (model/speculative.py) was fitted on 512 -> 128 cells only and carries to other lengths with
the greedy model's KV-cache read per step. These cells test that carry at both ends of acceptance (the 1B-shaped
draft's natural acceptance 0, and vLLM's synthetic acceptance 1), k = 4: long prompts, longer outputs, large and
small batches. One grid per engine (acceptance is an engine setting), run one after the other by run.sh.
"""

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "x4-issue17"))
from make_grids import cells, grid, spec, write  # noqa: E402

CELLS = [(1, 2048, 256), (16, 2048, 256), (64, 256, 256), (8, 4096, 64), (128, 1024, 64)]
GRIDS = {name: grid(f"x1-spec-lengths-{name}", [spec(name, "Llama-3.2-1B", 4, acceptance)], cells(name, CELLS))
         for name, acceptance in (("vllm-spec-1b-k4-a100", 1.0), ("vllm-spec-1b-k4", None))}


def main() -> None:
    write(HERE, GRIDS)


if __name__ == "__main__":
    main()

"""Write the one-GPU H100 check of speculative decoding at lengths it was not fitted on (issue 17).

Run from the repository root: python calibrate/campaigns/x1-spec-lengths/make_grids.py
The step-cost model (model/speculative.py) was fitted on 512 -> 128 cells only and carries to other lengths with
the greedy model's KV-cache read per step. These cells test that carry at both ends of acceptance (the 1B-shaped
draft's natural acceptance 0, and vLLM's synthetic acceptance 1), k = 4: long prompts, longer outputs, large and
small batches. One grid per engine (acceptance is an engine setting), run one after the other by run.sh.
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
CELLS = [(1, 2048, 256), (16, 2048, 256), (64, 256, 256), (8, 4096, 64), (128, 1024, 64)]


def grid(name: str, acceptance: float | None) -> dict:
    config = {"name": name, "backend": "vllm", "cuda_graphs": True, "max_num_seqs": 256,
              "enable_prefix_caching": False, "speculative_model": "Llama-3.2-1B", "num_speculative_tokens": 4,
              "synthetic_acceptance": acceptance, "log_stats": True}
    blocks = [{"batch_sizes": [b], "input_tokens": [i], "output_tokens": [o], "models": ["Llama-3.1-8B"],
               "configs": [name]} for b, i, o in CELLS]
    return {"name": f"x1-spec-lengths-{name}", "models": ["Llama-3.1-8B"], "configs": [config], "blocks": blocks,
            "repetitions": 3, "min_window_s": 2.0, "warmup_runs": 1, "idle_seconds": 3.0}


GRIDS = {"vllm-spec-1b-k4-a100": grid("vllm-spec-1b-k4-a100", 1.0), "vllm-spec-1b-k4": grid("vllm-spec-1b-k4", None)}


def main() -> None:
    for name, g in GRIDS.items():
        (HERE / f"{name}.json").write_text(json.dumps(g, indent=1) + "\n")
        print("wrote", HERE / f"{name}.json")


if __name__ == "__main__":
    main()

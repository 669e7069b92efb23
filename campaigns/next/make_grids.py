"""Grids for the next GPU session, from every run measured so far. Run from the repository root.

hf.json: HF cells still missing, then HF cells whose repetitions spread > 3% (noisiest first).
vllm.json: vLLM cells still missing (graphs, fp8, 1B), the notes' reference cell 256 x 1024 -> 256 with prefix
caching off and on, then noisy vLLM cells; last, prefill cells with a 1024-token step budget (chunked prefill)
beside the same cells already measured with the default budget, for the online simulator's chunking (issue 8).
"""

import json
from pathlib import Path

import pandas as pd

from energy_predict.calibrate.followup import follow_up_grid
from energy_predict.calibrate.grid import load_grid, parse_grid
from energy_predict.datasets import load_records, run_dirs

X4 = Path("calibrate/campaigns/h100-x4")
HERE = Path("calibrate/campaigns/next")


def records(backend: str) -> pd.DataFrame:
    return pd.concat([load_records(r) for r in run_dirs() if f"-{backend}-" in r.name])


hf = follow_up_grid("next-hf", [load_grid(X4 / f) for f in ("hf-8b-eager.json", "hf-mixed.json")], records("hf"))
vllm_grids = [load_grid(X4 / f) for f in ("vllm-8b-graphs.json", "vllm-8b-fp8.json", "vllm-1b-graphs.json",
                                          "vllm-8b-eager.json")]
reference = [("Llama-3.1-8B", "vllm-graphs", 256, 1024, 256), ("Llama-3.1-8B", "vllm-graphs-prefix", 256, 1024, 256)]
prefix = vllm_grids[0].configs[0].model_copy(update={"name": "vllm-graphs-prefix", "enable_prefix_caching": True})
vllm = follow_up_grid("next-vllm", vllm_grids, records("vllm"), first=reference, extra_configs=[prefix])
vllm["max_tokens_in_batch"] = 400000
chunked = prefix.model_copy(update={"name": "vllm-graphs-chunk1k", "enable_prefix_caching": False,
                                    "max_num_batched_tokens": 1024, "enable_chunked_prefill": True})
vllm["configs"].append(chunked.model_dump())
vllm["blocks"] += [{"batch_sizes": b, "input_tokens": i, "output_tokens": [1], "models": ["Llama-3.1-8B"],
                    "configs": [chunked.name]} for b, i in (([1, 8], [2048, 8192]), ([64], [512, 2048]))]
for grid in (hf, vllm):
    parse_grid(grid)  # fail here, not on the GPU
    (HERE / f"{grid['name'][5:]}.json").write_text(json.dumps(grid, indent=1) + "\n")
    print(grid["name"], len(grid["blocks"]), "cells")

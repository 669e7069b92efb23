"""Write the one-H100 issue-26 grids (long contexts, large batches, long outputs) for Llama-3.1-8B, vLLM graphs.

Run from this folder: python3 make_grids.py. Standalone (no project imports), so the grids stay reproducible while
the package moves. Grid format: calibrate/grid.py at commit 9142137 (the snapshot the lease ran).
One grid per engine configuration, one process each (run.sh), each cell warmed up once, 2 repetitions of >= 2 s
windows, 5 s idle windows (empty before/after, loaded after each engine load). Cells are listed most valuable
first: a grid stopped at its time cap keeps the most useful cells.

 long-context          vllm-graphs (max_num_seqs 256, vLLM's default token budget: 16384 on an H100 for the
                       offline LLM class), inputs 16k/32k/64k/126k, batch 1 up to 8, outputs 64/256/1024
 long-context-mnbt65536 the same engine with max_num_batched_tokens 65536 (4x the default): a subset, to see
                       what chunked prefill's split costs
 large-batch           max_num_seqs 1024, vLLM stat logging on (VLLM_LOG_STATS_INTERVAL=1 in run.sh: one
                       "Running: N reqs, Waiting: M reqs, Preemptions, KV usage" line a second in the log),
                       batch 768/1024 at 128->128 and 256->256, then long outputs 2k-8k at batch 1/8/64 on the
                       same engine (max_num_seqs does not change a batch <= 64: same graphs, capture sizes <= 512)
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
K16, K32, K64, K126 = 16384, 32768, 65536, 129024  # 126k: 129024 + 256 output + 16 fits the 131072 context
BASE = {"backend": "vllm", "cuda_graphs": True, "enable_prefix_caching": False}
CONFIGS = {
    "long-context": {"name": "vllm-graphs", **BASE, "max_num_seqs": 256},
    "long-context-mnbt65536": {"name": "vllm-graphs-mnbt65536", **BASE, "max_num_seqs": 256,
                               "max_num_batched_tokens": 65536},
    "large-batch": {"name": "vllm-graphs-seqs1024", **BASE, "max_num_seqs": 1024, "log_stats": True},
}
CELLS = {  # (batch, input, output), most valuable first
    "long-context": [(1, K16, 64), (1, K32, 64), (1, K64, 64), (1, K126, 64),
                     (1, K16, 256), (1, K32, 256), (1, K64, 256), (1, K126, 256),
                     (4, K16, 64), (8, K16, 64), (4, K32, 64), (2, K64, 64),
                     (8, K16, 256), (1, K16, 1024), (2, K126, 64)],
    "long-context-mnbt65536": [(1, K126, 64), (1, K64, 64), (8, K16, 64), (1, K32, 64), (4, K32, 64),
                               (1, K16, 64)],
    "large-batch": [(1024, 128, 128), (768, 128, 128), (1024, 256, 256), (768, 256, 256),
                    (1, 512, 4096), (64, 512, 4096), (8, 512, 2048), (1, 512, 8192), (64, 512, 2048),
                    (8, 512, 8192)],
}


def grid(name: str) -> dict:
    config = CONFIGS[name]
    blocks = [{"batch_sizes": [b], "input_tokens": [i], "output_tokens": [o]} for b, i, o in CELLS[name]]
    return {"name": f"2026-12-07-h100-long-context-{name}", "models": ["Llama-3.1-8B"], "configs": [config],
            "blocks": blocks, "repetitions": 2, "min_window_s": 2.0, "warmup_runs": 1, "idle_seconds": 5.0}


def main() -> None:
    for name in CELLS:
        (HERE / f"{name}.json").write_text(json.dumps(grid(name), indent=1) + "\n")
        print("wrote", HERE / f"{name}.json")


if __name__ == "__main__":
    main()

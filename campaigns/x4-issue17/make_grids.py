"""Write the 4-GPU H100 campaign's grids (issue 17): speculative decoding, torch.compile, decoding, prefix caching.

Run from the repository root: python calibrate/campaigns/x4-issue17/make_grids.py
One grid per GPU (gpuN.json, run by gpuN.sh), each one engine after another, most important first. Configs that
differ only in per-request options (decoding, the prompts' shared prefix; HF's compile) share one loaded engine.
 GPU 0: HF Llama-3.1-8B, eager then torch.compile at batch 1-8 on five (I, O) splits of 640 tokens (one static cache
        and one compile per batch size), then sampling and beam search extending the 6-cell sets to 12;
 GPU 1: HF torch.compile at batch 16-128 on the same splits, then vLLM prefix-caching cells at hit rates 0/0.5/0.9;
 GPU 2: vLLM speculative decoding, Llama-3.2-1B draft for the 8B target, natural (greedy) acceptance: gamma 4, 2,
        then the target's own architecture as draft (identical dummy weights: acceptance ~ 1, checked by counters);
 GPU 3: gamma 4 with vLLM's synthetic acceptance 1.0 and 0.6 (the 1B draft's cost, chosen acceptance), then the
        no-speculation baseline with greedy and sampling on one engine.
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
SPLITS = [(128, 512), (320, 320), (512, 128), (576, 64), (608, 32)]  # one static cache length (640) per batch
SPEC_CELLS = [(b, 512, 128) for b in (1, 4, 16, 64, 128)]
PREFIX_CELLS = [(1, 4096, 32), (16, 2048, 32), (64, 1024, 32), (8, 2048, 128)]
# the 6-cell HF decoding sets (calibrate/campaigns/next/make_grids.py) extended to 12
DECODING_CELLS = [(2, 512, 128), (8, 512, 128), (32, 512, 128), (1, 2048, 128), (4, 128, 256), (16, 1024, 64)]


def vllm(name: str, **extra) -> dict:
    return {"name": name, "backend": "vllm", "cuda_graphs": True, "max_num_seqs": 256,
            "enable_prefix_caching": False, **extra}


def spec(name: str, draft: str, k: int, acceptance: float | None = None) -> dict:
    return vllm(name, speculative_model=draft, num_speculative_tokens=k, synthetic_acceptance=acceptance,
                log_stats=True)


def cells(config: str, shapes, model: str = "Llama-3.1-8B") -> list[dict]:
    return [{"batch_sizes": [b], "input_tokens": [i], "output_tokens": [o], "models": [model], "configs": [config]}
            for b, i, o in shapes]


def grid(name: str, configs: list[dict], blocks: list[dict]) -> dict:
    return {"name": name, "models": ["Llama-3.1-8B"], "configs": configs, "blocks": blocks, "repetitions": 3,
            "min_window_s": 2.0, "warmup_runs": 1, "idle_seconds": 3.0}


HF = [{"name": "hf-eager", "backend": "hf"}, {"name": "hf-compile", "backend": "hf", "compile": True},
      {"name": "hf-sampling", "backend": "hf", "decoding": "sampling"},
      {"name": "hf-beam4", "backend": "hf", "decoding": "beam", "beam_width": 4}]
PREFIX = [vllm(f"vllm-graphs-prefix-h{int(h * 100)}", enable_prefix_caching=True, log_stats=True, prefix_hit_rate=h)
          for h in (0.0, 0.5, 0.9)]
SPEC = {"vllm-spec-1b-k4": ("Llama-3.2-1B", 4, None), "vllm-spec-1b-k2": ("Llama-3.2-1B", 2, None),
        "vllm-spec-self-k4": ("Llama-3.1-8B", 4, None), "vllm-spec-1b-k4-a100": ("Llama-3.2-1B", 4, 1.0),
        "vllm-spec-1b-k4-a60": ("Llama-3.2-1B", 4, 0.6)}
# One grid per engine (one process each: an engine that fails to start loses only its own cells), in GPU order.
GRIDS = {
    "gpu0-hf": grid("x4-issue17-gpu0-hf", HF, cells("hf-eager", [(1, i, o) for i, o in SPLITS])
                    + cells("hf-compile", [(b, i, o) for b in (1, 2, 4, 8) for i, o in SPLITS])
                    + cells("hf-sampling", DECODING_CELLS) + cells("hf-beam4", DECODING_CELLS)),
    "gpu1-hf": grid("x4-issue17-gpu1-hf", [HF[1]],
                    cells("hf-compile", [(b, i, o) for b in (16, 32, 64, 128) for i, o in SPLITS])),
    "gpu1-prefix": grid("x4-issue17-gpu1-prefix", PREFIX, [b for c in PREFIX for b in cells(c["name"], PREFIX_CELLS)]),
    **{f"gpu{2 if k < 3 else 3}-{name}": grid(f"x4-issue17-{name}", [spec(name, *SPEC[name])],
                                               cells(name, SPEC_CELLS[:3] if "self" in name else SPEC_CELLS))
       for k, name in enumerate(SPEC)},
    "gpu3-baseline": grid("x4-issue17-baseline", [vllm("vllm-graphs"), vllm("vllm-graphs-sampling", decoding="sampling")],
                          cells("vllm-graphs", SPEC_CELLS) + cells("vllm-graphs-sampling", SPEC_CELLS)),
}


def main() -> None:
    for name, g in GRIDS.items():
        (HERE / f"{name}.json").write_text(json.dumps(g, indent=1) + "\n")
        print("wrote", HERE / f"{name}.json")


if __name__ == "__main__":
    main()

"""Write the second 4-GPU H100 campaign's grids for issue 17: speculative decoding across draft lengths and a middle
acceptance, the compile cells up to the largest batch, and the decoding sets on both engines.

Run from the repository root: python calibrate/campaigns/x4-issue17b/make_grids.py
One grid per engine (one process each: an engine that fails to start loses only its own cells), per GPU most
important first; cells as in calibrate/campaigns/x4-issue17/ so that the two leases' cells line up.
 GPU 0: HF Llama-3.1-8B torch.compile at batch 64 and 128 on the five (I, O) splits of 640 tokens (the compile set
        then spans batch 1-128), then sampling and beam search completing the 12-cell sets, then greedy eager on
        the same shapes (same-lease ratios);
 GPU 1: vLLM graphs greedy and sampling (temperature 1, top-p 0.95) on one engine, on the speculative cells and the
        decoding shapes; then draft length 3 at synthetic acceptance 0.6 (a held-out point in both k and acceptance);
 GPU 2: the 1B-shaped draft at k 4 with synthetic acceptance 0.6 (the middle point), then k 2 and k 5 with natural
        (random-weight, ~0) acceptance;
 GPU 3: k 2 and k 5 at synthetic acceptance 1 (the other end of each draft length), then the target's own
        architecture as a draft (identical dummy weights, greedy: acceptance ~ 1 by the counters, not by synthesis).
Every GPU finished early, so a second block ran on the same warm machine (EXTRA below, one engine per GPU, started
by extra.sh with its own 420 s deadline): synthetic acceptance 0.3 and 0.8 at k 4, 1 at k 3 and 0.6 at k 2, more
middle points for checking the speculative model across acceptance and draft length.
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
SPLITS = [(128, 512), (320, 320), (512, 128), (576, 64), (608, 32)]
SPEC_CELLS = [(b, 512, 128) for b in (1, 4, 16, 64, 128)]
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
SPEC = {"vllm-spec-1b-k4-a60": ("Llama-3.2-1B", 4, 0.6), "vllm-spec-1b-k2": ("Llama-3.2-1B", 2, None),
        "vllm-spec-1b-k5": ("Llama-3.2-1B", 5, None), "vllm-spec-1b-k2-a100": ("Llama-3.2-1B", 2, 1.0),
        "vllm-spec-1b-k5-a100": ("Llama-3.2-1B", 5, 1.0), "vllm-spec-self-k4": ("Llama-3.1-8B", 4, None),
        "vllm-spec-1b-k3-a60": ("Llama-3.2-1B", 3, 0.6)}
GPU_OF = {"vllm-spec-1b-k4-a60": 2, "vllm-spec-1b-k2": 2, "vllm-spec-1b-k5": 2, "vllm-spec-1b-k2-a100": 3,
          "vllm-spec-1b-k5-a100": 3, "vllm-spec-self-k4": 3, "vllm-spec-1b-k3-a60": 1}
EXTRA = {"vllm-spec-1b-k4-a30": ("Llama-3.2-1B", 4, 0.3), "vllm-spec-1b-k4-a80": ("Llama-3.2-1B", 4, 0.8),
         "vllm-spec-1b-k3-a100": ("Llama-3.2-1B", 3, 1.0), "vllm-spec-1b-k2-a60": ("Llama-3.2-1B", 2, 0.6)}
GRIDS = {
    "gpu0-hf": grid("x4-issue17b-gpu0-hf", HF,
                    cells("hf-compile", [(b, i, o) for b in (64, 128) for i, o in SPLITS])
                    + cells("hf-sampling", DECODING_CELLS[2:]) + cells("hf-beam4", DECODING_CELLS)
                    + cells("hf-eager", DECODING_CELLS)),
    "gpu1-baseline": grid("x4-issue17b-baseline",
                          [vllm("vllm-graphs"), vllm("vllm-graphs-sampling", decoding="sampling")],
                          [b for c in ("vllm-graphs-sampling", "vllm-graphs")
                           for b in cells(c, SPEC_CELLS + DECODING_CELLS)]),
    **{f"gpu{GPU_OF[name]}-{name}": grid(f"x4-issue17b-{name}", [spec(name, *SPEC[name])],
                                         cells(name, SPEC_CELLS[:3] if "self" in name else SPEC_CELLS))
       for name in SPEC},
    **{f"gpu{n}-{name}": grid(f"x4-issue17b-{name}", [spec(name, *EXTRA[name])], cells(name, SPEC_CELLS))
       for n, name in enumerate(EXTRA)},
}


def main() -> None:
    for name, g in GRIDS.items():
        (HERE / f"{name}.json").write_text(json.dumps(g, indent=1) + "\n")
        print("wrote", HERE / f"{name}.json")


if __name__ == "__main__":
    main()

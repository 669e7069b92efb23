"""The serving configs and the request window of the planner's GPU validation (issue 27, item 6).

    python campaigns/next-plan-validation/make_configs.py     # writes configs/*.json and the trace window beside it

Five configurations of Llama-3.1-8B on one H100, in the order `run.sh` replays them (most telling first, so a
deadline that cuts the run keeps them): the default engine, fp8 weights, speculative decoding, no CUDA graphs, and
a batch cap that binds at this rate. Built with `energy_predict.calibrate.grid_builders`, the spelling a grid's config uses.
The window: the 330 contiguous requests of the Azure 2023 conversation trace that `replay --n 330 --seed 0` samples,
copied as they are (header and rows), so the machine needs only this folder and replays the whole file.
"""

import json
from pathlib import Path

from energy_predict.calibrate.grid import load_serving_config
from energy_predict.calibrate.grid_builders import speculative_config, vllm_config
from energy_predict.calibrate.trace_requests import sample_requests
from energy_predict.traces import read_trace

HERE = Path(__file__).parent
TRACE = Path(__file__).resolve().parents[3] / "shared/data/traces/azure_2023/AzureLLMInferenceTrace_conv.csv"
WINDOW = HERE / "azure-conv-330.csv"
N, SEED = 330, 0  # 330 requests at 5.53 req/s: ~60 s of arrivals
RATE = 5.53  # req/s: the whole trace's mean rate (19,366 requests over 3,502 s, ../shared/data/traces/README.md)


def configs() -> list[dict]:
    """The five configs, in run order."""
    return [
        vllm_config("default"),  # bf16, CUDA graphs, max_num_seqs 256, prefix caching off
        vllm_config("fp8", quantization="fp8"),
        # the study's draft and draft length; vLLM accepts drafted position j with probability 0.7^j
        # (accepted / drafted = 0.443 at k = 4: the acceptance the planner is given)
        speculative_config("spec-k4-a0.7", "Llama-3.2-1B", 4, 0.7),
        # no CUDA graphs: offline it costs 1.0-1.55x the default on the same batches (measured), but at a fixed rate
        # its slower steps batch more sequences at lower power, and the planner's simulation says it costs ~30% less
        # (the whole trace at 5.53 req/s: 0.343 against 0.486 kWh): the run tests that prediction
        vllm_config("eager", cuda_graphs=False),
        vllm_config("cap8", max_num_seqs=8),  # binds: the planner says above its 80% headroom, +8% energy
    ]


def window_lines(trace: Path, n: int, seed: int) -> list[str]:
    """The header and the `n` rows `replay --n n --seed seed` samples from `trace` (a contiguous window)."""
    frame = read_trace(trace, None)
    reqs = sample_requests(frame, n, seed, trace.name, 8192, 1024)
    lines = trace.read_text().splitlines()
    for start in range(len(frame) - n + 1):  # the window's first row: where its lengths and gaps begin
        rows = frame.iloc[start:start + n]
        if (rows["input_tokens"].clip(1, 8192).to_numpy() == reqs.input_tokens).all() and (
                rows["output_tokens"].clip(1, 1024).to_numpy() == reqs.output_tokens).all():
            return [lines[0], *lines[1 + start:1 + start + n]]
    raise ValueError("the sampled window was not found in the trace")


def main() -> None:
    (HERE / "configs").mkdir(exist_ok=True)
    for c in configs():
        path = HERE / "configs" / f"{c['name']}.json"
        path.write_text(json.dumps(c, indent=2) + "\n")
        load_serving_config(path)  # as `replay --serving` reads it
    WINDOW.write_text("\n".join(window_lines(TRACE, N, SEED)) + "\n")
    print(f"wrote {len(configs())} configs and {WINDOW.name}")


if __name__ == "__main__":
    main()

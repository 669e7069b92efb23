"""How the public measurements in this folder were taken from their sources (re-run to check or refresh them).

    python benchmarks/data/published/extract.py LEADERBOARD_CLONE BENCHMARK_CLONE ARGONNE_CLONE

Each argument is a git clone of the source repository (ml-energy/leaderboard, ml-energy/benchmark,
argonne-lcf/LLM-Inference-Bench); files are read at the commits named below with `git show`, so a clone at
another HEAD still gives the same numbers. Only numbers and the deployment they belong to are copied, never text.
The reference study's ratios (fernandez2025.json) are typed by hand from the quotes this repository already holds
(src/energy_predict/analysis/findings.py REFERENCE); they are not extracted here.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
LEADERBOARD = ("ml-energy/leaderboard", "0cd52dab897c5d91a45f4d413038f3b8b4251b0f")
BENCHMARK = ("ml-energy/benchmark", "c1d6557fbf7c7c495749b0fcf649f71774eabde9")
ARGONNE = ("argonne-lcf/LLM-Inference-Bench", "4211f5d4e9bc0145ed541b6d372d5d8223b44235")
RETRIEVED = "2026-12-07"

# ML.ENERGY v3 model files the tool can express: the source's model id -> the tool's model (registry name, or a
# config.json under configs/ written from the model's published Hugging Face config).
MLENERGY_MODELS = {
    "meta-llama/Llama-3.1-8B-Instruct": "Llama-3.1-8B",
    "meta-llama/Llama-3.1-70B-Instruct": "Llama-3.1-70B",
    "meta-llama/Llama-3.3-70B-Instruct": "Llama-3.1-70B",  # the same architecture as Llama-3.1-70B
    "meta-llama/Llama-3.1-405B-Instruct": "configs/Llama-3.1-405B",
    "meta-llama/Llama-3.1-405B-Instruct-FP8": "configs/Llama-3.1-405B",
    "Qwen/Qwen3-8B": "configs/Qwen3-8B",
    "Qwen/Qwen3-14B": "configs/Qwen3-14B",
    "Qwen/Qwen3-32B": "configs/Qwen3-32B",
    "Qwen/Qwen3-30B-A3B-Instruct-2507": "Qwen3-30B-A3B",
    "Qwen/Qwen3-30B-A3B-Thinking-2507": "Qwen3-30B-A3B",
    "Qwen/Qwen3-235B-A22B-Instruct-2507": "configs/Qwen3-235B-A22B",
    "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8": "configs/Qwen3-235B-A22B",
    "Qwen/Qwen3-235B-A22B-Thinking-2507": "configs/Qwen3-235B-A22B",
    "Qwen/Qwen3-235B-A22B-Thinking-2507-FP8": "configs/Qwen3-235B-A22B",
}
TASKS = {"lm-arena-chat": "LMArena human-preference-100k conversations (every turn a request, its history in the "
                          "prompt); prompt lengths are not published",
         "gpqa": "GPQA diamond questions with their four choices, thinking on; prompt lengths are not published"}
GPUS = {"H100": "H100-SXM-80GB", "B200": "B200"}
ARGONNE_GPUS = {"Nvidia H100 GPU": "H100-SXM-80GB", "Nvidia A100 GPU": "A100-SXM-80GB"}
ARGONNE_MODELS = {"meta-llama/Meta-Llama-3-8B": "Llama-3.1-8B",  # the same architecture (context 8k vs 128k)
                  "meta-llama/Llama-2-7b-hf": "configs/Llama-2-7B"}


def show(clone: Path, commit: str, path: str) -> str:
    return subprocess.run(["git", "-C", str(clone), "show", f"{commit}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def url(repo: str, commit: str, path: str) -> str:
    return f"https://github.com/{repo}/blob/{commit}/{path}"


def engine_config(clone: Path, task: str, model_id: str, gpu: str) -> dict:
    """What the benchmark's vLLM server was started with for this (task, model, GPU): the parts the tool can use."""
    base = f"configs/vllm/{task}/{model_id}/{gpu}/monolithic.config.yaml"
    text = show(clone, BENCHMARK[1], base)
    fields = dict(line.split(": ", 1) for line in text.strip().splitlines() if ": " in line)
    return {"max_num_batched_tokens": int(fields["max-num-batched-tokens"]),
            "expert_parallel": fields.get("enable-expert-parallel") == "true",
            "data_parallel": "data-parallel-size" in text, "address": url(BENCHMARK[0], BENCHMARK[1], base)}


def mlenergy(leaderboard: Path, benchmark: Path) -> dict:
    """One point per published configuration (model, task, GPU, GPU count, max_num_seqs) of the expressible models."""
    listing = subprocess.run(["git", "-C", str(leaderboard), "ls-tree", "--name-only", LEADERBOARD[1],
                              "public/data/models/"], check=True, capture_output=True, text=True).stdout.split()
    points = []
    for path in sorted(listing):
        data = json.loads(show(leaderboard, LEADERBOARD[1], path))
        if data.get("model_id") not in MLENERGY_MODELS or data.get("task") not in TASKS:
            continue
        seen: dict[str, int] = {}
        for c in data["configurations"]:
            engine = engine_config(benchmark, data["task"], data["model_id"], c["gpu_model"])
            if engine["data_parallel"]:
                continue  # data-parallel attention: not a deployment the tool can express
            key = f"{c['gpu_model']}x{c['num_gpus']}/seqs{c['max_num_seqs']}"
            seen[key] = seen.get(key, 0) + 1
            dist = c["output_length_distribution"]
            points.append({
                "id": f"mlenergy-v3/{data['task']}/{data['model_id'].split('/')[-1]}/{key}"
                      + (f"/run{seen[key]}" if seen[key] > 1 else ""),
                "source": "mlenergy-v3",
                "address": url(LEADERBOARD[0], LEADERBOARD[1], path),
                "deployment": {
                    "model": data["model_id"], "tool_model": MLENERGY_MODELS[data["model_id"]],
                    "architecture": data["architecture"], "gpu": c["gpu_model"], "tool_gpu": GPUS[c["gpu_model"]],
                    "gpus": c["num_gpus"], "tensor_parallel": c["num_gpus"],  # the benchmark's TP = GPU count
                    "expert_parallel": engine["expert_parallel"],
                    "precision": "fp8" if data["weight_precision"] == "fp8" else "bfloat16",
                    "engine": "vLLM 0.11.1 (async scheduling, chunked prefill)", "cuda_graphs": True,
                    "max_num_seqs": c["max_num_seqs"], "max_num_batched_tokens": engine["max_num_batched_tokens"],
                    "serving": "closed loop: every request sent at once, the server keeps max_num_seqs running",
                    "decoding": "sampling (the model's default chat generation settings)",
                    "engine_config_address": engine["address"],
                },
                "workload": {
                    "task": data["task"], "dataset": TASKS[data["task"]], "requests": int(sum(dist["counts"])),
                    "input_tokens_mean": None, "output_tokens_mean": c["avg_output_len"],
                    "output_histogram": {"edges": [round(e, 2) for e in dist["bins"]], "counts": dist["counts"]},
                },
                "measured": {
                    "energy_per_output_token": {"value": c["energy_per_token_joules"],
                                                "unit": "J per output token: GPU energy of all the deployment's "
                                                        "GPUs over the steady-state window / output tokens in it"},
                    "avg_power": {"value": c["avg_power_watts"],
                                  "unit": "W, summed over the deployment's GPUs, steady-state window"},
                    "output_throughput": {"value": c["output_throughput_tokens_per_sec"],
                                          "unit": "output tokens per second, steady state"},
                    "avg_batch_size": {"value": c["avg_batch_size"],
                                       "unit": "sequences running, mean over the steady state"},
                    "median_itl": {"value": c["median_itl_ms"], "unit": "ms between output tokens, median"},
                },
            })
    return {
        "source": {
            "id": "mlenergy-v3", "title": "ML.ENERGY Leaderboard v3.0 (ML.ENERGY Benchmark v3.0)",
            "address": url(LEADERBOARD[0], LEADERBOARD[1], "public/data/models/"),
            "repository": LEADERBOARD[0], "commit": LEADERBOARD[1], "retrieved": RETRIEVED,
            "method_addresses": [
                url(BENCHMARK[0], BENCHMARK[1], "mlenergy/benchmark/llm/benchmark.py"),
                url(BENCHMARK[0], BENCHMARK[1], "mlenergy/benchmark/llm/datasets.py"),
                url("ml-energy/data", "b37408f35fcdd08a9f5c3daf3dfedcd59a87a58b", "mlenergy_data/records/runs.py"),
            ],
            "notes": [
                "Stable runs only, as the leaderboard publishes them; a (GPU, GPU count, max_num_seqs) published "
                "twice is kept twice (runN suffix).",
                "GPU energy from Zeus (NVML energy counter), summed over the deployment's GPUs, over the steady "
                "state: from when max_num_seqs requests have their first token until all but max_num_seqs + 1 "
                "requests have finished; energy per output token is that energy over the output tokens generated "
                "in the window.",
                "Multi-GPU runs use --tensor-parallel-size = GPU count (attention TP; MoE experts spread by "
                "--enable-expert-parallel where the engine config says so). Data-parallel runs are left out.",
                "Output lengths are the models' own (max 4096 tokens for lm-arena-chat, 32768 for gpqa); the "
                "histogram is the published per-configuration one. Input lengths are not published.",
                "H100 is the SXM part: per-GPU average powers up to 688 W exceed the PCIe card's 350 W limit.",
            ],
        },
        "points": points,
    }


def argonne(clone: Path) -> dict:
    """The vLLM rows of the power figure: one static batch of equal-length random prompts, 1024 in and out."""
    path = "Plots/Fig_16_a_b/power_results.csv"
    rows = [r for r in csv.reader(io.StringIO(show(clone, ARGONNE[1], path))) if r and r[0] in ARGONNE_GPUS]
    points = []
    for hw, count, framework, model, length, batch, latency, _throughput, power_mw in rows:
        if framework != "vLLM" or model not in ARGONNE_MODELS:
            continue
        io_len, b = int(length), int(batch)
        points.append({
            "id": f"argonne-llm-inference-bench/{model.split('/')[-1]}/{hw.split()[1]}/batch{b}",
            "source": "argonne-llm-inference-bench", "address": url(ARGONNE[0], ARGONNE[1], path),
            "deployment": {
                "model": model, "tool_model": ARGONNE_MODELS[model], "architecture": "Dense Transformer",
                "gpu": hw, "tool_gpu": ARGONNE_GPUS[hw], "gpus": int(count), "tensor_parallel": int(count),
                "expert_parallel": False, "precision": "float16", "engine": "vLLM 0.5 (2024; offline LLM.generate)",
                "cuda_graphs": True, "max_num_seqs": b, "max_num_batched_tokens": None,
                "serving": "one static batch: batch_size prompts given to LLM.generate at once",
                "decoding": "sampling, temperature 1.0, ignore_eos", "engine_config_address":
                    url(ARGONNE[0], ARGONNE[1], "vLLM/H100/benchmark_power.py"),
            },
            "workload": {"task": "random token ids", "dataset": "random prompts of exactly input_tokens tokens",
                         "requests": b, "input_tokens_mean": io_len, "output_tokens_mean": io_len,
                         "output_histogram": None},
            "measured": {
                "latency": {"value": float(latency), "unit": "s, one LLM.generate call of the whole batch"},
                "avg_power": {"value": float(power_mw) / 1000.0,
                              "unit": "W, GPU 0 (NVML power, 0.25 s samples, mean over a second generate call "
                                      "and the 1 s after it)"},
                "energy_per_output_token": {"value": float(power_mw) / 1000.0 * float(latency) / (b * io_len),
                                            "unit": "J per output token, derived: avg_power x latency / "
                                                    "(batch x output tokens)"},
            },
        })
    return {
        "source": {
            "id": "argonne-llm-inference-bench",
            "title": "LLM-Inference-Bench (Argonne National Laboratory), power figure data",
            "address": url(ARGONNE[0], ARGONNE[1], path), "repository": ARGONNE[0], "commit": ARGONNE[1],
            "retrieved": RETRIEVED,
            "method_addresses": [url(ARGONNE[0], ARGONNE[1], "vLLM/H100/benchmark_power.py"),
                                 url(ARGONNE[0], ARGONNE[1], "vLLM/H100/power_utils.py"),
                                 url(ARGONNE[0], ARGONNE[1], "vLLM/H100/run-power-bench.sh")],
            "notes": [
                "Only the vLLM rows; TensorRT-LLM and DeepSpeed-MII are engines the tool does not model.",
                "avg_power is published in mW of NVML power of GPU 0 (converted to W here). Its window is a "
                "second generate call plus the 1 s sleep after it, so it mixes about 1 s of idle into the mean; "
                "latency is the first, timed call. The benchmark compares the tool's prediction built the same way.",
                "The A100 variant is not stated; its published powers (up to 382 W, above the PCIe card's 300 W) fit "
                "the 400 W SXM part, mapped to the catalog's A100-SXM-80GB (a 40 GB part would have 1.56 TB/s, not "
                "2.04 TB/s).",
                "Meta-Llama-3-8B has Llama-3.1-8B's shape; Llama-2-7b-hf is given by its config.json.",
            ],
        },
        "points": points,
    }


def dump(data: dict) -> str:
    """The source block indented, one point per line: small diffs when a source is refreshed."""
    head = json.dumps(data["source"], indent=1).replace("\n", "\n ")
    points = ",\n  ".join(json.dumps(p) for p in data["points"])
    return f'{{\n "source": {head},\n "points": [\n  {points}\n ]\n}}\n'


def main(argv: list[str]) -> None:
    leaderboard, benchmark, argonne_clone = (Path(a) for a in argv)
    for name, data in (("mlenergy_v3.json", mlenergy(leaderboard, benchmark)),
                       ("argonne_llm_inference_bench.json", argonne(argonne_clone))):
        (HERE / name).write_text(dump(data))
        print(f"{name}: {len(data['points'])} points")


if __name__ == "__main__":
    main(sys.argv[1:])

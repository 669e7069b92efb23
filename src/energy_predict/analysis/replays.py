"""Measured replays of real traces as the findings page uses them: which GPU, which rates, online over offline."""

from __future__ import annotations

import numpy as np

from energy_predict.analysis.subject import H100
from energy_predict.errors import EnergyPredictError
from energy_predict.gpus import resolve_gpu


def replay_gpu(replay: dict) -> str:
    """The catalog name of the GPU a replay record was measured on (its meter's first GPU)."""
    gpus = replay.get("meter", {}).get("gpus") or [{"name": "unknown"}]
    try:
        return resolve_gpu(gpus[0]["name"]).name
    except EnergyPredictError:
        return str(gpus[0]["name"])


def h100_replays(replays: list[dict]) -> list[dict]:
    """The replay records measured on the H100: this page's GPU."""
    return [r for r in replays if replay_gpu(r) == H100.name]


def replay_rates(replays: list[dict]) -> str:
    """'a-b req/s', the range of request rates of the online replays among `replays`."""
    rates = [r["rate_per_s"] for r in replays if r["mode"] == "online" and r.get("rate_per_s")]
    return f"{min(rates):g}-{max(rates):g} req/s" if rates else "none measured"


def online_offline_ratios(reps: list[dict]) -> list[tuple[str, float]]:
    """(replay, measured online over measured offline energy) of the same vLLM replay requests, per trace and rate.

    An online replay is divided by the offline replay of the same trace on the same GPU with the same
    prefix-caching setting, never by another GPU's.
    """

    def key(r: dict) -> tuple:
        return replay_gpu(r), r["trace"], bool(r.get("config", {}).get("enable_prefix_caching"))

    offline = {key(r): np.mean([x["energy_j"] for x in r["runs"]]) for r in reps
               if r["backend"] == "vllm" and r["mode"] == "offline"}
    out = []
    for r in sorted(reps, key=lambda r: (r["trace"], r.get("arrivals", ""), r.get("rate_per_s") or 0)):
        if r["backend"] == "vllm" and r["mode"] == "online" and key(r) in offline:
            ratio = np.mean([x["energy_j"] for x in r["runs"]]) / offline[key(r)]
            name = r["trace"].removeprefix("AzureLLMInferenceTrace_").removesuffix(".csv")
            out.append((f"{name} {r.get('arrivals', 'trace')} {r['rate_per_s']:g} req/s", float(ratio)))
    return out


def online_vs_offline(ratios: list[tuple[str, float]]) -> str:
    """The ratios of `online_offline_ratios` as one line."""
    return "; ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios) if ratios else "no replays measured"

"""What-if studies on one workload: other serving options, the FLOPs gap per bin, capacity at a rate."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.gpus import resolve_gpu
from energy_predict.model.analytic import RooflineEstimator
from energy_predict.model.features import cell_frame
from energy_predict.model.store import loaded_idle_w
from energy_predict.model.structured import config_keys
from energy_predict.predict.estimate import Deployment, Estimate, estimate_workload
from energy_predict.workload import Workload


def _serving_variants(dep: Deployment, model, batch_caps: list[int]) -> list[tuple[str, Deployment]]:
    base = dep.serving
    variants = [("profile", dep)]
    card = getattr(model, "card", None)
    own = config_keys(cell_frame(dep.arch, dep.gpu, base, 1, 1, 2)).iloc[0]
    for key in card["valid"]["serving_configs"] if card else []:
        if key == own:
            continue
        framework, graphs, compile_, quant = key.split("|")
        serving = {**base, "framework": framework, "backend": framework, "cuda_graphs": graphs == "True",
                   "compile": compile_ == "True", "quantization": None if quant == "none" else quant}
        flags = [" graphs" if serving["cuda_graphs"] else "", " compile" if serving["compile"] else "",
                 " eager" if framework == "vllm" and not serving["cuda_graphs"] else "",
                 " fp8" if quant == "fp8" else ""]
        variants.append((framework + "".join(flags), replace(dep, serving=serving)))
    for cap in batch_caps:
        if cap != base["max_batch"]:
            variants.append((f"batch cap {cap}", replace(dep, serving={**base, "max_batch": cap})))
    return variants


def compare(w: Workload, dep: Deployment, model, batch_caps: list[int], gpus: list[str]) -> pd.DataFrame:
    """The workload under each serving option, the profile's own first, then ranked by energy."""
    rows = []
    for label, variant in _serving_variants(dep, model, batch_caps):
        rows.append(_row(label, variant, estimate_workload(w, variant, model)))
    for name in gpus:
        gpu = resolve_gpu(name)
        if gpu.name == dep.gpu.name:
            continue
        variant = replace(dep, gpu=gpu)
        try:
            est, kind = estimate_workload(w, variant, model), "measured"
        except EnergyPredictError:
            est, kind = estimate_workload(w, variant, RooflineEstimator()), "analytic"
        rows.append(_row(f"{gpu.name} ({kind})", variant, est))
    table = pd.DataFrame(rows)
    first = table.iloc[:1]
    rest = table.iloc[1:].sort_values("energy_kwh")
    table = pd.concat([first, rest], ignore_index=True)
    table["saving_pct"] = 100 * (1 - table["energy_kwh"] / table["energy_kwh"].iloc[0])
    return table


def _row(label: str, dep: Deployment, est: Estimate) -> dict:
    return {"option": label, "framework": dep.serving["framework"], "cuda_graphs": dep.serving["cuda_graphs"],
            "compile": dep.serving["compile"], "quantization": dep.serving["quantization"] or "none",
            "max_batch": dep.serving["max_batch"], "gpu": dep.gpu.name, "model_kind": est.model_kind,
            "energy_kwh": est.energy_j / 3.6e6, "low_kwh": est.low_j / 3.6e6, "high_kwh": est.high_j / 3.6e6,
            "j_per_output_token": est.energy_j / est.output_tokens, "gpu_hours": est.gpu_s / 3600}


def gap_table(est: Estimate) -> pd.DataFrame:
    """Per bin: the model's energy against the FLOPs/TDP and roofline estimates (ratios above 1: theory is low)."""
    t = est.bins.copy()
    t["measured_over_flops_tdp"] = t["energy_j"] / t["flops_tdp_j"]
    t["measured_over_roofline"] = t["energy_j"] / t["roofline_j"]
    total = {"input_bin": "all", "output_bin": "all", "requests": t["requests"].sum(), "energy_j": t["energy_j"].sum(),
             "flops_tdp_j": t["flops_tdp_j"].sum(), "roofline_j": t["roofline_j"].sum()}
    total["measured_over_flops_tdp"] = total["energy_j"] / total["flops_tdp_j"]
    total["measured_over_roofline"] = total["energy_j"] / total["roofline_j"]
    cols = ["input_bin", "output_bin", "requests", "energy_j", "flops_tdp_j", "roofline_j", "measured_over_flops_tdp",
            "measured_over_roofline"]
    return pd.concat([t[cols], pd.DataFrame([total])], ignore_index=True)


def capacity(w: Workload, dep: Deployment, model, rate_per_s: float, latency_s: float | None = None,
             target_utilization: float = 0.8) -> dict:
    """GPUs of the chosen kind for a request rate, their utilisation, and daily energy with idle power.

    Throughput assumes full batches (the offline model): a request costs its batch's GPU time / B. A latency
    target is met by lowering the batch cap until the p90 batch duration (a request's time in the engine)
    fits. Provisioned GPUs idle at the measured loaded-idle power when not busy.
    """
    if rate_per_s <= 0:
        raise InputError("--rate", "must be > 0", "give the request rate in requests per second")
    cap = int(dep.serving["max_batch"])
    while True:
        trial = replace(dep, serving={**dep.serving, "max_batch": cap})
        est = estimate_workload(w, trial, model)
        p90_latency = est.latency_p90_s
        if latency_s is None or p90_latency <= latency_s or cap == 1:
            break
        cap = max(cap // 2, 1)
    gpu_s_per_request = est.gpu_s / est.requests
    busy_gpus = rate_per_s * gpu_s_per_request
    n = max(math.ceil(busy_gpus / target_utilization), dep.gpu_count)
    n = int(math.ceil(n / dep.gpu_count) * dep.gpu_count)  # whole replicas
    idle_w = loaded_idle_w(getattr(model, "card", None) or {}, dep.serving["backend"])
    day = 86400.0
    busy_j = rate_per_s * day * est.energy_j / est.requests
    idle_j = max(n * day - busy_gpus * day, 0.0) * idle_w
    return {
        "rate_per_s": rate_per_s, "requests_per_day": rate_per_s * day, "gpus": n, "gpu": dep.gpu.name,
        "batch_cap": cap, "utilization": busy_gpus / n, "p90_latency_s": p90_latency,
        "latency_target_s": latency_s, "latency_met": latency_s is None or p90_latency <= latency_s,
        "busy_kwh_per_day": busy_j / 3.6e6, "idle_kwh_per_day": idle_j / 3.6e6,
        "total_kwh_per_day": (busy_j + idle_j) / 3.6e6, "idle_power_w": idle_w,
        "energy_per_request_j": (busy_j + idle_j) / (rate_per_s * day),
        "model": {"name": est.model_name, "kind": est.model_kind},
    }

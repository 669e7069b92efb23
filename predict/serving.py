"""Online estimates for a profile: arrivals at a rate, continuous batching, idle power; and rate sweeps."""

from __future__ import annotations

import numpy as np

from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.model.store import loaded_idle_w
from energy_predict.predict.estimate import Deployment
from energy_predict.predict.online import OnlineResult, poisson_arrivals, simulate
from energy_predict.predict.steps import StepCoefficients, step_coefficients
from energy_predict.workload import Workload

DEFAULT_PERIOD_S = 3600.0


def step_models(dep: Deployment, model) -> tuple[StepCoefficients, StepCoefficients, float]:
    """(step energy, step time, loaded-idle power) of a deployment under a measured model."""
    card = getattr(model, "card", None)
    if card is None:
        raise EnergyPredictError("--model: online serving needs a measured model (step energies); "
                                 "use the default model")
    from energy_predict.model.features import cell_frame

    model.predict_phases(cell_frame(dep.arch, dep.gpu, dep.serving, 1, 1, 2))  # the card's range checks
    return (step_coefficients(model.energy, dep.arch, dep.gpu, dep.serving),
            step_coefficients(model.duration, dep.arch, dep.gpu, dep.serving),
            loaded_idle_w(card, dep.serving["backend"]))


def sample_requests(w: Workload, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """N requests drawn from the workload's length distribution (its weights)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(w.weight), size=n, p=w.weight / w.weight.sum())
    return w.input_tokens[idx], np.maximum(w.output_tokens[idx], 1)


def arrivals_for(w: Workload, rate: float | None, seed: int, max_requests: int | None = None):
    """(inputs, outputs, arrival times, period): the trace's own arrivals (rescaled to `rate`), else Poisson."""
    if w.arrival_s is not None and len(w.arrival_s) == len(w.input_tokens) and max_requests is None:
        t = w.arrival_s - w.arrival_s.min()
        span = float(t.max()) or 1.0
        if rate is not None:
            t = t * (len(t) / rate) / span
        return w.input_tokens, np.maximum(w.output_tokens, 1), t, float(t.max())
    rate = rate if rate is not None else w.rate_per_s
    if rate is None or rate <= 0:
        raise InputError("--rate", "online serving needs a request rate", "give --rate or workload.rate_per_s")
    period = w.period_s or DEFAULT_PERIOD_S
    n = int(round(rate * period)) if max_requests is None else max_requests
    n = max(n, 1)
    inputs, outputs = sample_requests(w, n, seed)
    t = poisson_arrivals(n, rate, seed)
    return inputs, outputs, t, max(float(n / rate), float(t.max()))


def simulate_deployment(w: Workload, dep: Deployment, model, rate: float | None = None, gpus: int = 1,
                        seed: int = 0, max_requests: int | None = None) -> OnlineResult:
    """Simulate `gpus` replicas (requests dealt round-robin) and add their results."""
    energy, time, idle_w = step_models(dep, model)
    inputs, outputs, t, period = arrivals_for(w, rate, seed, max_requests)
    max_seqs = int(dep.serving.get("max_batch", 256))
    parts = [simulate(inputs[g::gpus], outputs[g::gpus], t[g::gpus], energy, time, idle_w, max_num_seqs=max_seqs,
                      period_s=period) for g in range(gpus)]
    span = max(p.period_s for p in parts)
    idle = sum(p.idle_energy_j + (span - p.period_s) * idle_w for p in parts)
    busy = sum(p.busy_energy_j for p in parts)
    return OnlineResult(sum(p.requests for p in parts), span, busy + idle, busy, idle,
                        sum(p.busy_s for p in parts) / gpus, sum(p.input_tokens for p in parts),
                        sum(p.output_tokens for p in parts), np.concatenate([p.ttft_s for p in parts]),
                        np.concatenate([p.tpot_s for p in parts]))


def online_report(w: Workload, dep: Deployment, model, rate: float | None, gpus: int = 1) -> dict:
    """The `online` block of the report: energy at the rate, utilisation, idle share, TTFT/TPOT."""
    result = simulate_deployment(w, dep, model, rate, gpus)
    lo, hi = getattr(model, "log_bounds", (0.0, 0.0))
    summary = result.summary()
    summary.update({
        "rate_per_s": result.requests / result.period_s, "gpus": gpus,
        "energy_kwh_interval": {"low": (result.busy_energy_j * np.exp(lo) + result.idle_energy_j) / 3.6e6,
                                "high": (result.busy_energy_j * np.exp(hi) + result.idle_energy_j) / 3.6e6},
        "method": "continuous-batching simulation (vLLM-like scheduler, chunked prefill) with step energies from "
                  "the measured model and the measured loaded-idle power",
    })
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in summary.items()}


def sweep_rates(w: Workload, dep: Deployment, model, rates: list[float], max_gpus: int,
                ttft_p90_s: float | None = None, requests_per_point: int = 3000) -> list[dict]:
    """Energy per request for each (rate, number of GPUs); the same sampled requests at every point."""
    rows = []
    for rate in rates:
        for g in range(1, max_gpus + 1):
            r = simulate_deployment(w, dep, model, rate, g, seed=0, max_requests=requests_per_point)
            s = r.summary()
            rows.append({"rate_per_s": rate, "gpus": g, "energy_per_request_j": s["energy_per_request_j"],
                         "gpu_utilization": s["gpu_utilization"], "idle_share": s["idle_share"],
                         "ttft_p90_s": s["ttft_s"]["p90"], "tpot_p90_s": s["tpot_s"]["p90"],
                         "meets_latency": ttft_p90_s is None or (s["ttft_s"]["p90"] or 0) <= ttft_p90_s})
    return rows


def best_gpu_counts(rows: list[dict]) -> dict[float, int | None]:
    """For each rate, the GPU count with the least energy per request among those meeting the latency target."""
    best: dict[float, int | None] = {}
    for rate in sorted({r["rate_per_s"] for r in rows}):
        ok = [r for r in rows if r["rate_per_s"] == rate and r["meets_latency"]]
        best[rate] = min(ok, key=lambda r: r["energy_per_request_j"])["gpus"] if ok else None
    return best

"""The library call behind `energy-predict --profile`: profile in, report out."""

from __future__ import annotations

from pathlib import Path

from energy_predict.model.store import load_default_model, load_model
from energy_predict.predict.estimate import Estimate, deployment_from_profile, estimate_workload
from energy_predict.predict.padded import padded_batches
from energy_predict.predict.report import report_dict
from energy_predict.profile import load_profile
from energy_predict.workload import workload_from_profile


def load_case(path: Path, model=None):
    """(profile, deployment, workload, model) for a profile path and a model (name, object or None)."""
    profile = load_profile(path)
    dep = deployment_from_profile(profile, path.parent)
    workload = workload_from_profile(profile, path.parent)
    if isinstance(model, str):
        model = load_model(model)
    return profile, dep, workload, model or load_default_model()


def predict_profile(path: Path, model=None, rate: float | None = None, gpus: int = 1) -> tuple[dict, Estimate]:
    """Load, validate and estimate a profile; return the report dict and the estimate.

    `model`: an estimator, a shipped model's name, 'roofline' / 'flops-tdp', or None for the default.
    """
    if isinstance(model, str):
        model = load_model(model)
    profile = load_profile(path)
    dep = deployment_from_profile(profile, path.parent)
    workload = workload_from_profile(profile, path.parent)
    model = model or load_default_model()
    est = estimate_workload(workload, dep, model)
    report = report_dict(est, profile, dep, workload)
    padded = padded_batches(workload, dep, model)
    report["hf_padded_batches"] = padded
    if padded:
        report["notes"].append(
            f"HF generate pads each batch to its longest request: served {padded['batch_cap']} requests at a time "
            f"as they come (random lengths), this workload takes {padded['energy_kwh']:.3g} kWh "
            f"({padded['energy_kwh'] / (est.energy_j / 3.6e6):.2f}x the estimate above, which batches equal "
            "lengths; see hf_padded_batches)")
    if rate is not None or profile.serving.mode == "online":
        from energy_predict.predict.serving import online_report

        online = online_report(workload, dep, model, rate, gpus)
        report["online"] = online
        report["energy_kwh"] = {"estimate": online["energy_kwh"], **online["energy_kwh_interval"]}
        report["energy_per_request_j"] = online["energy_per_request_j"]
        report["energy_per_output_token_j"] = online["energy_per_output_token_j"]
        report["requests"] = float(online["requests"])
        report["period_s"] = float(online["period_s"])
        report["notes"].append("online serving: headline energy from the continuous-batching simulation (busy + "
                               "idle); phases, bins and baselines are the offline full-batch breakdown")
    return report, est

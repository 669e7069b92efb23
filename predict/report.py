"""The report object (`--json`), the per-bin CSV and the documented schema's name."""

from __future__ import annotations

from energy_predict.predict.estimate import Deployment, Estimate
from energy_predict.profile import Profile
from energy_predict.workload import Workload

REPORT_SCHEMA = "energy-predict/report/v1"
J_PER_KWH = 3.6e6


def _kwh(j: float) -> float:
    return j / J_PER_KWH


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def report_dict(est: Estimate, profile: Profile, dep: Deployment, w: Workload) -> dict:
    """The JSON report; `docs/report.schema.json` documents every key."""
    site = None
    if profile.site is not None:
        facility = _kwh(est.energy_j) * profile.site.pue
        s = profile.site
        site = {
            "pue": s.pue,
            "facility_kwh": facility,
            "co2e_kg": facility * s.carbon_g_per_kwh / 1000 if s.carbon_g_per_kwh is not None else None,
            "cost": facility * s.price_per_kwh if s.price_per_kwh is not None else None,
            "currency": s.currency,
        }
    total = est.prefill_j + est.decode_j
    return {
        "schema": REPORT_SCHEMA,
        "profile": profile.name,
        "model": {"name": est.model_name, "kind": est.model_kind},
        "deployment": {"model": dep.arch.name, "gpu": dep.gpu.name, "gpu_count": dep.gpu_count,
                       "framework": dep.serving["framework"], "max_batch": dep.serving["max_batch"],
                       "cuda_graphs": dep.serving["cuda_graphs"], "compile": dep.serving["compile"],
                       "quantization": dep.serving["quantization"], "mode": dep.serving["mode"]},
        "requests": est.requests,
        "period_s": w.period_s,
        "energy_kwh": {"estimate": _kwh(est.energy_j), "low": _kwh(est.low_j), "high": _kwh(est.high_j)},
        "energy_per_request_j": est.per_request_j["mean"],
        "per_request_j": est.per_request_j,
        "energy_per_input_token_j": _ratio(est.energy_j, est.input_tokens),
        "energy_per_output_token_j": _ratio(est.energy_j, est.output_tokens),
        "tokens": {"input": est.input_tokens, "output": est.output_tokens},
        "phases": {"prefill_kwh": _kwh(est.prefill_j), "decode_kwh": _kwh(est.decode_j),
                   "prefill_share": _ratio(est.prefill_j, total), "decode_share": _ratio(est.decode_j, total)},
        "gpu_hours": est.gpu_s / 3600,
        "mean_power_w": _ratio(est.energy_j, est.gpu_s),
        "baselines": {"flops_tdp_kwh": _kwh(est.flops_tdp_j), "roofline_kwh": _kwh(est.roofline_j),
                      "estimate_over_flops_tdp": _ratio(est.energy_j, est.flops_tdp_j),
                      "estimate_over_roofline": _ratio(est.energy_j, est.roofline_j)},
        "binned": {"reference_estimate_kwh": _kwh(est.binned_energy_j),
                   "binning_error_pct": 100 * (est.binned_energy_j / est.energy_j - 1) if est.energy_j else None},
        "out_of_range": est.out_of_range,
        "site": site,
        "bins": [
            {"input_bin": int(r.input_bin), "output_bin": int(r.output_bin), "requests": float(r.requests),
             "energy_kwh": _kwh(r.energy_j), "prefill_kwh": _kwh(r.prefill_j), "decode_kwh": _kwh(r.decode_j),
             "binned_energy_kwh": _kwh(r.binned_energy_j), "flops_tdp_kwh": _kwh(r.flops_tdp_j),
             "roofline_kwh": _kwh(r.roofline_j)}
            for r in est.bins.itertuples()
        ],
        "online": None,
        "notes": list(est.notes),
    }

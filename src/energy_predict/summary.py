"""One row per run for `--summary-csv`, in the spirit of CodeCarbon's emissions.csv.

Columns (units in the names): when it ran, what workload and deployment, the GPU energy and its 90% interval,
the facility energy (PUE), CO2e and cost where the profile gives a site, and the basis the estimate rests on.
"""

from __future__ import annotations

from datetime import datetime, timezone

SUMMARY_COLUMNS = ("timestamp", "workload", "model", "gpu", "gpu_count", "mode", "requests", "period_s",
                   "energy_kwh", "energy_low_kwh", "energy_high_kwh", "facility_energy_kwh", "pue", "co2e_kg",
                   "cost", "currency", "basis", "energy_model", "schema")


def summary_row(report: dict, now: datetime | None = None) -> dict:
    """The summary of one report (a dict of `Report.to_json()`), stamped `now` (UTC, ISO 8601, seconds)."""
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")
    e, d, site = report["energy_kwh"], report["deployment"], report.get("site") or {}
    return {"timestamp": stamp, "workload": report["profile"], "model": d["model"], "gpu": d["gpu"],
            "gpu_count": d["gpu_count"], "mode": report["mode"], "requests": report["requests"],
            "period_s": report["period_s"], "energy_kwh": e["estimate"], "energy_low_kwh": e["low"],
            "energy_high_kwh": e["high"], "facility_energy_kwh": site.get("facility_kwh"), "pue": site.get("pue"),
            "co2e_kg": site.get("co2e_kg"), "cost": site.get("cost"), "currency": site.get("currency"),
            "basis": report["basis"]["kind"], "energy_model": report["model"]["name"], "schema": report["schema"]}

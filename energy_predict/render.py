"""Rich rendering of a report dict (CLI layer only)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _fmt(x: float | None, unit: str = "", digits: int = 3) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.{digits}g} {unit}".strip() if abs(x) < 1e4 else f"{x:,.0f} {unit}".strip()


def render_report(console: Console, r: dict) -> None:
    """Summary table, then the per-bin breakdown."""
    e, d, m = r["energy_kwh"], r["deployment"], r["model"]
    label = "measured model" if m["kind"] == "measured" else "ANALYTIC baseline, not fitted to measurements"
    t = Table(title=f"{r['profile']}: {d['model']} on {d['gpu_count']}x {d['gpu']} ({d['framework']}, "
                    f"batch <= {d['max_batch']})", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("model", f"{m['name']} ({label})")
    period = f" over {r['period_s'] / 3600:.2f} h" if r["period_s"] else ""
    t.add_row("requests", f"{r['requests']:,.0f}{period}")
    t.add_row("energy", f"{_fmt(e['estimate'], 'kWh')}  (interval {_fmt(e['low'])} - {_fmt(e['high'])})")
    pr = r["per_request_j"]
    t.add_row("per request", f"mean {_fmt(pr['mean'], 'J')}, p50 {_fmt(pr['p50'], 'J')}, p90 {_fmt(pr['p90'], 'J')}")
    t.add_row("per token", f"{_fmt(r['energy_per_input_token_j'], 'J')}/input, "
                           f"{_fmt(r['energy_per_output_token_j'], 'J')}/output")
    ph = r["phases"]
    t.add_row("prefill / decode", f"{100 * (ph['prefill_share'] or 0):.0f}% / {100 * (ph['decode_share'] or 0):.0f}%")
    t.add_row("GPU-hours, mean power", f"{_fmt(r['gpu_hours'], 'h')}, {_fmt(r['mean_power_w'], 'W')}")
    b = r["baselines"]
    t.add_row("FLOPs/TDP estimate", f"{_fmt(b['flops_tdp_kwh'], 'kWh')} (estimate is "
                                    f"{_fmt(b['estimate_over_flops_tdp'], 'x')} of it)")
    t.add_row("roofline estimate", f"{_fmt(b['roofline_kwh'], 'kWh')}")
    bn = r["binned"]
    t.add_row("ceiling-bin estimate", f"{_fmt(bn['reference_estimate_kwh'], 'kWh')} "
                                      f"(binning error {_fmt(bn['binning_error_pct'], '%')})")
    oor = r["out_of_range"]
    t.add_row("outside reference bins", f"{oor['reference_bins']:,} requests (extended bins: {oor['extended_bins']:,})")
    if r["site"]:
        s = r["site"]
        t.add_row("facility (PUE)", f"{_fmt(s['facility_kwh'], 'kWh')} (PUE {s['pue']})")
        if s["co2e_kg"] is not None:
            t.add_row("CO2e", _fmt(s["co2e_kg"], "kg"))
        if s["cost"] is not None:
            t.add_row("cost", f"{_fmt(s['cost'])} {s['currency']}")
    console.print(t)

    bins = Table(title="by ceiling bin (top 12 by energy)", title_justify="left")
    for col in ("input <=", "output <=", "requests", "kWh", "decode share", "vs FLOPs/TDP"):
        bins.add_column(col, justify="right")
    for row in sorted(r["bins"], key=lambda x: -x["energy_kwh"])[:12]:
        share = row["decode_kwh"] / row["energy_kwh"] if row["energy_kwh"] else 0
        ratio = row["energy_kwh"] / row["flops_tdp_kwh"] if row["flops_tdp_kwh"] else None
        bins.add_row(str(row["input_bin"]), str(row["output_bin"]), f"{row['requests']:,.0f}",
                     _fmt(row["energy_kwh"]), f"{100 * share:.0f}%", _fmt(ratio, "x"))
    console.print(bins)
    for note in r["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}")

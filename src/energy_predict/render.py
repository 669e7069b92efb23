"""Rich rendering of a report dict (CLI layer only). No markup: every string is printed as given."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

BASIS_LABELS = {
    "measured": "measured: calibrated model, GPU and serving configuration",
    "extrapolated": "measured, partly extrapolated",
    "transferred": "TRANSFERRED from other measurements (interval from that transfer's held-out error)",
    "analytic": "ANALYTIC baseline from datasheet figures, not fitted to measurements",
}


def _fmt(x: float | None, unit: str = "", digits: int = 3) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.{digits}g} {unit}".strip() if abs(x) < 1e4 else f"{x:,.0f} {unit}".strip()


def render_report(console: Console, r: dict) -> None:
    """Summary table, then the per-bin breakdown, then the notes; wraps at the console width."""
    e, d, m, basis = r["energy_kwh"], r["deployment"], r["model"], r["basis"]
    online = r["online"]
    mode = f"online at {online['rate_per_s']:.3g} req/s" if online else "offline, full batches"
    t = Table(title=f"{r['profile']}: {d['model']} on {d['gpu_count']} x {d['gpu']} ({d['serving']}, "
                    f"batch <= {d['max_batch']}; {mode})", show_header=False, title_justify="left")
    t.add_column(style="bold", overflow="fold")
    t.add_column(overflow="fold")
    share = (f"; {100 * basis['extrapolated_share']:.1f}% of requests beyond the measured lengths or batches"
             if basis["extrapolated_share"] else "")
    label = BASIS_LABELS[basis["kind"]]
    widening = (basis.get("held_out") or {}).get("widening")
    if basis["kind"] == "transferred" and widening:  # a GPU never measured: no held-out error of its own
        label = (f"TRANSFERRED from another GPU's measurements through both datasheets (interval: the measured "
                 f"GPU-transfer error x{widening:g}, a stated prior)")
    t.add_row("model", f"{m['name']}: {label}{share}")
    if basis.get("serving_option"):
        t.add_row("serving option", basis["serving_option"])
    period = f" over {r['period_s'] / 3600:.2f} h" if r["period_s"] else ""
    t.add_row("requests", f"{r['requests']:,.0f}{period}")
    interval = (f"90% interval {_fmt(e['low'])} - {_fmt(e['high'])} kWh" if basis["kind"] != "analytic"
                else "no interval: an analytic estimate has no measured error")
    t.add_row("energy", f"{_fmt(e['estimate'], 'kWh')}  ({interval})")
    pr = r["per_request_j"]
    quantiles = f", p50 {_fmt(pr['p50'], 'J')}, p90 {_fmt(pr['p90'], 'J')}" if pr["p50"] is not None else ""
    t.add_row("per request", f"mean {_fmt(pr['mean'], 'J')}{quantiles}")
    t.add_row("per token", f"prefill {_fmt(r['energy_per_input_token_j'], 'J')} per input token, "
                           f"decode {_fmt(r['energy_per_output_token_j'], 'J')} per output token")
    pc = r.get("prefix_caching") or {}
    if pc.get("enabled"):
        source = {"profile": "workload.prefix_hit_rate", "trace": "the trace's block ids"}.get(pc["hit_rate_source"])
        t.add_row("prefix caching", f"on: hit rate {pc['hit_rate']:.3g} (from {source}); "
                                    f"{pc['prefill_tokens_skipped']:,.0f} of {r['tokens']['input']:,.0f} input "
                                    f"tokens served from the cache, not computed")
    ph = r["phases"]
    split = f"{100 * (ph['prefill_share'] or 0):.0f}% / {100 * (ph['decode_share'] or 0):.0f}%"
    if online:
        split += f" / idle {100 * (ph['idle_share'] or 0):.0f}%"
    t.add_row("prefill / decode", split)
    b = d["batch_used"]
    if not online:  # online, the scheduler forms the batches; these are the offline full batches
        t.add_row("batch used", f"{b['min']}-{b['max']} (mean {b['mean']:.0f})"
                  + (f", {100 * b['reduced_share']:.0f}% of requests below the cap to fit memory"
                     if b["reduced_share"] else ""))
    t.add_row("GPU-hours, power", f"{_fmt(r['gpu_hours'], 'h')}, {_fmt(r['mean_power_per_gpu_w'], 'W')} mean per GPU")
    if online:
        t.add_row("utilisation, latency", f"{100 * online['gpu_utilization']:.0f}% busy; TTFT p90 "
                                          f"{_fmt(online['ttft_s']['p90'], 's')}, TPOT p90 "
                                          f"{_fmt(online['tpot_s']['p90'], 's')}")
    base = r["baselines"]
    t.add_row("FLOPs/TDP estimate", f"{_fmt(base['flops_tdp_kwh'], 'kWh')} (estimate is "
                                    f"{_fmt(base['estimate_over_flops_tdp'])}x of it)")
    t.add_row("roofline estimate", f"{_fmt(base['roofline_kwh'], 'kWh')} (estimate is "
                                   f"{_fmt(base['estimate_over_roofline'])}x of it)")
    bn = r["binned"]
    t.add_row("ceiling-bin estimate", f"{_fmt(bn['reference_estimate_kwh'], 'kWh')} offline (binning error "
                                      f"{_fmt(bn['binning_error_pct'], '%')} against the offline exact-length "
                                      f"{_fmt(bn['offline_estimate_kwh'], 'kWh')})")
    oor = r["out_of_range"]
    of = f" of the profile's {sum(b['requests'] for b in r['bins']):,.0f} (offline)" if online else ""
    t.add_row("outside reference bins", f"{oor['reference_bins']:,} requests{of} (extended bins: "
                                        f"{oor['extended_bins']:,})")
    if r["site"]:
        s = r["site"]
        t.add_row("facility (PUE)", f"{_fmt(s['facility_kwh'], 'kWh')} (PUE {s['pue']})")
        if s["co2e_kg"] is not None:
            t.add_row("CO2e", _fmt(s["co2e_kg"], "kg"))
        if s["cost"] is not None:
            t.add_row("cost", f"{_fmt(s['cost'])} {s['currency']}")
    console.print(t)

    bins = Table(title="offline breakdown by ceiling bin (top 12 by energy, kWh)", title_justify="left")
    for col in ("input <=", "output <=", "requests", "kWh", "decode share", "vs FLOPs/TDP"):
        bins.add_column(col, justify="right", overflow="fold")
    for row in sorted(r["bins"], key=lambda x: -x["energy_kwh"])[:12]:
        dshare = row["decode_kwh"] / row["energy_kwh"] if row["energy_kwh"] else 0
        ratio = row["energy_kwh"] / row["flops_tdp_kwh"] if row["flops_tdp_kwh"] else None
        bins.add_row(str(row["input_bin"]), str(row["output_bin"]), f"{row['requests']:,.0f}",
                     _fmt(row["energy_kwh"]), f"{100 * dshare:.0f}%", _fmt(ratio, "x"))
    console.print(bins)
    for note in r["notes"]:
        console.print(Text.assemble(("note: ", "yellow"), note))

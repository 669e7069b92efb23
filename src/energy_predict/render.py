"""A report dict as text: a field/value summary, the per-bin table, the notes (CLI and HTML layers).

Plain text, Markdown or CSV through energy_predict.formats: nothing here folds a word or a number. Units follow
energy_predict.units: totals in kWh, bins in Wh, per request and per token in J (the denominator named), latencies
in ms, power in W.
"""

from __future__ import annotations

from energy_predict.formats import (
    Column,
    TableView,
    csv_text,
    key_value,
    key_value_markdown,
    markdown,
    plain,
    wrap_words,
)

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


def report_title(r: dict) -> str:
    """What the report is of: profile, model, GPUs, serving, mode."""
    d, online = r["deployment"], r["online"]
    mode = f"online at {online['rate_per_s']:.3g} req/s" if online else "offline, full batches"
    return (f"{r['profile']}: {d['model']} on {d['gpu_count']} x {d['gpu']} ({d['serving']}, batch <= "
            f"{d['max_batch']}; {mode})")


class _Rows(list):
    """(field, value) rows, added as a rich table's rows were."""

    def add_row(self, field: str, value: str) -> None:
        self.append((field, value))


def summary_rows(r: dict) -> list[tuple[str, str]]:
    """The report's headline as (field, value) rows, each value a sentence with its units."""
    e, d, m, basis = r["energy_kwh"], r["deployment"], r["model"], r["basis"]
    online = r["online"]
    t = _Rows()
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
    tok = r["per_token_j"]
    t.add_row("per token", f"prefill {_fmt(tok['prefill_j_per_input_token'], 'J')} per input token, decode "
                           f"{_fmt(tok['decode_j_per_output_token'], 'J')} per output token; all the energy: "
                           f"{_fmt(tok['energy_j_per_output_token'], 'J')} per output token, "
                           f"{_fmt(tok['energy_j_per_total_token'], 'J')} per input or output token")
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
        lat = r["latency"]
        t.add_row("utilisation, latency", f"{100 * online['gpu_utilization']:.0f}% busy; TTFT p90 "
                                          f"{_fmt(lat['ttft_p90_ms'], 'ms')}, TPOT p90 "
                                          f"{_fmt(lat['tpot_p90_ms'], 'ms')}")
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
    return list(t)


BIN_COLUMNS = (Column("input_bin"), Column("output_bin"), Column("requests", "{:,.0f}"), Column("energy_wh", "{:.3g}"),
               Column("prefill_wh", "{:.3g}"), Column("decode_wh", "{:.3g}"), Column("decode_share", "{:.0%}"),
               Column("estimate_over_flops_tdp", "{:.2f}x"))


def bins_view(r: dict, top: int | None = 12) -> TableView:
    """The offline per-bin breakdown, largest first (`top` of them, or all for None); energies in Wh."""
    rows = sorted(r["bins"], key=lambda x: -x["energy_kwh"])
    shown = rows[:top] if top else rows
    which = f"top {len(shown)} of {len(rows)} by energy" if len(shown) < len(rows) else "by energy"
    return TableView(f"offline breakdown by ceiling bin ({which}; energies in Wh)", BIN_COLUMNS, tuple(shown),
                     key_columns=2)


BINS_CSV_COLUMNS = tuple(Column(k) for k in ("input_bin", "output_bin", "requests", "energy_wh", "prefill_wh",
                                             "decode_wh", "binned_energy_wh", "flops_tdp_wh", "roofline_wh",
                                             "decode_share", "estimate_over_flops_tdp", "energy_kwh", "prefill_kwh",
                                             "decode_kwh", "binned_energy_kwh", "flops_tdp_kwh", "roofline_kwh"))


def bins_csv(r: dict) -> str:
    """Every bin as CSV, with the report JSON's keys (Wh and kWh), in the estimate's order."""
    return csv_text(TableView("", BINS_CSV_COLUMNS, tuple(r["bins"])))


def render_report(r: dict, fmt: str = "table", width: int | None = None) -> str:
    """The report as text: `table` (aligned, wrapped at spaces to `width`), `markdown`, or `csv` (the bins)."""
    if fmt == "csv":
        return bins_csv(r)
    notes = [f"note: {n}" for n in r["notes"]]
    if fmt == "markdown":
        return "\n".join([key_value_markdown(summary_rows(r), report_title(r)), markdown(bins_view(r)),
                          *(f"- {n}" for n in notes)]) + "\n"
    text = key_value(summary_rows(r), report_title(r), width) + "\n" + plain(bins_view(r), width)
    return text + "".join(line + "\n" for n in notes for line in wrap_words(n, width, "  "))

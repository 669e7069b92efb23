"""A self-contained HTML report (`--html FILE`), readable offline.

The report's summary, its per-bin breakdown, its notes and its plots inline (base64 PNG): no script, no style
sheet, font or image from anywhere else.

Each number is printed with `data-key` (the report JSON's path to it, e.g. `energy_kwh.estimate`) and `data-value`
(the full-precision value), so a test can read the rendered page back and check it against the JSON; the JSON
itself is embedded too (`<script type="application/json" id="report-json">`, data, not code).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from energy_predict.outputs import write_text
from energy_predict.predict.report_types import Report
from energy_predict.render import BIN_COLUMNS, report_title, summary_rows

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #111; max-width: 70em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #f3f3f3; }
.headline td { font-size: 1.1em; }
.note { color: #7a5b00; }
img { max-width: 100%; height: auto; border: 1px solid #eee; margin: 0.5em 0; }
"""

# The headline numbers, as (path in the report JSON, label, unit, format)
HEADLINE = (("energy_kwh.estimate", "energy", "kWh", "{:.4g}"),
            ("energy_kwh.low", "energy, 90% interval low", "kWh", "{:.4g}"),
            ("energy_kwh.high", "energy, 90% interval high", "kWh", "{:.4g}"),
            ("requests", "requests", "", "{:,.0f}"),
            ("energy_per_request_j", "energy per request (mean)", "J", "{:.4g}"),
            ("per_token_j.prefill_j_per_input_token", "prefill energy per input token", "J", "{:.4g}"),
            ("per_token_j.decode_j_per_output_token", "decode energy per output token", "J", "{:.4g}"),
            ("per_token_j.energy_j_per_output_token", "all energy per output token", "J", "{:.4g}"),
            ("per_token_j.energy_j_per_total_token", "all energy per input or output token", "J", "{:.4g}"),
            ("mean_power_per_gpu_w", "mean power per GPU", "W", "{:.4g}"),
            ("gpu_hours", "GPU-hours", "h", "{:.4g}"),
            ("latency.ttft_p90_ms", "TTFT p90", "ms", "{:.4g}"),
            ("latency.tpot_p90_ms", "TPOT p90", "ms", "{:.4g}"),
            ("site.facility_kwh", "facility energy (PUE)", "kWh", "{:.4g}"),
            ("site.co2e_kg", "CO2e", "kg", "{:.4g}"),
            ("site.cost", "cost", "", "{:.4g}"))


def _lookup(report: dict, path: str) -> object:
    """The value at a dotted path of the report JSON (None where a part is missing or null)."""
    value = report
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _num(key: str, value, fmt: str, unit: str = "") -> str:
    shown = "n/a" if value is None else fmt.format(value)
    data = "" if value is None else f' data-value="{html.escape(repr(float(value)))}"'
    text = f"{shown} {unit}".strip() if value is not None else shown
    return f'<td class="num" data-key="{html.escape(key)}"{data}>{html.escape(text)}</td>'


def _figures(report: Report) -> list[tuple[str, str]]:
    """(name, base64 PNG) of the report's plots; none, with a reason, where matplotlib is not installed."""
    try:
        from energy_predict.predict.plots import figure_bytes, report_figures
    except ImportError:
        return []
    return [(f.name, base64.b64encode(figure_bytes(f.figure)).decode("ascii")) for f in report_figures(report)]


def report_html(report: Report, with_plots: bool = True) -> str:
    """The whole page as a string."""
    r = report.to_json()
    esc = html.escape
    title = report_title(r)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{esc(title)}</title>", f"<style>{_STYLE}</style></head><body>",
             f"<h1>{esc(r['profile'])}: energy report</h1>", f"<p>{esc(title)}</p>",
             '<h2>Headline</h2><table class="headline" id="headline">']
    for key, label, unit, fmt in HEADLINE:
        value = _lookup(r, key)
        if value is None and key.split(".")[0] in ("latency", "site"):
            continue  # offline (no latency) or no site: the row says nothing
        parts.append(f"<tr><th>{esc(label)}</th>{_num(key, value, fmt, unit)}</tr>")
    parts.append("</table><h2>Summary</h2><table id=\"summary\">")
    parts.extend(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary_rows(r))
    parts.append("</table><h2>Offline breakdown by ceiling bin (Wh)</h2><table id=\"bins\"><tr>")
    parts.extend(f"<th>{esc(c.key)}</th>" for c in BIN_COLUMNS)
    parts.append("</tr>")
    for k, row in enumerate(sorted(r["bins"], key=lambda x: -x["energy_kwh"])):
        cells = "".join(_num(f"bins.{row['input_bin']}.{row['output_bin']}.{c.key}", row.get(c.key), c.fmt)
                        for c in BIN_COLUMNS)
        parts.append(f'<tr data-row="{k}">{cells}</tr>')
    parts.append("</table>")
    if r["notes"]:
        parts.append("<h2>Notes</h2><ul>")
        parts.extend(f'<li class="note">{esc(n)}</li>' for n in r["notes"])
        parts.append("</ul>")
    figures = _figures(report) if with_plots else []
    if figures:
        parts.append("<h2>Plots</h2>")
        parts.extend(f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{data}"></figure>'
                     for name, data in figures)
    elif with_plots:
        parts.append("<p>No plots: matplotlib is not installed (pip install 'energy-predict[plots]').</p>")
    # the JSON, for readers that want the numbers; `</` escaped so no value can close the element
    payload = json.dumps(r, allow_nan=False).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="report-json">{payload}</script>')
    parts.append(f"<footer><p>energy-predict, {esc(r['schema'])}</p></footer></body></html>")
    return "\n".join(parts) + "\n"


def write_html(report: Report, path: Path, option: str = "--html") -> Path:
    """Write the page atomically."""
    return write_text(path, option, report_html(report))

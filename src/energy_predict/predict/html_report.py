"""Self-contained HTML pages (`--html FILE`), readable offline: the report's and the plan's.

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
from energy_predict.predict.plan_types import Plan
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
    """The value at a dotted path of the JSON (a number is a list's index; None where a part is missing or null)."""
    value = report
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
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


def _head(title: str) -> list[str]:
    esc = html.escape
    return ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{esc(title)}</title>",
            f"<style>{_STYLE}</style></head><body>"]


def _tail(data: dict, element_id: str, schema: str) -> list[str]:
    """The JSON, for readers that want the numbers; `</` escaped so no value can close the element."""
    payload = json.dumps(data, allow_nan=False).replace("</", "<\\/")
    return [f'<script type="application/json" id="{element_id}">{payload}</script>',
            f"<footer><p>energy-predict, {html.escape(schema)}</p></footer></body></html>"]


def report_html(report: Report, with_plots: bool = True) -> str:
    """The whole page as a string."""
    r = report.to_json()
    esc = html.escape
    title = report_title(r)
    parts = [*_head(title), f"<h1>{esc(r['profile'])}: energy report</h1>", f"<p>{esc(title)}</p>",
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
    parts.extend(_tail(r, "report-json", r["schema"]))
    return "\n".join(parts) + "\n"


def write_html(report: Report, path: Path, option: str = "--html") -> Path:
    """Write the page atomically."""
    return write_text(path, option, report_html(report))


# The plan's numbers: (path in a front row of the plan JSON, column heading, unit, format)
PLAN_COLUMNS = (("energy_kwh_per_day", "energy a day", "kWh", "{:.4g}"),
                ("low_kwh_per_day", "90% interval low", "kWh", "{:.3g}"),
                ("high_kwh_per_day", "90% interval high", "kWh", "{:.3g}"),
                ("energy_per_request_j", "per request", "J", "{:.4g}"),
                ("ttft_p90_ms", "TTFT p90", "ms", "{:.4g}"), ("ttft_p99_ms", "TTFT p99", "ms", "{:.4g}"),
                ("tpot_p90_ms", "TPOT p90", "ms", "{:.3g}"), ("tpot_p99_ms", "TPOT p99", "ms", "{:.3g}"),
                ("gpus", "GPUs", "", "{:,.0f}"), ("peak_power_w", "peak power", "W", "{:,.0f}"),
                ("mean_power_w", "mean power", "W", "{:,.0f}"),
                ("utilisation", "share of the sustainable rate", "", "{:.1%}"),
                ("time_busy", "share of time stepping", "", "{:.1%}"),
                ("site.facility_kwh_per_day", "facility energy a day", "kWh", "{:.4g}"),
                ("site.co2e_kg_per_day", "CO2e a day", "kg", "{:.3g}"),
                ("site.energy_cost_per_day", "energy cost a day", "", "{:.2f}"))


def _unit(row: dict, path: str, unit: str) -> str:
    """A column's unit; a cost's is the site's currency."""
    return (row.get("site") or {}).get("currency") or "" if path.endswith("cost_per_day") else unit


def _plan_row(key: str, row: dict) -> str:
    cells = [f"<td>{html.escape(row['label'])}</td>", f"<td>{html.escape(row['basis'])}</td>"]
    cells.extend(_num(f"{key}.{path}", _lookup(row, path), fmt, _unit(row, path, unit))
                 for path, _, unit, fmt in PLAN_COLUMNS)
    return "".join(cells)


def plan_html(result: Plan) -> str:
    """The plan's page (`energy-predict plan --html`).

    The recommendation and why, the Pareto front, the targets, the closest deployments that missed them and the
    search's counts; every number with its path in the plan's JSON (`Plan.to_dict()`, embedded).
    """
    plan = result.to_dict()
    esc = html.escape
    title = (f"{plan['profile']}: deployment plan at {plan['offered_rate_per_s']:.3g} req/s "
             f"(energy model {plan['model']})")
    rec = plan["recommended"]
    parts = [*_head(title), f"<h1>{esc(plan['profile'])}: deployment plan</h1>", f"<p>{esc(title)}</p>",
             '<h2>Recommendation</h2><table class="headline" id="recommended">',
             f"<tr><th>deployment</th><td>{esc(rec['label'])}</td></tr>",
             f"<tr><th>basis</th><td>{esc(rec['basis'])}</td></tr>",
             f"<tr><th>why</th><td>{esc(plan['why'])}</td></tr>"]
    parts.extend(f"<tr><th>{esc(label)}</th>"
                 f"{_num(f'recommended.{path}', _lookup(rec, path), fmt, _unit(rec, path, unit))}</tr>"
                 for path, label, unit, fmt in PLAN_COLUMNS)
    parts.append("</table><h2>Pareto front</h2><p>Each row is a deployment no other beats on both energy and "
                 "latency; the recommended one is marked. A row whose interval overlaps the recommended one's "
                 "is not distinguishable from it.</p><table id=\"front\"><tr><th></th><th>deployment</th>"
                 "<th>basis</th>")
    parts.extend(f"<th>{esc(label)}{f' ({unit})' if unit else ''}</th>" for _, label, unit, _ in PLAN_COLUMNS)
    parts.append("</tr>")
    for k, row in enumerate(plan["front"]):
        mark = "recommended" if row["recommended"] else ("" if row["distinguishable"] else "not distinguishable")
        parts.append(f'<tr data-row="{k}"><td>{esc(mark)}</td>{_plan_row(f"front.{k}", row)}</tr>')
    parts.append("</table><h2>Targets</h2><table id=\"targets\">")
    for name, value in plan["targets"].items():
        if value is not None:
            parts.append(f"<tr><th>{esc(name)}</th>{_num(f'targets.{name}', value, '{:.4g}')}</tr>")
    parts.append("</table>")
    if plan["closest_infeasible"]:
        parts.append("<h2>Closest deployments that miss a target</h2><table id=\"closest\"><tr><th>misses</th>"
                     "<th>deployment</th><th>basis</th>")
        parts.extend(f"<th>{esc(label)}{f' ({unit})' if unit else ''}</th>" for _, label, unit, _ in PLAN_COLUMNS)
        parts.append("</tr>")
        for k, row in enumerate(plan["closest_infeasible"]):
            misses = "; ".join(m["line"] for m in row["misses"])
            parts.append(f'<tr><td>{esc(misses)}</td>{_plan_row(f"closest_infeasible.{k}", row)}</tr>')
        parts.append("</table>")
    parts.append("<h2>Search</h2><table id=\"counts\">")
    parts.extend(f"<tr><th>{esc(name.replace('_', ' '))}</th>{_num(f'counts.{name}', value, '{:,.0f}')}</tr>"
                 for name, value in plan["counts"].items())
    parts.append(f"</table><p>{esc(plan['method'])}</p>")
    if plan["notes"]:
        parts.append("<h2>Notes</h2><ul>")
        parts.extend(f'<li class="note">{esc(n)}</li>' for n in plan["notes"])
        parts.append("</ul>")
    parts.extend(_tail(plan, "plan-json", "plan"))
    return "\n".join(parts) + "\n"


def write_plan_html(result: Plan, path: Path, option: str = "--html") -> Path:
    """Write the plan's page atomically."""
    return write_text(path, option, plan_html(result))

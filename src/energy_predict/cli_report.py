"""The report's outputs, shared by the main command (`--profile P`) and `estimate`: one code path, not a copy.

The options (`--format`/`--json`, `--csv`, `--html`, `--summary-csv`, `--plot-dir`, and `--energy-model`, which
every predicting command takes) are declared here once; the outputs are checked before any work
(`check_report_outputs`) and written after it (`write_report_outputs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from energy_predict.predict.report_types import Report


FORMAT_OPTION_HELP = ("table (aligned text; in a terminal wrapped to its width, a whole column at a time) | markdown "
                      "| json | csv")


def format_option():
    """--format: how the report is printed on standard output."""
    return typer.Option("table", "--format", metavar="FORMAT", help=FORMAT_OPTION_HELP)


ENERGY_MODEL_HELP = ("the fitted energy model: a shipped model's name or folder (default: the shipped one), or "
                     "roofline / flops-tdp (analytic)")


def energy_model_option():
    """--energy-model: the fitted model that answers (--model names the LLM wherever it is taken)."""
    return typer.Option(None, "--energy-model", metavar="NAME", help=ENERGY_MODEL_HELP)


def csv_option():
    """--csv: the per-bin breakdown as CSV, to a file or to standard output (-)."""
    return typer.Option(None, "--csv", help="write the per-bin breakdown as CSV (- : to standard output, instead "
                        "of the report)")


def html_option():
    """--html: the self-contained HTML page."""
    return typer.Option(None, "--html", help="write a self-contained HTML report (report, breakdown and plots "
                        "inline; readable offline)")


def summary_csv_option():
    """--summary-csv: one row appended to a run summary CSV."""
    return typer.Option(None, "--summary-csv", help="append one row (timestamp, workload, energy, facility energy, "
                        "CO2e, cost, basis, interval) to this CSV")


def plot_dir_option():
    """--plot-dir: a folder for the PNG plots."""
    return typer.Option(None, "--plot-dir", help="write PNG plots into this folder")


def report_json_option():
    """--json: the report as JSON, as --format json."""
    return typer.Option(False, "--json", help="print the report as JSON (docs/report.schema.json); the same as "
                        "--format json")


@dataclass(frozen=True)
class ReportOutputs:
    """Where a report goes: the format of standard output and the files asked for (None: not asked)."""

    fmt: str
    csv: Path | None = None
    html: Path | None = None
    summary_csv: Path | None = None
    plot_dir: Path | None = None


def check_report_outputs(fmt: str, as_json: bool, csv: Path | None, html: Path | None, summary_csv: Path | None,
                         plot_dir: Path | None) -> ReportOutputs:
    """The outputs, each checked before any work: a format that exists, files and a folder that may be written."""
    from energy_predict.cli import _is_stdout, _output_dir, _output_file, _resolve_format
    from energy_predict.errors import InputError

    fmt = _resolve_format(fmt, as_json)
    if _is_stdout(csv) and fmt != "table":
        given = "--json" if as_json else f"--format {fmt}"
        raise InputError("--csv", f"- (standard output) and {given} would both write to standard output",
                         f"write the CSV to a file, or leave out {given}")
    _output_file(csv, "--csv")
    _output_file(html, "--html", (".html", ".htm"))
    _output_file(summary_csv, "--summary-csv", (".csv",))
    _output_dir(plot_dir, "--plot-dir")
    return ReportOutputs(fmt, csv, html, summary_csv, plot_dir)


def write_report_outputs(report: Report, outputs: ReportOutputs) -> None:
    """The plots, HTML page and summary row asked for, then the report (or the CSV) on standard output."""
    import sys

    from energy_predict.cli import _info, _is_stdout, _print_json, _table_width, _write_summary_csv
    from energy_predict.render import bins_csv, render_report

    data = report.to_json()
    if outputs.plot_dir is not None:
        from energy_predict.predict.plots import write_plots

        for path in write_plots(report, outputs.plot_dir):
            _info(f"wrote {path}")
    if outputs.html is not None:
        from energy_predict.predict.html_report import write_html

        _info(f"wrote {write_html(report, outputs.html)}")
    if outputs.summary_csv is not None:
        _write_summary_csv(outputs.summary_csv, data)
    if outputs.csv is not None:
        if _is_stdout(outputs.csv):
            sys.stdout.write(bins_csv(data))
            return  # standard output holds the CSV alone
        from energy_predict.outputs import write_text

        write_text(outputs.csv, "--csv", bins_csv(data))
    if outputs.fmt == "json":
        _print_json(data)
    else:
        sys.stdout.write(render_report(data, outputs.fmt, _table_width()))

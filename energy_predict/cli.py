"""The `energy-predict` command line. Commands declare options and call one library function each."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import typer
from rich.console import Console

from energy_predict.errors import EnergyPredictError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=False,
                  help="Predict the energy of an LLM deployment from measured GPU data.")
profile_app = typer.Typer(help="Build workload profiles.", pretty_exceptions_enable=False)
app.add_typer(profile_app, name="profile")

out = Console()
err = Console(stderr=True)


def handles_errors(fn):
    """Turn an EnergyPredictError into one red line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EnergyPredictError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


@app.callback(invoke_without_command=True)
@handles_errors
def main_command(
    ctx: typer.Context,
    profile: Path | None = typer.Option(None, "--profile", "-p", help="workload profile JSON"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON (docs/report.schema.json)"),
    csv: Path | None = typer.Option(None, "--csv", help="write the per-bin breakdown as CSV"),
) -> None:
    """Predict the energy of the workload in --profile."""
    if ctx.invoked_subcommand is not None:
        return
    if profile is None:
        out.print(ctx.get_help())
        raise typer.Exit(0)
    from energy_predict.predict.run import predict_profile

    report, est = predict_profile(profile)
    if csv is not None:
        est.bins.to_csv(csv, index=False)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        from energy_predict.render import render_report

        render_report(out, report)


@profile_app.command("from-trace")
@handles_errors
def from_trace(
    trace: Path = typer.Argument(..., help="Azure CSV, Mooncake JSONL, or CSV with named columns"),
    output: Path = typer.Option(..., "-o", "--output", help="profile JSON to write"),
    model: str = typer.Option("Llama-3.1-8B", help="registry name or config.json path"),
    gpu: str = typer.Option("H100-SXM-80GB", help="GPU catalog name"),
    name: str | None = typer.Option(None, help="profile name (default: the trace's file name)"),
    fmt: str | None = typer.Option(None, "--format", help="azure | mooncake | csv (default: detected)"),
    input_column: str | None = typer.Option(None, "--input-column"),
    output_column: str | None = typer.Option(None, "--output-column"),
    time_column: str | None = typer.Option(None, "--time-column"),
) -> None:
    """Write a profile (token histogram and arrival rate) from a request trace."""
    from energy_predict.architectures import resolve_architecture
    from energy_predict.gpus import resolve_gpu
    from energy_predict.traces import read_trace
    from energy_predict.workload import profile_from_trace

    resolve_gpu(gpu)
    resolve_architecture(model)
    frame = read_trace(trace, fmt, input_column, output_column, time_column)
    data = profile_from_trace(frame, name or trace.stem, model, gpu, source=trace.name)
    output.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    rate = data["workload"].get("rate_per_s")
    out.print(f"wrote {output}: {len(frame)} requests" + (f", {rate:.2f} req/s" if rate else ""))


def main() -> None:
    """Console-script entry point."""
    app()

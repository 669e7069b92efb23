"""`energy-predict estimate`: the report for one request shape, without writing a profile first.

Registered by cli.py; prints what `energy-predict --profile P` prints for the profile it builds
(`energy_predict.query.query_profile`), which `--save-profile` writes.
"""

from __future__ import annotations

from pathlib import Path

import typer

from energy_predict import cli_report

# The fields of the profile estimate builds, as the options that set them: a refusal names what the user typed.
_OPTIONS = {"workload.requests": "--requests", "workload.rate_per_s": "--rate", "workload.period_s": "--period-s",
            "workload.tokens": "--input/--output", "serving.max_batch": "--max-batch",
            "serving.tensor_parallel": "--tp", "serving.framework": "--framework", "hardware.count": "--tp",
            "hardware.gpu": "--gpu", "serving.quantization": "--precision", "serving.dtype": "--precision",
            "--energy-model": "--energy-model", "model": "--model", "serving": "--framework/--precision",
            "hardware": "--gpu/--tp"}


def _as_options(exc: Exception) -> Exception:
    """A refusal about the built profile (or the energy model), each field it names renamed to its option."""
    from energy_predict.errors import EnergyPredictError

    text = str(exc)
    for field, option in _OPTIONS.items():
        text = text.replace(field, option) if "." in field else \
            (option + text[len(field):] if text.startswith(field + ":") else text)
    return EnergyPredictError(text)


def estimate(
    model: str = typer.Option(..., "--model", help="the model: registry name, Hugging Face id "
                              "(e.g. meta-llama/Llama-3.1-8B-Instruct) or config.json path"),
    gpu: str = typer.Option(..., "--gpu", help="GPU catalog name, e.g. H100-SXM-80GB"),
    input_tokens: int = typer.Option(..., "--input", min=0, max=1 << 24, help="prompt tokens per request"),
    output_tokens: int = typer.Option(..., "--output", min=1, max=1 << 24, help="output tokens per request"),
    rate: float | None = typer.Option(None, "--rate", help="online: requests arrive at this rate (req/s), "
                                      "simulated over --period-s"),
    requests: float | None = typer.Option(None, "--requests", help="offline: this many requests in full batches "
                                          "(default 1000)"),
    period_s: float | None = typer.Option(None, "--period-s", help="online: the period arrivals come in "
                                          "(s, default 3600)"),
    tp: int = typer.Option(1, "--tp", min=1, max=64, help="tensor parallelism: GPUs per engine"),
    precision: str = typer.Option("bf16", "--precision", help="bf16 | fp16 | fp8"),
    framework: str = typer.Option("vllm", "--framework", help="vllm | hf"),
    max_batch: int | None = typer.Option(None, "--max-batch", min=1, max=65536,
                                         help="largest batch the server forms (default 256)"),
    energy_model: str | None = cli_report.energy_model_option(),
    save_profile: Path | None = typer.Option(None, "--save-profile", help="also write the profile this builds "
                                             "(JSON) here"),
    fmt: str = cli_report.format_option(),
    as_json: bool = cli_report.report_json_option(),
    csv: Path | None = cli_report.csv_option(),
    html: Path | None = cli_report.html_option(),
    summary_csv: Path | None = cli_report.summary_csv_option(),
    plot_dir: Path | None = cli_report.plot_dir_option(),
) -> None:
    """Predict the energy of one request shape on a GPU: the report --profile prints, without a profile file."""
    import json

    from energy_predict.api import predict
    from energy_predict.cli import _check_rate, _output_file
    from energy_predict.errors import EnergyPredictError, InputError
    from energy_predict.profile import parse_profile
    from energy_predict.query import query_profile

    if rate is not None:
        _check_rate(rate, "--rate")
    if framework not in ("vllm", "hf"):
        raise InputError("--framework", f"{framework!r} is not a serving framework here", "use vllm or hf")
    _output_file(save_profile, "--save-profile")
    outputs = cli_report.check_report_outputs(fmt, as_json, csv, html, summary_csv, plot_dir)
    try:
        data = query_profile(model, gpu, input_tokens, output_tokens, rate_per_s=rate, requests=requests,
                             period_s=period_s, tensor_parallel=tp, precision=precision, framework=framework,
                             max_batch=max_batch)
        report = predict(parse_profile(data), energy_model=energy_model)
    except EnergyPredictError as exc:
        raise _as_options(exc) from None
    if save_profile is not None:
        from energy_predict.outputs import write_text

        write_text(save_profile, "--save-profile", json.dumps(data, indent=2, allow_nan=False) + "\n")
    cli_report.write_report_outputs(report, outputs)

"""`energy-predict estimate`: the report for one request shape, without writing a profile first.

Registered by cli.py; prints what `energy-predict --profile P` prints for the profile it builds
(`energy_predict.query.query_profile`), which `--save-profile` writes.
"""

from __future__ import annotations

from pathlib import Path

import typer


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
    energy_model: str = typer.Option("default", "--energy-model", help="shipped energy model, or roofline / "
                                     "flops-tdp"),
    save_profile: Path | None = typer.Option(None, "--save-profile", help="also write the profile this builds "
                                             "(JSON) here"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON (docs/report.schema.json)"),
) -> None:
    """Predict the energy of one request shape on a GPU: the report --profile prints, without a profile file."""
    import json

    from energy_predict.api import predict
    from energy_predict.cli import _check_rate, _output_file, _print_json
    from energy_predict.errors import InputError
    from energy_predict.profile import parse_profile
    from energy_predict.query import query_profile

    if rate is not None:
        _check_rate(rate, "--rate")
    if framework not in ("vllm", "hf"):
        raise InputError("--framework", f"{framework!r} is not a serving framework here", "use vllm or hf")
    _output_file(save_profile, "--save-profile")
    data = query_profile(model, gpu, input_tokens, output_tokens, rate_per_s=rate, requests=requests,
                         period_s=period_s, tensor_parallel=tp, precision=precision, framework=framework,
                         max_batch=max_batch)
    profile = parse_profile(data)
    report = predict(profile, model=energy_model)
    if save_profile is not None:
        from energy_predict.outputs import write_text

        write_text(save_profile, "--save-profile", json.dumps(data, indent=2, allow_nan=False) + "\n")
    if as_json:
        _print_json(report.to_json())
    else:
        import sys

        from energy_predict.cli import _table_width
        from energy_predict.render import render_report

        sys.stdout.write(render_report(report.to_json(), "table", _table_width()))

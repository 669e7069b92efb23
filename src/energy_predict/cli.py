"""The `energy-predict` command line. Commands declare options and call one library function each."""

from __future__ import annotations

import contextlib
import functools
import json
from pathlib import Path

import typer

from energy_predict import cli_report
from energy_predict.errors import EnergyPredictError
from energy_predict.outputs import printable


class _OneLineUsageErrors(typer.core.TyperGroup):
    """Click's refusals (a bad option value, a missing or unknown option) as one line and exit 2.

    Like every other error, instead of a usage panel. The click typer uses is vendored in some versions,
    so its exception class is the one `typer.BadParameter` derives from.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        import sys

        from energy_predict.outputs import check_stdout, flush_stdout, os_error_line

        click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
        args = _global_flags_first(sys.argv[1:] if args is None else list(args))
        _our_warnings_as_lines()
        try:
            check_stdout()
            code = super().main(args, prog_name, complete_var, False, **extra)
            flush_stdout()  # a full disk or a closed pipe is an error, not exit 0 with nothing written
        except click_error as exc:
            message = " ".join(exc.format_message().split())
            _say("error", f"{message} (see --help)")
            sys.exit(exc.exit_code)
        except typer.Abort:
            err.print("Aborted!")
            sys.exit(1)
        except EnergyPredictError as exc:
            _say("error", " ".join(str(exc).split()))
            sys.exit(2)
        except ImportError as exc:  # an optional extra not installed (plots, fitting, records): name the pip command
            from energy_predict.extras import from_import_error

            if (missing := from_import_error(exc)) is None:
                raise
            _say("error", str(missing))
            sys.exit(2)
        except OSError as exc:  # standard output full or closed mid-answer, most often: one line, not a traceback
            _say("error", " ".join(str(os_error_line(exc)).split()))
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


# Plain help (rich_markup_mode None): click's layout, which shows a flag as a flag, not as `--json <bool>`.
_TYPER = {"pretty_exceptions_enable": False, "rich_markup_mode": None,
          "context_settings": {"help_option_names": ["-h", "--help"]}}
app = typer.Typer(add_completion=True, no_args_is_help=False, cls=_OneLineUsageErrors,
                  help="Predict the energy of an LLM deployment from measured GPU data.", **_TYPER)
profile_app = typer.Typer(help="Build workload profiles.", **_TYPER)
app.add_typer(profile_app, name="profile")
model_app = typer.Typer(help="Fit and inspect energy models.", **_TYPER)
app.add_typer(model_app, name="model")
data_app = typer.Typer(help="Calibration data that ships or that you measured.", **_TYPER)
app.add_typer(data_app, name="data")

class _LazyConsole:
    """A rich Console made at its first use: importing rich costs ~0.03 s of CPU, needless off a terminal.

    `is_terminal` answers False without rich where rich would: no tty, and none of the variables that make rich call
    a stream a terminal.
    """

    _RICH_TERMINAL_VARIABLES = ("TTY_COMPATIBLE", "FORCE_COLOR")

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._console = None

    def _get(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._kwargs)
        return self._console

    def __getattr__(self, name: str):
        return getattr(self._get(), name)

    @property
    def is_terminal(self) -> bool:
        import os
        import sys

        if self._console is None and not any(v in os.environ for v in self._RICH_TERMINAL_VARIABLES):
            stream = sys.stderr if self._kwargs.get("stderr") else sys.stdout
            try:
                if not stream.isatty():
                    return False
            except (AttributeError, ValueError):  # no isatty, or a closed stream: rich says False too
                return False
        return self._get().is_terminal


def _rich(console):
    """The rich Console itself (for rich's own objects, a progress bar's), whether made lazily or set by a test."""
    return console._get() if isinstance(console, _LazyConsole) else console


# No markup and no highlighting: model names, GPU names, file names and trace columns are printed as given.
out = _LazyConsole(markup=False, highlight=False, emoji=False)
err = _LazyConsole(stderr=True, markup=False, highlight=False, emoji=False)


def _say(kind: str, message: str) -> None:
    """One `error:` (red) or `warning:` (yellow) line on stderr; the message is printed as given."""
    from rich.text import Text

    # stderr is not filtered as stdout is (the progress bars move the cursor there): the message is made printable
    err.print(Text.assemble((f"{kind}:", "red" if kind == "error" else "yellow"), " ", printable(message)),
              soft_wrap=True)


def _our_warnings_as_lines() -> None:
    """Our own warnings (a trace's, energy_predict.traces.TraceWarning) as one `warning:` line, not Python's two."""
    import warnings

    shown = warnings.showwarning
    if getattr(shown, "ours", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if getattr(category, "__module__", "").startswith("energy_predict."):
            _say("warning", " ".join(str(message).split()))
        else:
            shown(message, category, filename, lineno, file, line)

    show.ours = True
    warnings.showwarning = show
    # shown even under -W ignore: they are the command's own output, as from-trace's warning lines are
    warnings.filterwarnings("default", category=UserWarning, module=r"energy_predict(\.|$)")


def handles_errors(fn):
    """Turn an EnergyPredictError into one red line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EnergyPredictError as exc:

            _say("error", " ".join(str(exc).split()))  # one line, whatever the message holds
            raise typer.Exit(2) from None

    return wrapper


def _load_model(name: str):
    """A shipped model by name or folder, or an analytic baseline (the CLI composes model/ and predict/)."""
    from energy_predict.model.persistence import load_default_model, load_model

    return load_default_model() if name == "default" else load_model(name)


def _print_json(obj) -> None:
    """Standard JSON only: a non-finite number is a bug, never printed as NaN or Infinity."""
    try:
        text = json.dumps(obj, indent=2, allow_nan=False)
    except (ValueError, TypeError):  # TypeError: a value JSON has no type for (a numpy scalar that slipped through)
        raise EnergyPredictError("internal: the result holds a non-finite number or a value JSON cannot write; please "
                                 "report this profile") \
            from None
    print(text)


_GLOBAL_FLAGS = {"-q", "--quiet", "-v", "--verbose"}
_verbosity = 0  # -1 with -q (no progress, no `wrote` lines), 1 with -v (each step on standard error)


def _global_flags_first(args: list[str]) -> list[str]:
    """-q/-v are global: given after the command (`sweep-rate ... -q`) they are moved before it."""
    if "--" in args:
        return args
    flags = [a for a in args if a in _GLOBAL_FLAGS]
    return flags + [a for a in args if a not in _GLOBAL_FLAGS]


def _info(message: str) -> None:
    """A line for the user on standard error (`wrote FILE`), unless -q."""
    if _verbosity >= 0:
        err.print(printable(message), soft_wrap=True)


def _step(message: str) -> None:
    """A step, on standard error with -v only."""
    if _verbosity > 0:
        err.print(printable(f"energy-predict: {message}"), soft_wrap=True)


def _progress(description: str, total: int):
    """A rich progress bar with ETA on standard error; a no-op off a terminal or with -q."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=_rich(err), transient=True,
                        disable=_verbosity < 0 or not err.is_terminal)
    progress.add_task(description, total=total)
    return progress


PROGRESS_AFTER_S = 1.0  # work shorter than this draws no bar


class _LateProgress:
    """A progress bar (ETA, standard error) drawn only once the work has taken `delay_s`: a quick answer draws none.

    Used as `with _LateProgress("simulating") as on_progress:`; `on_progress` is None off a terminal or with -q, so
    the work pays nothing for a bar nobody sees.
    """

    def __init__(self, description: str, delay_s: float | None = None):
        import time

        self.description, self._started_s, self._bar = description, time.monotonic(), None
        self.delay_s = PROGRESS_AFTER_S if delay_s is None else delay_s

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            import time

            if time.monotonic() - self._started_s < self.delay_s:
                return
            self._bar = _progress(self.description, total)
            self._bar.start()
        self._bar.update(self._bar.task_ids[0], completed=done, total=total)

    def __enter__(self):
        return self if _verbosity >= 0 and err.is_terminal else None

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def _deprecated(old: str, new: str, old_value, new_value, convert=None):
    """A hidden old spelling of an option: one warning line, then its value as the new option's."""
    if old_value is None:
        return new_value
    _say("warning", f"{old} is deprecated and will be removed in the next release; use {new}")
    if new_value is not None:
        from energy_predict.errors import InputError

        raise InputError(old, f"given with {new}, which means the same", f"give only {new}")
    return convert(old_value) if convert else old_value


_energy_model_option = cli_report.energy_model_option


def _old_model_option():
    return typer.Option(None, "--model", hidden=True, help="deprecated: --energy-model")


def _energy_model_name(old: str | None, new: str | None) -> str:
    """--energy-model's value, or the deprecated --model's (on the commands where it named the energy model)."""
    return _deprecated("--model", "--energy-model", old, new) or "default"


def _version(value: bool) -> None:
    if value:
        from energy_predict import __version__

        print(f"energy-predict {__version__}")
        raise typer.Exit(0)


_format_option = cli_report.format_option


def _json_option():
    return typer.Option(False, "--json", help="print JSON (the same as --format json)")


def _resolve_format(fmt: str, as_json: bool) -> str:
    """--json or --format's value, checked."""
    from energy_predict.formats import FORMATS

    if fmt.lower() not in FORMATS:
        from energy_predict.errors import InputError

        raise InputError("--format", f"{fmt!r} is not an output format", f"use one of {', '.join(FORMATS)}")
    return "json" if as_json else fmt.lower()


def _table_width() -> int | None:
    """A terminal's width; off a terminal COLUMNS when set (a CI log), else none: lines are as long as the table."""
    import os

    if out.is_terminal:
        return out.width
    cols = os.environ.get("COLUMNS", "")
    return int(cols) if cols.isdigit() and int(cols) >= 20 else None


def _emit(view, fmt: str, json_obj=None) -> None:
    """A table in the chosen format on standard output: aligned text, Markdown, CSV, or `json_obj` as JSON."""
    import sys

    from energy_predict import formats

    if fmt == "json":
        _print_json(json_obj)
        return
    if fmt == "csv":
        text = formats.csv_text(view)
    elif fmt == "markdown":
        text = formats.markdown(view)
    else:
        text = formats.plain(view, _table_width())
    sys.stdout.write(text)


def _write_summary_csv(path: Path, report: dict) -> None:
    from energy_predict.outputs import append_csv_row
    from energy_predict.summary import SUMMARY_COLUMNS, summary_row

    append_csv_row(path, "--summary-csv", SUMMARY_COLUMNS, summary_row(report))
    _info(f"appended a row to {path}")


@app.callback(invoke_without_command=True)
@handles_errors
def main_command(
    ctx: typer.Context,
    profile: Path | None = typer.Option(None, "--profile", "-p", help="workload profile JSON"),
    fmt: str = _format_option(),
    as_json: bool = cli_report.report_json_option(),
    csv: Path | None = cli_report.csv_option(),
    energy_model: str | None = _energy_model_option(),
    model: str | None = _old_model_option(),
    plot_dir: Path | None = cli_report.plot_dir_option(),
    plot: Path | None = typer.Option(None, "--plot", hidden=True, help="deprecated: --plot-dir"),
    html: Path | None = cli_report.html_option(),
    summary_csv: Path | None = cli_report.summary_csv_option(),
    rate: float | None = typer.Option(None, "--rate", help="online serving at this rate (req/s): simulate it"),
    gpu_count: int | None = typer.Option(None, "--gpu-count", min=1, max=4096,
                                         help="GPUs of the deployment (replicas x tensor_parallel); "
                                              "default: the profile's hardware.count"),
    gpus: int | None = typer.Option(None, "--gpus", min=1, max=4096, hidden=True, help="deprecated: --gpu-count"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print the version and exit"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="say each step on standard error"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars and no `wrote` lines (errors and "
                               "warnings still)"),
) -> None:
    """Predict the energy of the workload in --profile."""
    global _verbosity
    _verbosity = -1 if quiet else (1 if verbose else 0)
    if ctx.invoked_subcommand is not None:
        return
    if profile is None:
        out.print(ctx.get_help())
        raise typer.Exit(0)
    _prediction_process()
    with imports_without_gc():
        from energy_predict.predict.run import predict_profile
    plot_dir = _deprecated("--plot", "--plot-dir", plot, plot_dir)
    gpu_count = _deprecated("--gpus", "--gpu-count", gpus, gpu_count)
    energy_model = _energy_model_name(model, energy_model)
    if rate is not None:
        _check_rate(rate, "--rate")
    outputs = cli_report.check_report_outputs(fmt, as_json, csv, html, summary_csv, plot_dir)
    _step(f"predicting {profile}" + (f" online at {rate:g} req/s" if rate else ""))
    with imports_without_gc():
        fitted = _load_model(energy_model)
    with _LateProgress("simulating requests") as on_progress:
        prediction = predict_profile(profile, fitted, rate, gpu_count, on_progress)
    cli_report.write_report_outputs(prediction.report, outputs)


freeze_imports = False  # set by the console script (entry.py), whose process runs one command and ends


@contextlib.contextmanager
def imports_without_gc():
    """The garbage collector paused while modules are imported and a model is loaded.

    In the console script's process what they made is then frozen (it lives as long as the process: the collector
    would only walk it to find nothing to free, as entry.py says); elsewhere (a test, a notebook calling `main`) the
    collector only resumes.
    """
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze_imports:
            gc.freeze()
        if enabled:
            gc.enable()


def _prediction_process() -> None:
    """Set up a process that prints one prediction and ends: ~0.15 s of CPU less, a quarter of the report's.

    One OpenBLAS thread (unless the user set another number; only before numpy's first import): a prediction's BLAS
    work is a few vector products, and numpy's default starts one thread per core that spins idle. At exit, the
    objects left (every imported module's classes, pydantic's schemas) are frozen out of the garbage collector's
    last pass, which would only walk them to find nothing to free (~0.1 s); what the report wrote is closed by then.
    """
    import atexit
    import gc
    import os
    import sys

    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    atexit.register(gc.freeze)


_TRACE_FORMATS_HELP = ("vLLM bench result JSON, BurstGPT, Azure, Mooncake, Vidur, LLMServingSim, OpenAI usage log, "
                       "ShareGPT conversations, or a CSV with named columns (detected from the content)")
_FORMAT_HELP = ("vllm | burstgpt | sharegpt | vidur | llmservingsim | openai | azure | mooncake | csv | jsonl "
                "(default: detected from the content)")
_TIME_UNIT_HELP = ("s | ms | us | ns: the unit of the trace's times (default: the format's, the column name's, "
                   "or detected; an implausible rate is a warning)")
_TOKENIZER_HELP = "tokenizer folder or Hugging Face id already on this machine: counts ShareGPT conversations' tokens"


@profile_app.command("from-trace")
@handles_errors
def from_trace(
    trace: Path = typer.Argument(..., help=f"request trace: {_TRACE_FORMATS_HELP}"),
    output: Path = typer.Option(..., "-o", "--output", help="profile JSON to write"),
    model: str = typer.Option("Llama-3.1-8B", help="registry name or config.json path"),
    gpu: str = typer.Option("H100-SXM-80GB", help="GPU catalog name"),
    name: str | None = typer.Option(None, help="profile name (default: the trace's file name)"),
    trace_format: str | None = typer.Option(None, "--trace-format", help=_FORMAT_HELP),
    fmt: str | None = typer.Option(None, "--format", hidden=True, help="deprecated: --trace-format"),
    input_column: str | None = typer.Option(None, "--input-column", help="column of prompt token counts"),
    output_column: str | None = typer.Option(None, "--output-column", help="column of output token counts"),
    time_column: str | None = typer.Option(None, "--time-column", help="column of arrival times"),
    time_unit: str | None = typer.Option(None, "--time-unit", help=_TIME_UNIT_HELP),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help=_TOKENIZER_HELP),
) -> None:
    """Write a profile (token histogram and arrival rate) from a request trace."""
    from energy_predict.architectures import resolve_architecture
    from energy_predict.gpus import resolve_gpu
    from energy_predict.memory import kv_token_capacity
    from energy_predict.serving import Deployment, Serving
    from energy_predict.traces import FORMATS, load_trace
    from energy_predict.workload import profile_from_trace

    fmt = _deprecated("--format", "--trace-format", fmt, trace_format)
    _output_file(output, "--output")
    dep = Deployment(resolve_architecture(model), resolve_gpu(gpu), Serving())
    loaded = load_trace(trace, fmt, input_column, output_column, time_column, time_unit=time_unit,
                        tokenizer=tokenizer)
    for note in loaded.notes:
        _say("warning", note)
    frame = loaded.frame
    capacity = kv_token_capacity(dep) or None  # None: the weights alone fill one GPU, count every earlier block
    data = profile_from_trace(frame, name or trace.stem, model, gpu, source=trace.name, kv_capacity_tokens=capacity)
    from energy_predict.outputs import write_text

    write_text(output, "--output", json.dumps(data, separators=(",", ":"), allow_nan=False) + "\n")
    rate = data["workload"].get("rate_per_s")
    out.print(f"wrote {output}: {len(frame)} requests" + (f", {rate:.2f} req/s" if rate else "")
              + f" (read as {FORMATS[loaded.format]})", soft_wrap=True)
    hit = data["workload"].get("prefix_hit_rate")
    if hit is not None:
        kept = (f"still in a least-recently-used cache of {capacity:,} tokens ({dep.arch.name}'s KV cache on one "
                f"{dep.gpu.name})" if capacity else "(no eviction: the weights leave one GPU no KV cache)")
        out.print(f"workload.prefix_hit_rate {hit:g}: share of prompt tokens in 512-token blocks seen earlier and "
                  f"{kept}; it counts only where serving.prefix_caching is true")


class _RayOptionalAddress(typer.core.TyperCommand):
    """`--ray` alone starts Ray on this machine; `--ray ADDRESS` joins a cluster (typer has no optional values)."""

    def parse_args(self, ctx, args):
        args = list(args)
        for k, arg in enumerate(args):
            if arg == "--ray" and (k + 1 == len(args) or args[k + 1].startswith("-") or args[k + 1].endswith(".json")):
                args.insert(k + 1, "local")
        return super().parse_args(ctx, args)


@app.command("calibrate", cls=_RayOptionalAddress)
@handles_errors
def calibrate(
    grid: Path = typer.Argument(..., help="grid JSON: models x serving configs x cells"),
    out_dir: Path = typer.Option(..., "--out", help="run folder, e.g. artifacts/calibration/<run-id>"),
    devices: str | None = typer.Option(None, "--devices", help="GPU indices to meter, summed (e.g. 0,1; default "
                                       "0); not with --ray"),
    gpus: str | None = typer.Option(None, "--gpus", hidden=True, help="deprecated: --devices"),
    ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                   help="fan the grid out over Ray: alone, every GPU of this machine; with an "
                                        "address (auto, HOST:6379), a cluster's (`ray` extra)"),
    resume: bool = typer.Option(False, "--resume", help="continue a run that stopped"),
    device: str | None = typer.Option(None, "--device", help="torch device for HF (default: cuda if present)"),
    only_config: str | None = typer.Option(None, "--only-config", help="measure only this config of the grid"),
    only_model: str | None = typer.Option(None, "--only-model", help="measure only this model of the grid"),
) -> None:
    """Measure energy for every cell of GRID on this machine's GPU (needs the calibrate extra).

    With --ray each engine configuration is a Ray actor holding its tensor-parallel GPUs; records stream back
    to the journal here, a dead worker's cell is retried, and --resume continues a campaign.

    Exit 0 when cells were measured (a yellow warning names any that failed), 1 when the measurement failed
    (no cell measured, or a model or engine did not load), 2 for bad input.
    """
    import sys

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from energy_predict.calibrate.backends.base import make_backend
    from energy_predict.calibrate.grid import expand_grid, load_grid, select
    from energy_predict.calibrate.preflight import check_gpu, check_grid_size, check_installed, check_models
    from energy_predict.calibrate.sweep import read_outcome, run_sweep

    indices = _device_indices(_deprecated("--gpus", "--devices", gpus, devices) or "0")
    _output_dir(out_dir, "--out")
    spec = load_grid(grid)
    if only_config or only_model:
        spec = select(spec, only_config, only_model)
    check_grid_size(spec)
    check_models(spec)
    check_installed(c.framework for c in spec.configs)
    if ray is None:  # a Ray campaign's GPUs are the cluster's, not this machine's
        check_gpu(device)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    # a log gets lines, not a bar
    with Progress(*columns, console=_rich(err), disable=_verbosity < 0 or not err.is_terminal) as progress:
        task = progress.add_task("calibrating", total=len(expand_grid(spec)))

        def on_cell(done, total, cell, status):
            shape = f"B={cell.batch_size} I={cell.input_tokens} O={cell.output_tokens}"
            line = f"{cell.config} {cell.model} {shape} {status}"
            progress.update(task, completed=done, total=total, description=line)
            if not err.is_terminal:  # a log file gets one line per cell instead of a bar
                err.print(f"calibrate {done}/{total}: {line}", highlight=False)

        def on_notice(line):
            _say("warning", line)

        if ray is not None:
            from energy_predict.calibrate.fanout import run_campaign

            run_campaign(spec, out_dir, address=ray, resume=resume, on_cell=on_cell, command=" ".join(sys.argv),
                         backend_factory=functools.partial(make_backend, device=device), on_notice=on_notice)
        else:
            run_sweep(spec, out_dir, gpus=indices, resume=resume, on_cell=on_cell, command=" ".join(sys.argv),
                      backend_factory=lambda name: make_backend(name, device), on_notice=on_notice)
    outcome = read_outcome(out_dir)
    if outcome.failed:
        _say("error", outcome.problem())
        raise typer.Exit(1)
    out.print(Text(f"records in {out_dir}: {outcome.summary()}"), soft_wrap=True)
    if outcome.error:
        _say("warning", outcome.problem())


@app.command("replay", cls=_RayOptionalAddress)
@handles_errors
def replay(
    ctx: typer.Context,
    trace: Path = typer.Argument(..., help=f"request trace: {_TRACE_FORMATS_HELP}"),
    backend: str = typer.Option("vllm", "--backend", help="vllm | hf"),
    out_dir: Path = typer.Option(..., "--out", help="folder for the replay records, e.g. artifacts/replays/<id>"),
    model: str = typer.Option("Llama-3.1-8B", "--model", help="registry name or config.json path of the model "
                              "served"),
    n: int = typer.Option(200, "--n", min=1, help="requests sampled (a contiguous window of the trace)"),
    seed: int = typer.Option(0, "--seed", help="seed of the request sample and of Poisson arrivals"),
    modes: str = typer.Option("offline", "--modes", help="offline,online"),
    rates: str = typer.Option("", "--rates", help="online rates in req/s with the trace's own gaps scaled, e.g. 4,12"),
    poisson_rates: str = typer.Option("", "--poisson-rates", help="online rates in req/s with Poisson arrivals"),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="HF offline batch size"),
    cuda_graphs: bool = typer.Option(True, "--cuda-graphs/--eager", help="vLLM: CUDA graphs, or eager mode"),
    devices: str | None = typer.Option(None, "--devices", help="GPU indices to meter, summed (e.g. 0,1; default "
                                       "0); not with --ray"),
    gpus: str | None = typer.Option(None, "--gpus", hidden=True, help="deprecated: --devices"),
    tp: int | None = typer.Option(None, "--tp", min=1, max=64, help="tensor parallelism: GPUs of the engine "
                                  "(vLLM; default 1); --devices lists as many"),
    tensor_parallel: int | None = typer.Option(None, "--tensor-parallel", min=1, max=64, hidden=True,
                                               help="deprecated: --tp"),
    ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                   help="each replay its own engine on Ray, side by side: alone, on this machine's "
                                        "GPUs; with an address (auto, HOST:6379), a cluster's (`ray` extra)"),
    repetitions: int = typer.Option(2, "--repetitions", min=1, help="measured runs of each replay"),
    max_input: int | None = typer.Option(None, "--max-input", min=1,
                                         help="prompt tokens kept [default: 8192; 16384 (32 whole blocks) for a "
                                              "trace with prefix blocks (Mooncake)]"),
    max_output: int = typer.Option(1024, "--max-output", min=1, help="output tokens kept per request"),
    prefix_caching: bool = typer.Option(False, "--prefix-caching/--no-prefix-caching",
                                        help="vLLM's prefix cache (emptied before each measured run)"),
    sample: str = typer.Option("window", "--sample",
                               help="window (contiguous requests) | conversations (whole conversations from a "
                                    "trace with prefix blocks: keeps its reuse)"),
    trace_format: str | None = typer.Option(None, "--trace-format", help=_FORMAT_HELP),
    fmt: str | None = typer.Option(None, "--format", hidden=True, help="deprecated: --trace-format"),
    time_unit: str | None = typer.Option(None, "--time-unit", help=_TIME_UNIT_HELP),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help=_TOKENIZER_HELP),
    serving_file: Path | None = typer.Option(None, "--serving", help="a serving config JSON as a grid writes one "
                                             "(e.g. {\"name\": \"fp8\", \"framework\": \"vllm\", "
                                             "\"quantization\": \"fp8\"}): the engine replayed, in place of "
                                             "--eager, --tp and --prefix-caching; its name is in the records' names"),
) -> None:
    """Replay real trace requests on this machine's GPU and meter them (offline batches, online arrivals).

    A Mooncake trace's prompts are built from its prefix blocks, so requests share what they share in the
    trace; each record gives the hit rate that implies and, with vLLM, the engine's own prefix-cache hits.

    With --ray each replay (offline, each online rate) is a Ray actor that loads its own engine on
    --tp GPUs; replays run side by side and each record is written here as it comes back.
    Exit 1 when a replay has no record (its worker died twice, or it failed), 2 for bad input.
    """
    from energy_predict.calibrate.preflight import check_backend_name, check_gpu, check_installed
    from energy_predict.calibrate.replay import plan_replays, run_replays
    from energy_predict.errors import InputError

    fmt = _deprecated("--format", "--trace-format", fmt, trace_format)
    serving = _serving_file(ctx, serving_file) if serving_file is not None else None
    tensor_parallel = _deprecated("--tensor-parallel", "--tp", tensor_parallel, tp) or 1
    if serving is not None:
        tensor_parallel = serving.tensor_parallel
    devices = _deprecated("--gpus", "--devices", gpus, devices) or "0"
    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    if not set(mode_list) <= {"offline", "online"} or not mode_list:
        raise InputError("--modes", f"{modes!r}", "use offline, online or offline,online")
    rate_list, poisson_list = _rates(rates, "--rates"), _rates(poisson_rates, "--poisson-rates")
    if "online" in mode_list and not rate_list + poisson_list:
        raise InputError("--rates", "online replay needs at least one rate", "add e.g. --rates 4,12")
    _output_dir(out_dir, "--out")
    indices = _device_indices(devices)
    if ray is None and tensor_parallel > 1 and len(indices) != tensor_parallel:
        raise InputError("--devices", f"the engine runs on {tensor_parallel} GPUs but {len(indices)} are metered",
                         "pass one --devices index per GPU the engine uses (e.g. --devices 0,1 for --tp 2)")
    check_backend_name(backend)  # before pydantic meets it
    plan = plan_replays(trace, backend_name=backend, model=model, n=n, seed=seed, modes=mode_list,
                        rates=rate_list, poisson_rates=tuple(poisson_list), batch_size=batch_size,
                        cuda_graphs=cuda_graphs, repetitions=repetitions, max_input=max_input, max_output=max_output,
                        tensor_parallel=tensor_parallel, prefix_caching=prefix_caching, sample=sample,
                        trace_format=fmt, time_unit=time_unit, tokenizer=tokenizer, serving=serving)
    check_installed([backend])  # a missing framework or no GPU: one line, before an engine is built
    if ray is None:
        check_gpu(None, "replay")

    def show(record) -> None:  # a ReplayRecord
        r = record.to_json()
        energies = [x["energy_j"] for x in r["runs"]]
        where = f" on {r['node']} GPU {r['gpu_indices']}" if "node" in r else ""
        out.print(f"{r['name']}: energy {energies} J, time {[round(x['duration_s'], 2) for x in r['runs']]} s{where}"
                  + _hit_rates(r))

    if ray is None:
        for r in run_replays(plan, out_dir, gpus=indices, on_step=lambda m: err.print(f"replay: {m}")):
            show(r)
        return
    from energy_predict.calibrate.replay import run_replays_on_ray

    outcome = run_replays_on_ray(plan, out_dir, address=ray, on_result=show,
                                 on_step=lambda m: err.print(f"replay: {m}"))
    for name, why in outcome.failed.items():
        _say("error", f"{name} has no record: {why}")
    if outcome.failed:
        _say("error", f"{len(outcome.failed)} of {len(plan.units)} replays failed; {len(outcome.written)} written to "
                      f"{out_dir}; run the failed ones again (e.g. only their --modes/--rates) into the same --out")
        raise typer.Exit(1)


_SERVING_FLAGS = {"cuda_graphs": "--cuda-graphs/--eager", "tp": "--tp", "tensor_parallel": "--tensor-parallel",
                  "prefix_caching": "--prefix-caching/--no-prefix-caching"}


def _serving_file(ctx: typer.Context, path: Path):
    """`replay --serving`: the config, refused (one line) beside a flag that sets what the file sets."""
    from energy_predict.calibrate.grid import load_serving_config
    from energy_predict.errors import InputError

    sources = {name: ctx.get_parameter_source(name) for name in _SERVING_FLAGS}  # typer's click, not ours: by name
    given = [flag for name, flag in _SERVING_FLAGS.items()
             if sources[name] is not None and sources[name].name not in ("DEFAULT", "DEFAULT_MAP")]
    if given:
        raise InputError("--serving", f"the config file sets the engine, and {given[0]} was given too",
                         f"drop {given[0]} and set it in {path} (cuda_graphs, tensor_parallel, prefix_caching)")
    return load_serving_config(path)


def _hit_rates(record: dict) -> str:
    """`, prefix hits: trace 0.55, engine [0.5, 0.5]` for a replay of a trace with blocks or with caching on."""
    engine = [(x.get("prefix_cache") or {}).get("hit_rate") for x in record["runs"]]
    if record.get("trace_hit_rate") is None and not record.get("prefix_caching"):
        return ""
    trace = record.get("trace_hit_rate")
    return (f", prefix hits: trace {'n/a' if trace is None else round(trace, 3)}, "
            f"engine {[None if e is None else round(e, 3) for e in engine]}")


def _device_indices(text: str) -> tuple[int, ...]:
    from energy_predict.errors import InputError

    try:
        indices = tuple(int(g) for g in text.split(","))
    except ValueError:
        raise InputError("--devices", f"{text!r} is not a list of indices",
                         "write e.g. --devices 0 or --devices 0,1") from None
    if any(not 0 <= g < 1024 for g in indices):
        raise InputError("--devices", f"{text!r} holds an index outside 0..1023",
                         "write e.g. --devices 0 or --devices 0,1")
    return indices


def _output_file(path: Path | None, flag: str, suffixes: tuple[str, ...] | None = None) -> None:
    """Check, before any work, that a file may be written at `path` (energy_predict.outputs says what may)."""
    from energy_predict.outputs import check_output_file

    if path is not None and not _is_stdout(path):
        check_output_file(path, flag, suffixes)


def _is_stdout(path: Path | None) -> bool:
    """`--csv -`: standard output, as Unix tools read `-` (a file named "-" is ./-)."""
    return path is not None and str(path) == "-"


def _write_csv(frame, path: Path, flag: str = "--csv") -> None:
    """A table as CSV to `path`, written atomically, or to standard output for `-`."""
    if _is_stdout(path):
        import sys

        frame.to_csv(sys.stdout, index=False)
        return
    from energy_predict.outputs import write_file

    write_file(path, flag, lambda tmp: frame.to_csv(tmp, index=False))


def _output_dir(path: Path | None, flag: str) -> None:
    """Check, before any work, that `path` is a folder or can be made one (no file or link on the way)."""
    from energy_predict.outputs import check_output_folder

    if path is not None:
        check_output_folder(path, flag)


def _check_rate(value: float, flag: str) -> float:
    import math

    from energy_predict.errors import InputError

    if not math.isfinite(value) or value <= 0 or value > 1e6:
        raise InputError(flag, f"{value!r} is not a rate", "give a finite rate above 0 and at most 1e6 req/s")
    return value


def _rates(text: str, flag: str) -> list[float]:
    from energy_predict.errors import InputError

    try:
        values = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise InputError(flag, f"{text!r} is not a list of numbers", f"write e.g. {flag} 4,12") from None
    for v in values:
        _check_rate(v, flag)
    return values


MAX_COMPARE_CAPS = 32
MAX_COMPARE_GPUS = 16
MAX_SWEEP_RATES = 32
# A sweep simulates every (rate, GPU count) over the profile's period; on one core the simulator serves about
# 40,000 requests a second, so this bound keeps a sweep under about half a minute of CPU.
MAX_SWEEP_SIMULATED_REQUESTS = 1_200_000


DEFAULT_SWEEP_GPUS = 4


def _sweep_requests_per_count(w, dep, rates: list[float]) -> float:
    """Requests one GPU count of a sweep simulates over all its rates."""
    from energy_predict.predict.serving import MAX_SIMULATED_REQUESTS

    period = w.period_s or (w.requests / w.rate_per_s if w.rate_per_s else 0.0)
    return sum(min(r * period, MAX_SIMULATED_REQUESTS) if period else w.requests for r in rates)


def _most_sweep_gpus(per_count: float, tp: int) -> int:
    """The largest `--max-gpus` whose GPU counts stay within the sweep's bound (at least one engine of TP)."""
    return max(1, int(MAX_SWEEP_SIMULATED_REQUESTS // max(per_count, 1))) * tp


def _default_sweep_gpus(w, dep, rates: list[float]) -> int:
    """`--max-gpus` when not given: `DEFAULT_SWEEP_GPUS`, fewer where the sweep's bound allows fewer (never below TP).

    So that the default sweep of a shipped example runs rather than refusing its own default.
    """
    tp = dep.serving.tensor_parallel
    return min(DEFAULT_SWEEP_GPUS // tp * tp or tp, _most_sweep_gpus(_sweep_requests_per_count(w, dep, rates), tp))


def _check_sweep_work(w, dep, rates: list[float], max_gpus: int) -> None:
    """Refuse, before any simulation, a sweep whose points would simulate more requests than the bound."""
    from energy_predict.errors import InputError

    counts = len(range(dep.serving.tensor_parallel, max_gpus + 1, dep.serving.tensor_parallel))
    per_count = _sweep_requests_per_count(w, dep, rates)
    work = per_count * counts
    if work > MAX_SWEEP_SIMULATED_REQUESTS:
        most = _most_sweep_gpus(per_count, dep.serving.tensor_parallel)
        fix = (f"give --max-gpus {most} or less, or fewer or lower --rates" if most >= dep.serving.tensor_parallel
               and per_count <= MAX_SWEEP_SIMULATED_REQUESTS else "give fewer or lower --rates")
        raise InputError("--max-gpus", f"{counts} GPU counts x {len(rates)} rates would simulate about "
                         f"{work:,.0f} requests, more than a sweep's bound of {MAX_SWEEP_SIMULATED_REQUESTS:,}", fix)


def _ints(text: str, flag: str) -> list[int]:
    from energy_predict.errors import InputError

    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(flag, f"{text!r} is not a list of integers", f"write e.g. {flag} 1,16,64") from None
    if any(not 1 <= v <= 65536 for v in values):
        raise InputError(flag, "values must be between 1 and 65536", "fix the list")
    return values


@app.command("compare")
@handles_errors
def compare_cmd(
    profile: Path = typer.Option(..., "--profile", "-p", help="workload profile JSON"),
    energy_model: str | None = _energy_model_option(),
    model: str | None = _old_model_option(),
    batch_caps: str = typer.Option("1,16,64,256", "--batch-caps", help="batch caps to try"),
    gpus: str | None = typer.Option(None, "--gpus", hidden=True, help="deprecated: --gpu-kinds"),
    gpu_kinds: str | None = typer.Option(None, "--gpu-kinds", help="other GPUs to try, e.g. H200,A100,B200 (a GPU "
                                         "never measured is transferred from the nearest measured one through the "
                                         "datasheets; analytic only where that is refused, and then compared only "
                                         "with an analytic estimate)"),
    rate: float | None = typer.Option(None, "--rate", help="rank by online energy at this rate (req/s); default: "
                                      "the profile's rate where it has one, else offline"),
    fmt: str = _format_option(),
    as_json: bool = _json_option(),
) -> None:
    """Rank serving options (framework, CUDA graphs/compile, quantization, batch cap, GPU) by energy."""
    from energy_predict.errors import InputError
    from energy_predict.gpus import resolve_gpu
    from energy_predict.model.analytic import RooflineEstimator
    from energy_predict.predict.run import load_case
    from energy_predict.predict.whatif import compare

    energy_model = _energy_model_name(model, energy_model)
    gpu_kinds = _deprecated("--gpus", "--gpu-kinds", gpus, gpu_kinds) or ""
    if rate is not None:
        _check_rate(rate, "--rate")
    caps = sorted(set(_ints(batch_caps, "--batch-caps")))
    if len(caps) > MAX_COMPARE_CAPS:
        raise InputError("--batch-caps", f"{len(caps)} batch caps is more than compare ranks at once "
                         f"({MAX_COMPARE_CAPS})", "give the caps you would deploy, e.g. 16,64,256")
    names = [g.strip() for g in gpu_kinds.split(",") if g.strip()]
    if len(set(names)) > MAX_COMPARE_GPUS:
        raise InputError("--gpu-kinds", f"{len(set(names))} GPUs is more than compare ranks at once "
                         f"({MAX_COMPARE_GPUS})", "name the GPUs you would choose between")
    for name in names:  # a typo is named before any variant is computed
        try:
            resolve_gpu(name)
        except InputError as exc:
            raise InputError("--gpu-kinds", exc.problem, exc.fix or "use a name from the GPU catalog") from None
    from energy_predict.views import compare_rows, compare_view

    fmt = _resolve_format(fmt, as_json)
    case = load_case(profile)
    with _progress("comparing options", 1) as bar:
        def step(done: int, total: int) -> None:
            bar.update(bar.task_ids[0], completed=done, total=total)

        comparison = compare(case.workload, case.dep, _load_model(energy_model), caps, list(dict.fromkeys(names)),
                             analytic=RooflineEstimator(), on_step=step, rate=rate)
    rows, notes = compare_rows(comparison.table.to_dict("records")), comparison.notes
    _emit(compare_view(rows, case.profile.name, [], comparison.rate_per_s), fmt,
          {"rows": rows, "notes": notes, "mode": comparison.mode, "rate_per_s": comparison.rate_per_s})
    if fmt != "json":
        for note in notes:
            _say("note", note)


@app.command("gap")
@handles_errors
def gap_cmd(
    profile: Path = typer.Option(..., "--profile", "-p", help="workload profile JSON"),
    energy_model: str | None = _energy_model_option(),
    model: str | None = _old_model_option(),
    fmt: str = _format_option(),
    as_json: bool = _json_option(),
) -> None:
    """Measured model vs FLOPs/TDP vs roofline, per bin and in total (energies in Wh)."""
    from energy_predict.predict.estimate import estimate_workload
    from energy_predict.predict.run import load_case
    from energy_predict.predict.whatif import gap_table

    energy_model = _energy_model_name(model, energy_model)
    case = load_case(profile)
    m = _load_model(energy_model)
    est = estimate_workload(case.workload, case.dep, m)
    from energy_predict.views import gap_rows, gap_view

    rows = gap_rows(gap_table(est).to_dict("records"))
    _emit(gap_view(rows, f"{case.profile.name}: {m.name} ({est.basis_kind}) against the analytic estimates, "
                         "offline, per ceiling bin and in all (Wh)"), _resolve_format(fmt, as_json), rows)


@app.command("capacity")
@handles_errors
def capacity_cmd(
    profile: Path = typer.Option(..., "--profile", "-p", help="workload profile JSON"),
    rate: float | None = typer.Option(None, "--rate", help="requests per second (default: the profile's rate)"),
    per_day: float | None = typer.Option(None, "--per-day", help="requests per day, instead of --rate"),
    ttft_p90_ms: float | None = typer.Option(None, "--ttft-p90-ms", help="latency target: p90 time to first "
                                             "token, ms"),
    latency: float | None = typer.Option(None, "--latency-p90-s", hidden=True, help="deprecated: --ttft-p90-ms"),
    headroom: float = typer.Option(0.8, "--headroom", help="the rate may be at most this share of the sustainable "
                                   "rate"),
    energy_model: str | None = _energy_model_option(),
    model: str | None = _old_model_option(),
    fmt: str = _format_option(),
    as_json: bool = _json_option(),
) -> None:
    """The GPUs and layout (TP x engines) that serve a rate within a TTFT target: `plan` on the layout axis."""
    from energy_predict.errors import InputError
    from energy_predict.predict.run import load_case
    from energy_predict.predict.whatif import capacity

    energy_model = _energy_model_name(model, energy_model)
    if per_day is not None:
        _check_rate(per_day / 86400, "--per-day")
    if rate is not None:
        _check_rate(rate, "--rate")
    if latency is not None and not (0 < latency < 1e6):
        raise InputError("--latency-p90-s", f"{latency!r} is not a time", "give seconds above 0")
    if ttft_p90_ms is not None and not (0 < ttft_p90_ms < 1e9):
        raise InputError("--ttft-p90-ms", f"{ttft_p90_ms!r} is not a time", "give milliseconds above 0")
    latency = _deprecated("--latency-p90-s", "--ttft-p90-ms", latency,
                          None if ttft_p90_ms is None else ttft_p90_ms / 1000)
    case = load_case(profile)
    r = per_day / 86400 if per_day is not None else rate if rate is not None else case.workload.rate_per_s
    if r is None:
        raise InputError("--rate", "the profile has no rate", "give --rate (req/s) or --per-day")
    if not (0 < headroom <= 1):
        raise InputError("--headroom", f"{headroom!r} is not a share", "give a share above 0 and at most 1")
    from energy_predict.views import capacity_json, capacity_view

    fmt = _resolve_format(fmt, as_json)
    with _progress("searching GPU layouts", 1):
        result = capacity(case.workload, case.dep, _load_model(energy_model), r, latency, headroom, case.profile.site)
    data = capacity_json(result.to_json())
    if fmt != "table":
        _emit(capacity_view(data), fmt, data)
        return
    from energy_predict.formats import wrap_words

    ttft = "n/a" if data["ttft_p90_ms"] is None else f"{data['ttft_p90_ms']:.3g} ms"
    lines = [f"{result.gpus} x {result.gpu} ({result.replicas} engine(s) of TP{result.tensor_parallel}, "
             f"{result.serving}) for {r:.3g} req/s ({result.requests_per_day:,.0f}/day): utilisation "
             f"{100 * result.utilization:.1f}% of the sustainable {result.sustainable_rate_per_s:.3g} req/s (headroom "
             f"{result.headroom:g}; busy {100 * result.time_busy:.0f}% of the time), p90 TTFT {ttft}"
             + (f" (target {data['ttft_target_ms']:g} ms)" if result.latency_target_s else ""),
             f"energy per day: {result.total_kwh_per_day:.3g} kWh ({result.low_kwh_per_day:.3g}-"
             f"{result.high_kwh_per_day:.3g}) = busy {result.busy_kwh_per_day:.3g} + idle "
             f"{result.idle_kwh_per_day:.3g} (at {result.idle_power_w:.0f} W loaded idle per GPU); "
             f"{result.energy_per_request_j:.3g} J per request, {result.mean_power_per_gpu_w:.0f} W per GPU "
             f"({result.model.basis})"]
    if result.site is not None:
        site = result.site
        lines.append(f"at the site: {site.facility_kwh_per_day:.3g} kWh a day (PUE {site.pue:g})"
                     + (f", {site.co2e_kg_per_day:.3g} kg CO2e" if site.co2e_kg_per_day is not None else "")
                     + (f", {site.energy_cost_per_day:.2f} {site.currency}"
                        if site.energy_cost_per_day is not None else ""))
    print("\n".join(w for line in lines for w in wrap_words(line, _table_width(), "  ")))


@app.command("sweep-rate")
@handles_errors
def sweep_rate_cmd(
    profile: Path = typer.Option(..., "--profile", "-p", help="workload profile JSON"),
    rates: str = typer.Option("", "--rates", help="req/s, e.g. 0.5,1,2,4 (default: 0.1x to 8x the profile's rate)"),
    max_gpus: int | None = typer.Option(None, "--max-gpus", min=1, help="the largest GPU count tried at each rate "
                                        "(default 4, or fewer where the sweep's bound of simulated requests needs "
                                        "it: said on standard error)"),
    ttft_p90_ms: float | None = typer.Option(None, "--ttft-p90-ms", help="latency target: p90 time to first "
                                             "token, ms"),
    ttft_p90_s: float | None = typer.Option(None, "--ttft-p90-s", hidden=True, help="deprecated: --ttft-p90-ms"),
    plot: Path | None = typer.Option(None, "--plot", help="plot file to write: .png, .svg or .pdf (none unless "
                                     "asked)"),
    energy_model: str | None = _energy_model_option(),
    model: str | None = _old_model_option(),
    fmt: str = _format_option(),
    as_json: bool = _json_option(),
) -> None:
    """Energy per request against request rate and number of GPUs; the energy-optimal GPU count per rate."""
    from energy_predict.errors import InputError
    from energy_predict.predict.run import load_case
    from energy_predict.predict.serving import sweep_rates

    energy_model = _energy_model_name(model, energy_model)
    rate_list = _rates(rates, "--rates")
    if ttft_p90_s is not None and not (0 < ttft_p90_s < 1e6):
        raise InputError("--ttft-p90-s", f"{ttft_p90_s!r} is not a time", "give seconds above 0")
    if ttft_p90_ms is not None and not (0 < ttft_p90_ms < 1e9):
        raise InputError("--ttft-p90-ms", f"{ttft_p90_ms!r} is not a time", "give milliseconds above 0")
    ttft_p90_s = _deprecated("--ttft-p90-s", "--ttft-p90-ms", ttft_p90_s,
                             None if ttft_p90_ms is None else ttft_p90_ms / 1000)
    if max_gpus is not None and max_gpus > 64:
        raise InputError("--max-gpus", f"{max_gpus} GPUs per rate is more than the sweep simulates", "use at most 64")
    if len(rate_list) > MAX_SWEEP_RATES:
        raise InputError("--rates", f"{len(rate_list)} rates is more than one sweep simulates ({MAX_SWEEP_RATES})",
                         "give fewer rates")
    from energy_predict.outputs import PLOT_SUFFIXES

    _output_file(plot, "--plot", PLOT_SUFFIXES)
    case = load_case(profile)
    w, dep, m = case.workload, case.dep, _load_model(energy_model)
    if not rate_list:
        if w.rate_per_s is None:
            raise InputError("--rates", "the profile has no rate", "give --rates")
        rate_list = [round(w.rate_per_s * f, 4) for f in (0.1, 0.25, 0.5, 1, 2, 4, 8)]
    if max_gpus is None:
        max_gpus = _default_sweep_gpus(w, dep, rate_list)
        if max_gpus < DEFAULT_SWEEP_GPUS:
            _info(f"sweep-rate: up to {max_gpus} GPU(s) at each rate, the most the sweep's bound of "
                  f"{MAX_SWEEP_SIMULATED_REQUESTS:,} simulated requests allows at these rates (give --max-gpus to "
                  "choose, and fewer or lower --rates for more)")
    _check_sweep_work(w, dep, rate_list, max_gpus)
    from energy_predict.predict.serving import RateSweep
    from energy_predict.views import sweep_json, sweep_view

    fmt = _resolve_format(fmt, as_json)
    points = []
    with _progress("simulating rates", len(rate_list)) as bar:  # one rate at a time: the bar moves per rate
        for k, rate in enumerate(rate_list):
            bar.update(bar.task_ids[0], description=f"simulating {rate:g} req/s")
            points.extend(sweep_rates(w, dep, m, [rate], max_gpus, ttft_p90_s).points)
            bar.update(bar.task_ids[0], completed=k + 1)
    sweep = RateSweep(tuple(points))
    if plot is not None:
        from energy_predict.predict.plots import plot_rate_sweep

        plot_rate_sweep(sweep, plot, f"{profile.stem}: {dep.arch.name} on {dep.gpu.name}")
        if fmt == "table":
            _info(f"wrote {plot}")
    data = sweep_json(sweep.to_json())
    _emit(sweep_view(data, ttft_p90_s is not None), fmt, data)


@model_app.command("fit")
@handles_errors
def model_fit(name: str = typer.Option("default", "--name", help="a name (letters, digits, - and _): the model "
                                      "is written to artifacts/models/NAME of this source checkout")) -> None:
    """Fit the default model on the shipped calibration data; score it held out; write model, card, manifest."""
    from energy_predict.model.fit import fit_model
    from energy_predict.model.inputs import fit_inputs, read_fit_inputs, uncommitted
    from energy_predict.model.persistence import fit_folder, save_model
    from energy_predict.provenance import git_commit, now_iso

    target = fit_folder(name)
    model = fit_model(read_fit_inputs(commit=git_commit(), created=now_iso()), name=name)
    training = model.card.training
    cited = fit_inputs(training.runs + training.option_runs)  # every file the card cites, before it is written
    folder = save_model(model, target)
    loose = uncommitted(cited)
    if loose:
        err.print(f"warning: the card cites {len(loose)} file(s) git does not track ({loose[0]}, ...); commit them "
                  "with the model, or the fit cannot be reproduced", soft_wrap=True, markup=False)
    lo, hi = (2.718281828**b for b in model.log_bounds)
    out.print(f"wrote {folder} ({training.cells} cells, interval x{lo:.3f} .. x{hi:.3f})")


@data_app.command("list")
@handles_errors
def data_list(
    fmt: str = _format_option(),
    as_json: bool = _json_option(),
    root: Path | None = typer.Option(None, "--dir", help="folder of runs (default: the shipped artifacts)"),
) -> None:
    """List calibration runs: backend, GPU, model, cells, records, median repetition spread."""
    from energy_predict.datasets import list_runs
    from energy_predict.views import data_list_view

    with _LateProgress("reading runs") as on_progress:
        runs = list_runs(root, on_progress)
    _emit(data_list_view(runs), _resolve_format(fmt, as_json), runs)


@data_app.command("cells")
@handles_errors
def data_cells(
    backend: str | None = typer.Option(None, "--backend", help="hf or vllm (default: both)"),
    csv_path: Path | None = typer.Option(None, "--csv", help="write every cell to this CSV (- : to standard output, "
                                         "the summary then to standard error)"),
    root: Path | None = typer.Option(None, "--dir", help="folder of runs (default: the shipped artifacts)"),
) -> None:
    """Distinct measured cells per backend and the spread (CV) of each cell's repetitions."""
    from energy_predict.datasets import all_records, cell_table

    _output_file(csv_path, "--csv")
    with _LateProgress("reading runs") as on_progress:
        cells = cell_table(all_records(root, on_progress))
    if backend:
        cells = cells[cells["backend"] == backend]
    if csv_path:
        _write_csv(cells, csv_path)
    summary = err if _is_stdout(csv_path) else out  # standard output holds the CSV alone
    for name, g in cells.groupby("backend"):
        noisy = int((g["cv"] > 0.03).sum())
        summary.print(f"{name}: {len(g)} distinct cells, median CV {100 * g['cv'].median():.2f}%, "
                      f"{noisy} cells above 3%, largest {100 * g['cv'].max():.1f}%")
    if csv_path and not _is_stdout(csv_path):
        out.print(f"wrote {csv_path} ({len(cells)} cells)")


from energy_predict.cli_plan import register as _register_plan  # noqa: E402 (the command lives in its module)

_register_plan(app, handles_errors, _load_model, _print_json)


def main() -> None:
    """Console-script entry point."""
    app()


# Commands in their own modules, registered here.
from energy_predict.cli_estimate import estimate  # noqa: E402

app.command("estimate")(handles_errors(estimate))

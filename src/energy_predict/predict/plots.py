"""Plots of a report (energy by bin, prefill/decode split, estimate vs FLOPs/TDP and roofline) and of a rate sweep.

Each title says its mode; axes are named by the report's keys (units in the names).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from energy_predict.outputs import make_folder, write_file  # noqa: E402
from energy_predict.predict.report_types import Report  # noqa: E402
from energy_predict.predict.serving import RateSweep  # noqa: E402


def _save(fig, path: Path, option: str) -> Path:
    """Save a figure atomically in the format its name says (the temporary file's name has no say)."""
    fmt = path.suffix.lstrip(".").lower() or "png"
    try:
        return write_file(path, option, lambda tmp: fig.savefig(tmp, dpi=110, format=fmt))
    finally:
        plt.close(fig)



def _mode(data: dict) -> str:
    """The report's mode as a title says it."""
    online = data["online"]
    return f"online at {online['rate_per_s']:.3g} req/s" if online else "offline, full batches"


@dataclass(frozen=True)
class NamedFigure:
    """A matplotlib figure and the file name it is written under."""

    name: str
    figure: Any


def report_figures(report: Report) -> list[NamedFigure]:
    """The report's figures with their file names: energy-by-bin heat map, prefill/decode bars, estimate vs baselines.

    Every title says the mode; the bins are the offline estimate's whatever the mode, and say so.
    """
    from matplotlib.colors import LogNorm

    data = report.to_json()
    bins = data["bins"]
    ins = sorted({b["input_bin"] for b in bins})
    outs = sorted({b["output_bin"] for b in bins})
    grid = np.full((len(ins), len(outs)), np.nan)
    for b in bins:
        grid[ins.index(b["input_bin"]), outs.index(b["output_bin"])] = b["energy_wh"]
    title = f"{data['profile']}: {data['deployment']['model']} on {data['deployment']['gpu']}"
    bins_mode = "offline full batches" + (" (the online report's offline breakdown)" if data["online"] else "")
    figures = []

    fig, ax = plt.subplots(figsize=(7, 5))
    positive = grid[np.isfinite(grid) & (grid > 0)]
    # a log colour scale: bins span orders of magnitude, and a linear one shows one cell and hides the rest
    norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size and positive.max() > positive.min() \
        else None
    im = ax.imshow(np.where(grid > 0, grid, np.nan), origin="lower", aspect="auto", cmap="viridis", norm=norm)
    ax.set_xticks(range(len(outs)), [str(o) for o in outs], rotation=45)
    ax.set_yticks(range(len(ins)), [str(i) for i in ins])
    ax.set_xlabel("output tokens (ceiling bin)")
    ax.set_ylabel("input tokens (ceiling bin)")
    ax.set_title(f"Energy by bin (energy_wh, log scale), {bins_mode}\n{title}", fontsize=10)
    fig.colorbar(im, ax=ax, label="Wh over the period (log scale)")
    fig.tight_layout()
    figures.append(NamedFigure("energy_by_bin.png", fig))

    fig, ax = plt.subplots(figsize=(7, 4))
    top = sorted(bins, key=lambda b: -b["energy_kwh"])[:12]
    labels = [f"{b['input_bin']}/{b['output_bin']}" for b in top]
    ax.bar(labels, [b["prefill_wh"] for b in top], label="prefill_wh")
    ax.bar(labels, [b["decode_wh"] for b in top], bottom=[b["prefill_wh"] for b in top], label="decode_wh")
    ax.set_ylabel("Wh")
    ax.set_xlabel("bin (input / output), top 12 by energy")
    share = 100 * (data["phases"]["prefill_share"] or 0)
    ax.set_title(f"Prefill / decode by bin, {bins_mode} (overall {share:.0f}% prefill, {_mode(data)})\n{title}",
                 fontsize=10)
    ax.tick_params(axis="x", rotation=45)
    ax.legend()
    fig.tight_layout()
    figures.append(NamedFigure("prefill_decode.png", fig))

    fig, ax = plt.subplots(figsize=(6, 4))
    e, base = data["energy_kwh"], data["baselines"]
    names = [f"{data['model']['name']}\n({data['model']['kind']})", "FLOPs/TDP", "roofline"]
    values = [e["estimate"], base["flops_tdp_kwh"], base["roofline_kwh"]]
    ax.bar(names, values, color=["tab:blue", "tab:gray", "tab:olive"],
           yerr=[[e["estimate"] - e["low"], 0, 0], [e["high"] - e["estimate"], 0, 0]], capsize=6)
    ax.set_ylabel("energy_kwh over the period")
    ax.set_title(f"Estimate vs FLOPs/TDP and roofline ({_mode(data)})\n{title}", fontsize=10)
    fig.tight_layout()
    figures.append(NamedFigure("estimate_vs_flops.png", fig))
    return figures


def write_plots(report: Report, folder: Path, option: str = "--plot-dir") -> list[Path]:
    """Energy-by-bin heat map, prefill/decode bars, estimate vs baselines, as PNG files in `folder`."""
    make_folder(folder, option)
    return [_save(f.figure, folder / f.name, option) for f in report_figures(report)]


def figure_bytes(fig, fmt: str = "png") -> bytes:
    """A figure as image bytes (for the HTML report), the figure closed after."""
    import io

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, dpi=110, format=fmt)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def plot_rate_sweep(sweep: RateSweep, path: Path, title: str) -> Path:
    """Energy per request against request rate, one line per number of GPUs; optimal counts marked."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    points = sweep.points
    for g in sorted({p.gpus for p in points}):
        pts = sorted((p.rate_per_s, p.energy_per_request_j) for p in points if p.gpus == g)
        ax.plot(*zip(*pts), marker="o", label=f"{g} GPU{'s' if g > 1 else ''}")
    for rate in sweep.rates:
        g = sweep.best_gpus(rate)
        if g is not None:
            e = next(p.energy_per_request_j for p in points if p.rate_per_s == rate and p.gpus == g)
            ax.scatter([rate], [e], s=140, facecolors="none", edgecolors="black", zorder=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("request rate (req/s)")
    ax.set_ylabel("energy_per_request_j (busy + idle)")
    ax.set_title(f"Energy per request vs rate, online (circled: energy-optimal GPUs)\n{title}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path, "--plot")

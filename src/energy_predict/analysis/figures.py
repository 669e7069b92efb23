"""The findings page's figures: each curve computed from the default model, then drawn to a PNG at a given path."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from energy_predict.analysis.subject import CONFIG_OF, LLAMA8, SERVING, deployment, modelled  # noqa: E402
from energy_predict.predict.plots import plot_rate_sweep  # noqa: E402
from energy_predict.predict.serving import RatePoint, RateSweep, sweep_rates  # noqa: E402

BATCHES = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256])
TTFT_TARGET_S = 0.5  # latency target of the rate sweep: p90 time to first token
SWEEP_RATES = [0.5, 1, 2, 4, 8, 16, 32]  # request rates (req/s) of the rate sweep
SWEEP_TITLE = "conversation profile, Llama-3.1-8B, vLLM CUDA graphs, H100 (default model)"


def per_token_curve(model, i: int = 512, o: int = 128) -> pd.DataFrame:
    """The model's J per output token against batch size, per serving label but fp8 (NaN where it refuses)."""
    rows = []
    for label in SERVING:
        if label.endswith("fp8"):
            continue
        if modelled(model, label):
            pred = model.batch_phases(deployment(label), BATCHES, i, o).energy_j / (BATCHES * o)
        else:  # a configuration the model refuses (too few cells to fit): dots only
            pred = np.full(len(BATCHES), np.nan)
        rows += [{"serving": label, "batch_size": int(b), "model_j_per_token": float(p)} for b, p in zip(BATCHES, pred)]
    return pd.DataFrame(rows)


def draw_per_token_vs_batch(curve: pd.DataFrame, table: pd.DataFrame, path: Path, i: int = 512,
                            o: int = 128) -> Path:
    """Measured cells (dots, from the training table) and the model's curve (lines) against batch size."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, label in enumerate(SERVING):
        if label.endswith("fp8"):
            continue
        pred = curve[curve["serving"] == label]["model_j_per_token"].to_numpy()
        if not np.isnan(pred).all():
            ax.plot(BATCHES, pred, color=f"C{k}", label=f"{label} (model)")
        m = table[(table["config"] == CONFIG_OF[label]) & (table["model"] == LLAMA8.name)
                  & (table["input_tokens"] == i) & (table["output_tokens"] == o)]
        ax.scatter(m["batch_size"], m["energy_j"] / (m["batch_size"] * o), color=f"C{k}", marker="o", zorder=3,
                   label=f"{label} (measured only)" if np.isnan(pred).all() else None)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("J per output token (whole request)")
    ax.set_title("Llama-3.1-8B on H100, 512 -> 128: dots measured, lines model", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_phase_split(model, path: Path) -> Path:
    """The model's prefill share of a batch of 16 against input and output length, per modelled serving label."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    inputs = np.array([32, 128, 512, 1024, 2048, 4096, 8192])
    outputs = np.array([2, 8, 32, 64, 128, 256, 512])
    for k, label in enumerate(SERVING):
        if label.endswith("fp8") or not modelled(model, label):
            continue
        dep = deployment(label)
        for ax, x, ph in ((axes[0], inputs, model.batch_phases(dep, 16, inputs, 128)),
                          (axes[1], outputs, model.batch_phases(dep, 16, 1024, outputs))):
            ax.plot(x, ph.prefill_j / ph.energy_j, marker="o", color=f"C{k}", label=label)
    axes[0].set_xlabel("input tokens (output 128)")
    axes[1].set_xlabel("output tokens (input 1024)")
    axes[0].set_ylabel("prefill share of batch energy")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Prefill / decode split, batch 16, Llama-3.1-8B on H100 (default model, fitted on measured cells)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rate_sweep(model, case) -> tuple[list[dict], dict]:
    """Energy per request against request rate and GPU count for a profile's case (`predict.run.load_case`).

    Returns the sweep's rows and the energy-optimal GPU count per rate under `TTFT_TARGET_S`.
    """
    sweep = sweep_rates(case.workload, case.dep, model, SWEEP_RATES, max_gpus=4, ttft_p90_s=TTFT_TARGET_S)
    return sweep.to_json()["points"], {rate: sweep.best_gpus(rate) for rate in sweep.rates}


def draw_rate_sweep(rows: list[dict], best: dict, path: Path) -> Path:
    """The rate sweep, one line per GPU count, the optimal counts circled."""
    return plot_rate_sweep(RateSweep(tuple(RatePoint(**r) for r in rows)), path, SWEEP_TITLE)

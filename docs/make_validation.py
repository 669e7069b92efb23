"""Regenerate docs/validation.md: measured replays of real traces against the shipped model's prediction.

    python docs/make_validation.py [REPLAY_DIR]     # default: artifacts/replays
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from energy_predict.model.store import artifacts_dir, load_default_model
from energy_predict.predict.replays import load_replays, predict_replay

DOCS = Path(__file__).parent


def kwh(j: float) -> str:
    return f"{j / 3.6e6:.4g}"


def table(rows: list[dict]) -> list[str]:
    lines = ["| trace | backend | mode | arrivals at rate (req/s) | requests | measured kWh (runs) | spread | "
             "predicted kWh [90% interval] | error | covered |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        measured = ", ".join(kwh(m) for m in r["measured_j"])
        spread = f"{r['measured_spread_pct']:.1f}%" if r["measured_spread_pct"] is not None else "n/a"
        err = f"{r['error_pct']:+.1f}%" if r["error_pct"] is not None else "n/a"
        lines.append(f"| {r['trace'].removeprefix('AzureLLMInferenceTrace_').removesuffix('.csv')} | {r['backend']} | "
                     f"{r['mode']} | {_arrivals(r)} | {r['requests']} | {measured} | {spread} | "
                     f"{kwh(r['predicted_j'])} [{kwh(r['low_j'])}, {kwh(r['high_j'])}] | {err} | "
                     f"{'yes' if r['covered'] else 'no'} |")
    return lines


def summary(rows: list[dict]) -> list[str]:
    lines = ["| backend | mode | replays | median abs. error | max abs. error | interval covers |", "|---|---|---|---|---|---|"]
    for (backend, mode) in dict.fromkeys((r["backend"], r["mode"]) for r in rows):
        g = [r for r in rows if r["backend"] == backend and r["mode"] == mode and r["error_pct"] is not None]
        errs = np.abs([r["error_pct"] for r in g])
        lines.append(f"| {backend} | {mode} | {len(g)} | {np.median(errs):.1f}% | {errs.max():.1f}% | "
                     f"{sum(r['covered'] for r in g)}/{len(g)} |")
    return lines


def ablations(replays: list[dict], rows: list[dict], model) -> list[str]:
    """What each part of the model is worth, replay by replay (`rows`: the full model's predictions of them)."""
    no_padding = dataclasses.replace(model, card={**model.card, "hf_padding": None})
    lines = ["| replay | measured kWh | full model | without the HF padding term | offline estimate "
             "(no arrivals, no idle) | predicted idle share |", "|---|---|---|---|---|---|"]
    for rec, full in zip(replays, rows):
        mean = float(np.mean(full["measured_j"]))
        pad = predict_replay(rec, no_padding) if rec["backend"] == "hf" else None
        off = predict_replay({**rec, "mode": "offline"}, model) if rec["mode"] == "online" else None

        def rel(x: dict | None, mean: float = mean) -> str:
            return f"{kwh(x['predicted_j'])} ({100 * (x['predicted_j'] / mean - 1):+.0f}%)" if x else ""

        share = full["idle_j"] / full["predicted_j"] if full["predicted_j"] else 0.0
        lines.append(f"| {rec['name'].replace('AzureLLMInferenceTrace_', '')} | {kwh(mean)} | {rel(full)} | {rel(pad)} | "
                     f"{rel(off)} | {100 * share:.0f}% |")
    return lines


def chunked_prefill(model) -> list[str]:
    """Measured prefill with a 1024-token step budget against the simulator, which was not fitted on it."""

    from energy_predict.architectures import resolve_architecture
    from energy_predict.datasets import all_records, cell_stats
    from energy_predict.gpus import resolve_gpu
    from energy_predict.predict.estimate import Deployment
    from energy_predict.predict.online import simulate
    from energy_predict.predict.serving import step_models

    stats = cell_stats(all_records())
    stats = stats[(stats["model"] == "Llama-3.1-8B") & (stats["output_tokens"] == 1)]
    chunked = stats[stats["config"] == "vllm-graphs-chunk1k"]
    if not len(chunked):
        return []
    ref = stats[stats["config"] == "vllm-graphs"]
    default = {(int(b), int(i)): e for b, i, e in zip(ref["batch_size"], ref["input_tokens"], ref["energy_j"])}
    dep = Deployment(resolve_architecture("Llama-3.1-8B"), resolve_gpu("H100-SXM-80GB"),
                     {"backend": "vllm", "framework": "vllm", "cuda_graphs": True, "compile": False,
                      "quantization": None})
    energy, time, idle_w = step_models(dep, model)
    lines = ["| batch x input | measured J, 1024-token steps | measured J, default budget | chunking costs | "
             "simulated J, 1024-token steps | error |", "|---|---|---|---|---|---|"]
    for r in chunked.itertuples():
        b, i = int(r.batch_size), int(r.input_tokens)
        sim = simulate(np.full(b, i), np.ones(b, int), np.zeros(b), energy, time, idle_w, max_num_seqs=512,
                       max_num_batched_tokens=1024).busy_energy_j
        base = default.get((b, i))
        extra = f"{100 * (r.energy_j / base - 1):+.0f}%" if base else "n/a"
        lines.append(f"| {b} x {i} | {r.energy_j:.0f} | {f'{base:.0f}' if base else 'n/a'} | {extra} | {sim:.0f} | "
                     f"{100 * (sim / r.energy_j - 1):+.1f}% |")
    return lines


def render(replays: list[dict], model) -> str:
    lines = ["# Validation: measured replays against predictions", "",
             "Made by `python docs/make_validation.py` from the replay records in `artifacts/replays/` "
             "(`energy-predict replay`) and the default model.", ""]
    if not replays:
        lines += ["No replay has been measured yet. Run `calibrate/campaigns/next/` on a GPU machine.", ""]
        return "\n".join(lines)
    rows = [predict_replay(r, model) for r in replays]
    host = replays[0].get("meter", {}).get("gpus", [{}])[0]
    lines += [
        f"Every replay ran on one {host.get('name', 'GPU')} (power limit {host.get('power_limit_w', '?')} W), "
        "Llama-3.1-8B shape with random weights, after a warm-up on the same requests, measured twice (both "
        "readings shown). Requests are a contiguous window of the trace (lengths clipped to 8192 in, 1024 out). "
        "Online replays submit each request at its arrival time: `trace` scales the window's own gaps to the "
        "rate (each trace's mean rate over its hour: code 2.57, conversation 5.53 req/s), `poisson` draws "
        "exponential gaps. The window includes the idle time between requests. HF batches 16 requests in arrival "
        "order, left-padded. vLLM: CUDA graphs, max_num_seqs 256, max_num_batched_tokens 8192, chunked prefill, "
        "no prefix caching; the prediction simulates the same scheduler with the same limits.", "",
        "## Summary", "", *summary(rows), "", "## Every replay", "", *table(rows), "",
        "## What each part of the model is worth", "",
        "The same predictions with one part taken out. *Without the HF padding term*: the batch model alone, at "
        "each batch's (size, longest input, longest output). *Offline estimate*: the online replay's requests "
        "predicted as if all arrived at once, the reference study's method, which has no idle time.", "",
        *ablations(replays, rows, model), "",
        "## The step model against chunked prefill", "",
        "Prefill-only batches measured with `max_num_batched_tokens=1024` (run `*-vllm-graphs-chunk1k-*`, not used "
        "in any fit) beside the same cells at vLLM's default budget, and the simulator's prediction with the same "
        "1024-token steps. A step holding prefill pays the prefill constant in place of the decode step's "
        "constant (the weights are read once per step); charging both over-predicted these cells by 14-29%.", "",
        *chunked_prefill(model), "",
        "Causes found and fixed in the model (not in the check):",
        "- HF padding. A batch with one row shorter than the others makes transformers pass an attention mask, and "
        "SDPA leaves its causal flash path: prefill attention runs masked and every decode step runs a masked "
        "kernel over the whole cache. `benchmarks/hf_padding.py` measured it (artifacts/padding/): at B=16, "
        "decode costs 2.6x (2048 context) to 4x (7436 context) the unpadded step, and one short row costs as much "
        "as heavy padding. `model/padding.py` fits that overhead from the A/B (not from the replays) and the HF "
        "replay prediction adds it to every padded batch.",
        "- Online idle. Between requests a GPU holding a vLLM engine draws its loaded idle power (measured before "
        "each replay, 120-135 W), which the simulator charges for every second nothing runs; the offline estimate "
        "misses it, and the slower the arrivals, the larger the miss.", "",
        "What the online model still lacks (each online replay is within 15%; the residuals point here):",
        "- The conversation replays are under-predicted by 3-7% at every rate, the code replays are not: long "
        "decodes at small, changing batch sizes. The step energies come from fixed batches; vLLM's per-step CPU "
        "work (scheduling, sampling, the Python loop) at small batches is only in them as far as those batches "
        "hold it.",
        "- Step durations are over-predicted for chunked prefill (+15-31% above), so TTFT at a small token budget "
        "is pessimistic; energy is not affected by this.",
        "- Power between two close requests does not drop to idle at once; the simulator switches instantly.",
        "- Prefix caching and speculative decoding are not modelled (both were off in these replays).", ""]
    return "\n".join(lines)


def _arrivals(row: dict) -> str:
    return f"{row['arrivals']} {row['rate_per_s']:g}" if row["rate_per_s"] else "all at once"


def _order(rec: dict) -> tuple:
    return rec["backend"], rec["mode"] != "offline", rec["trace"], rec.get("arrivals") or "", rec.get("rate_per_s") or 0


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else artifacts_dir() / "replays"
    model = load_default_model()
    replays = sorted(load_replays(folder), key=_order) if folder.is_dir() else []
    text = render(replays, model)
    (DOCS / "validation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

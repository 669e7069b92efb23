"""Regenerate docs/validation.md: measured replays of real traces against the shipped model's prediction.

    python docs/make_validation.py [REPLAY_DIR]     # default: artifacts/replays

The edge: `main` reads the replays, the model, the records, the traces' rates and the padding fits
(`ValidationInputs`) and writes the page; `render` computes and formats it from them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.analysis.paths import repository_docs
from energy_predict.analysis.subject import H100, LLAMA8, VLLM_CHUNK1K, VLLM_GRAPHS
from energy_predict.datasets import all_records, cell_stats
from energy_predict.model.store import load_default_model
from energy_predict.predict.online import simulate
from energy_predict.predict.replays import load_replays, predict_replay
from energy_predict.predict.serving import engine_for
from energy_predict.provenance import artifacts_dir
from energy_predict.serving import Deployment, Serving
from energy_predict.serving_spec import config_of_record
from energy_predict.traces import read_trace


@dataclass(frozen=True)
class ValidationInputs:
    """What the page is computed from, read by `main`.

    `replays`: the replay records, in the page's order; `records`: every calibration record (the chunked-prefill
    cells); `trace_rates`: each replayed trace's mean request rate over the whole file (req/s), where the file is at
    hand; `padding_fits`: the HF padding fit files' contents, oldest first.
    """

    replays: list[dict]
    model: object
    records: pd.DataFrame
    trace_rates: dict[str, float]
    padding_fits: list[dict]


class WithoutPadding:
    """A model with its HF padding term taken out; everything else is the model's own (the EnergyModel seam)."""

    def __init__(self, model):
        self._model = model
        self.name, self.kind = f"{model.name} without padding", model.kind

    def __getattr__(self, attr):
        return getattr(self._model, attr)

    def padding_extra_j(self, dep, batch_size, input_tokens, output_tokens):
        return None


def kwh(j: float) -> str:
    """Joules as kWh, four significant digits."""
    return f"{j / 3.6e6:.4g}"


def table(rows: list[dict]) -> list[str]:
    """One line per replay: measured against predicted, with the interval."""
    lines = ["| trace | GPU | backend | mode | arrivals at rate (req/s) | requests | measured kWh (runs) | spread | "
             "predicted kWh [90% interval] | error | covered |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    seen: set[tuple] = set()
    for r in rows:
        key = (r["trace"], r["gpu"], r["backend"], r["mode"], r.get("prefix_caching"), r.get("rate_per_s"),
               r.get("arrivals"))
        again = " (again, a new engine)" if key in seen else ""
        seen.add(key)
        measured = ", ".join(kwh(m) for m in r["measured_j"])
        spread = f"{r['measured_spread_pct']:.1f}%" if r["measured_spread_pct"] is not None else "n/a"
        err = f"{r['error_pct']:+.1f}%" if r["error_pct"] is not None else "n/a"
        lines.append(f"| {r['trace'].removeprefix('AzureLLMInferenceTrace_').removesuffix('.csv')}{again} | "
                     f"{r['gpu']} | "
                     f"{r['backend']} | "
                     f"{r['mode']}{', prefix caching' if r.get('prefix_caching') else ''} | {_arrivals(r)} | "
                     f"{r['requests']} | {measured} | {spread} | "
                     f"{kwh(r['predicted_j'])} [{kwh(r['low_j'])}, {kwh(r['high_j'])}] | {err} | "
                     f"{'yes' if r['covered'] else 'no'} |")
    return lines


def summary(rows: list[dict]) -> list[str]:
    """Errors and interval coverage per (GPU, backend, mode)."""
    lines = ["| GPU | backend | mode | replays | median abs. error | max abs. error | interval covers |",
             "|---|---|---|---|---|---|---|"]
    for (gpu, backend, mode) in dict.fromkeys((r["gpu"], r["backend"], r["mode"]) for r in rows):
        g = [r for r in rows
             if (r["gpu"], r["backend"], r["mode"]) == (gpu, backend, mode) and r["error_pct"] is not None]
        errs = np.abs([r["error_pct"] for r in g])
        lines.append(f"| {gpu} | {backend} | {mode} | {len(g)} | {np.median(errs):.1f}% | {errs.max():.1f}% | "
                     f"{sum(r['covered'] for r in g)}/{len(g)} |")
    return lines


def unbounded_online_j(replay: dict, model) -> float:
    """A vLLM replay simulated as `predict_replay` does, with no KV-cache limit and no power bounds (J).

    What the simulator's two physical limits are worth: the KV cache caps admitted context (preempting beyond it),
    the bounds keep each step's power within loaded idle .. TDP. Idle between requests is still charged.
    """
    from energy_predict.architectures import resolve_architecture
    from energy_predict.gpus import resolve_gpu
    from energy_predict.predict.online import Engine
    from energy_predict.predict.replays import replay_cached_tokens, serving_of_replay

    req, serving = replay["requests"], serving_of_replay(replay["config"])
    dep = Deployment(resolve_architecture(replay["model"]), resolve_gpu(replay["meter"]["gpus"][0]["name"]), serving)
    costs = model.step_costs(dep)
    energy, time = costs.energy, costs.time
    idle_w = replay.get("loaded_idle_power_w") or model.loaded_idle_w(dep)
    engine = Engine(serving.max_batch, serving.max_num_batched_tokens, idle_w=idle_w)  # no KV cap, no TDP
    i, o = np.asarray(req["input_tokens"]), np.asarray(req["output_tokens"])
    online = replay["mode"] == "online"
    arrivals = np.asarray(req["arrival_s"]) if online else np.zeros(len(i))
    period = float(np.median([r["duration_s"] for r in replay["runs"]])) if online else None
    return simulate(i, o, arrivals, energy, time, engine, period_s=period, backlog_limit=len(i) + 1,
                    cached=replay_cached_tokens(replay, dep)).energy_j


def ablations(replays: list[dict], rows: list[dict], model) -> list[str]:
    """What each part of the model is worth, replay by replay (`rows`: the full model's predictions of them)."""
    no_padding = WithoutPadding(model)
    lines = ["| replay | measured kWh | full model | without the HF padding term | simulator without KV-cache limit "
             "and power bounds | offline estimate (no arrivals, no idle) | predicted idle share |",
             "|---|---|---|---|---|---|---|"]
    for rec, full in zip(replays, rows):
        mean = float(np.mean(full["measured_j"]))
        pad = predict_replay(rec, no_padding) if rec["backend"] == "hf" else None
        off = predict_replay({**rec, "mode": "offline"}, model) if rec["mode"] == "online" else None
        free = {"predicted_j": unbounded_online_j(rec, model)} if rec["backend"] == "vllm" else None

        def rel(x: dict | None, mean: float = mean) -> str:
            return f"{kwh(x['predicted_j'])} ({100 * (x['predicted_j'] / mean - 1):+.0f}%)" if x else ""

        share = full["idle_j"] / full["predicted_j"] if full["predicted_j"] else 0.0
        lines.append(f"| {rec['name'].replace('AzureLLMInferenceTrace_', '')} | {kwh(mean)} | {rel(full)} | "
                     f"{rel(pad)} | "
                     f"{rel(free)} | {rel(off)} | {100 * share:.0f}% |")
    return lines


def chunked_prefill(model, records: pd.DataFrame) -> tuple[list[str], dict]:
    """Measured prefill with a 1024-token step budget against the simulator, which was not fitted on it.

    Returns the table and the error ranges (energy, duration, and energy had a prefill step paid both its own
    constant and the decode step's) that the text quotes.
    """
    stats = cell_stats(records[records["gpu"] == H100.name])  # the replays' GPU; a config name is per GPU
    stats = stats[(stats["model"] == LLAMA8.name) & (stats["output_tokens"] == 1)]
    chunked = stats[stats["config"] == VLLM_CHUNK1K]
    if not len(chunked):
        return [], {}
    ref = stats[stats["config"] == VLLM_GRAPHS]
    default = {(int(b), int(i)): e for b, i, e in zip(ref["batch_size"], ref["input_tokens"], ref["energy_j"])}
    dep = Deployment(LLAMA8, H100,
                     Serving(framework="vllm", cuda_graphs=True, max_batch=512, max_num_batched_tokens=1024))
    costs = model.step_costs(dep)
    energy, time = costs.energy, costs.time
    engine = engine_for(dep, model)
    both = replace(energy, prefill_const=energy.prefill_const + energy.step_const)
    lines = ["| batch x input | measured J, 1024-token steps | measured J, default budget | chunking costs | "
             "simulated J, 1024-token steps | error | measured s | simulated s | error |",
             "|---|---|---|---|---|---|---|---|---|"]
    errors = {"energy": [], "duration": [], "both_constants": []}
    for r in chunked.itertuples():
        b, i = int(r.batch_size), int(r.input_tokens)
        requests = (np.full(b, i), np.ones(b, int), np.zeros(b))
        sim = simulate(*requests, energy, time, engine)
        sim_both = simulate(*requests, both, time, engine)
        base = default.get((b, i))
        extra = f"{100 * (r.energy_j / base - 1):+.0f}%" if base else "n/a"
        err_e, err_t = 100 * (sim.busy_energy_j / r.energy_j - 1), 100 * (sim.busy_s / r.duration_s - 1)
        errors["energy"].append(err_e)
        errors["duration"].append(err_t)
        errors["both_constants"].append(100 * (sim_both.busy_energy_j / r.energy_j - 1))
        lines.append(f"| {b} x {i} | {r.energy_j:.0f} | {f'{base:.0f}' if base else 'n/a'} | {extra} | "
                     f"{sim.busy_energy_j:.0f} | {err_e:+.1f}% | {r.duration_s:.3f} | {sim.busy_s:.3f} | "
                     f"{err_t:+.1f}% |")
    return lines, errors


def render(inputs: ValidationInputs) -> str:
    """The page, from its inputs."""
    replays, model = inputs.replays, inputs.model
    lines = ["# Validation: measured replays against predictions", "",
             "Made by `python docs/make_validation.py` from the replay records in `artifacts/replays/` "
             "(`energy-predict replay`) and the default model.", "",
             "Whether the planner ranks serving configurations as the GPU does (one workload, one rate, several "
             "configurations): [plan-validation.md](plan-validation.md) (`python docs/make_plan_validation.py`).", ""]
    if not replays:
        lines += ["No replay has been measured yet. Run `campaigns/next/` on a GPU machine.", ""]
        return "\n".join(lines)
    rows = [predict_replay(r, model) for r in replays]
    hosts = {(g.get("name", "GPU"), g.get("power_limit_w", "?")): None
             for g in (r.get("meter", {}).get("gpus", [{}])[0] for r in replays)}
    chunk_lines, chunk_err = chunked_prefill(model, inputs.records)
    vllm = [r for r in replays if r["backend"] == "vllm"]
    hf = [r for r in replays if r["backend"] == "hf"]
    idle_w = [r["loaded_idle_power_w"] for r in vllm if r.get("loaded_idle_power_w")]
    runs = sorted({len(r["runs"]) for r in replays})
    longest_in = max(max(r["requests"]["input_tokens"]) for r in replays)
    longest_out = max(max(r["requests"]["output_tokens"]) for r in replays)
    cold = [r for r in replays if r["mode"] == "offline" and r.get("warmed_up") is False]
    configs = [config_of_record(r["config"]) for r in vllm]  # the current spelling or a former one
    limits = sorted({(c.max_batch, c.max_num_batched_tokens) for c in configs})
    rates = {t: inputs.trace_rates[t] for t in sorted({r["trace"] for r in replays}) if t in inputs.trace_rates}
    online = [r for r in rows if r["mode"] == "online" and r["error_pct"] is not None]
    by_trace = {t: [r["error_pct"] for r in online if r["trace"] == t]
                for t in dict.fromkeys(r["trace"] for r in online)}
    under = [t for t, v in by_trace.items() if max(v) < 0]
    decode_ratio = padding_decode_ratio(inputs.padding_fits)

    def span(values: list[float], fmt: str = "{:+.0f}") -> str:
        lo, hi = min(values), max(values)
        return fmt.format(lo) + "%" if round(lo) == round(hi) else f"{fmt.format(lo)} to {fmt.format(hi)}%"

    lines += [
        "Every replay ran on one GPU, "
        + " or ".join(f"{name} (power limit {watts} W)" for name, watts in hosts) + " (the GPU column), "
        "Llama-3.1-8B shape with random weights, after a warm-up on the same requests"
        + (f" (except {len(cold)} offline replays whose records say `warmed_up: false`: each ran on an engine "
           "already warm from the replay before it)" if cold else "") + ", measured "
        f"{' or '.join(map(str, runs))} times (every reading shown). Requests are a contiguous window of the trace "
        "(of a trace with prefix blocks, whole conversations) "
        f"(longest: {longest_in} tokens in, {longest_out} out). "
        "Online replays submit each request at its arrival time: `trace` scales the window's own gaps to the "
        "rate (each trace's mean rate over its hour: "
        + (", ".join(f"{_short(t)} {r:.2f}" for t, r in rates.items()) + " req/s" if rates else "trace files absent")
        + "), `poisson` draws exponential gaps. The window includes the idle time between requests. HF batches "
        f"{', '.join(sorted({str(r['batch_size']) for r in hf}))} requests in arrival order, left-padded. vLLM: "
        "CUDA graphs, "
        + "; ".join(f"max_num_seqs {a}, max_num_batched_tokens {b}" for a, b in limits)
        + ", chunked prefill, prefix caching off unless the mode says so; the prediction simulates the same scheduler "
        "with the same limits, "
        "a KV cache of the size the GPU's memory leaves after the weights (a sequence beyond it is preempted and "
        "recomputed, as vLLM does), and each step's power kept within the replay's loaded idle power and the "
        "GPU's TDP.", "",
        "## Summary", "", *summary(rows), "", "## Every replay", "", *table(rows), "",
        "## What each part of the model is worth", "",
        "The same predictions with one part taken out. *Without the HF padding term*: the batch model alone, at "
        "each batch's (size, longest input, longest output). *Simulator without KV-cache limit and power bounds*: "
        "the online simulation with an unbounded KV cache and each step's power as fitted (idle between requests "
        "still charged). *Offline estimate*: the online replay's requests predicted as if all arrived at once, "
        "the reference study's method, which has no idle time.", "",
        *ablations(replays, rows, model), "",
        "## The step model against chunked prefill", "",
        "Prefill-only batches measured with `max_num_batched_tokens=1024` (run `*-vllm-graphs-chunk1k-*`, not used "
        "in any fit) beside the same cells at vLLM's default budget, and the simulator's prediction with the same "
        "1024-token steps. A step holding prefill pays the prefill constant in place of the decode step's "
        "constant (the weights are read once per step)"
        + (f"; charging both would over-predict these cells by {span(chunk_err['both_constants'])}, against "
           f"{span(chunk_err['energy'])} as simulated." if chunk_err else "."), "",
        *chunk_lines, "",
        "Causes found and fixed in the model (not in the check):",
        "- HF padding. A batch with one row shorter than the others makes transformers pass an attention mask, and "
        "SDPA leaves its causal flash path: prefill attention runs masked and every decode step runs a masked "
        "kernel over the whole cache. `benchmarks/hf_padding.py` measured it (artifacts/padding/): at B=16, "
        + ("the decode steps of a padded batch cost "
           + " to ".join(f"{x:.1f}x ({i} context)" for i, x in decode_ratio.items())
           + " those of the unpadded batch (energy of the cell minus its prefill-only cell, padded over unpadded), "
           if decode_ratio else "")
        + "and one short row costs as much as heavy padding. `model/padding.py` fits that overhead from the A/B "
        "(not from the replays) and the HF replay prediction adds it to every padded batch.",
        "- Online idle. Between requests a GPU holding a vLLM engine draws its loaded idle power (measured before "
        f"each replay, {min(idle_w):.0f}-{max(idle_w):.0f} W), which the simulator charges for every second nothing "
        "runs; the offline estimate misses it, and the slower the arrivals, the larger the miss.", "",
        "What the online model still lacks (every online replay is within "
        f"{max(abs(e) for v in by_trace.values() for e in v):.1f}%; "
        "the residuals point here):",
        "- Online error by trace: " + "; ".join(f"{_short(t)} {span(v, '{:+.1f}')}" for t, v in by_trace.items())
        + ". " + ("The " + " and ".join(_short(t) for t in under) + " replays are under-predicted at every rate"
                  + (f", the {' and '.join(_short(t) for t in by_trace if t not in under)} replays are not"
                     if len(under) < len(by_trace) else "")
                  + ": long decodes at small, changing batch sizes. The step energies come from fixed batches; "
                  "vLLM's per-step CPU work (scheduling, sampling, the Python loop) at small batches is only in "
                  "them as far as those batches hold it." if under else "No trace is under-predicted at every "
                  "rate."),
        *([f"- Step durations are over-predicted for chunked prefill ({span(chunk_err['duration'])} above), so TTFT "
           "at a small token budget is pessimistic; energy is not affected by this."] if chunk_err else []),
        "- Power between two close requests does not drop to idle at once; the simulator switches instantly.",
        "- Prefix caching is predicted from a replay's block ids (the Mooncake conversation rows, caching on and off, "
        "same requests); speculative decoding was off in every replay, so no replay checks its model "
        "(benchmarks/results/speculative.md holds its held-out cells).", ""]
    return "\n".join(lines)


def _short(trace: str) -> str:
    return trace.removeprefix("AzureLLMInferenceTrace_").removesuffix(".csv")


def trace_rate(arrival_s: np.ndarray) -> float:
    """Mean request rate (req/s) of a whole trace: its requests over the span of their arrival times."""
    return len(arrival_s) / (arrival_s.max() - arrival_s.min())


def padding_decode_ratio(fits: list[dict]) -> dict[int, float]:
    """Per input length: padded over unpadded decode energy of the HF padding A/B (cell means in the fit files)."""
    out = {}
    for fit in fits:
        means = fit.get("published_cell_means_j")
        if not means:
            continue
        rows = [dict(zip(means["columns"], r)) for r in means["rows"]]
        for r in rows:
            base = next((x for x in rows if x["i"] == r["i"] and x["b"] == r["b"] and x["o"] == 1), None)
            if r["o"] > 1 and base and r["padded"] is not None and base["padded"] is not None:
                out[int(r["i"])] = (r["padded"] - base["padded"]) / (r["ones"] - base["ones"])
    return dict(sorted(out.items()))


def _arrivals(row: dict) -> str:
    return f"{row['arrivals']} {row['rate_per_s']:g}" if row["rate_per_s"] else "all at once"


def _order(rec: dict) -> tuple:
    return rec["backend"], rec["mode"] != "offline", rec["trace"], rec.get("arrivals") or "", rec.get("rate_per_s") or 0


def load_inputs(docs: Path, folder: Path) -> ValidationInputs:
    """The replays under `folder` and everything else the page reads, from the checkout that holds `docs`."""
    replays = sorted(load_replays(folder), key=_order) if folder.is_dir() else []
    traces = docs.parent.parent / "shared" / "data" / "traces" / "azure_2023"
    rates = {t: trace_rate(read_trace(traces / t)["arrival_s"].to_numpy())
             for t in sorted({r["trace"] for r in replays}) if (traces / t).is_file()}
    fits = [json.loads(f.read_text()) for f in sorted((docs.parent / "artifacts" / "padding").glob("*.fit.json"))]
    return ValidationInputs(replays=replays, model=load_default_model(), records=all_records(),
                            trace_rates=rates, padding_fits=fits)


def main() -> None:
    """Write docs/validation.md (replays from the first argument, default artifacts/replays)."""
    docs = repository_docs()
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else artifacts_dir() / "replays"
    text = render(load_inputs(docs, folder))
    (docs / "validation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

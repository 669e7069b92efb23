"""Diagnosis: what the shipped model's fitted terms imply as physical quantities (issue 25, item 1).

    python benchmarks/physics_terms.py     # writes benchmarks/results/physics_terms.{md,json} (a few s of CPU)

The shipped phase model (model/phases.py) fits, per fit key (GPU + serving key) and per (fit key, model) with enough
cells, non-negative coefficients whose terms are named after physical quantities. Read as physics, the duration
coefficients are achieved rates: seconds per weight byte read is 1 / the achieved bandwidth, seconds per linear
FLOP 1 / the achieved FLOP rate, and so on. This script turns every stored coefficient row into those rates and
their fractions of the datasheet peaks (src/energy_predict/gpus.py; a tensor-parallel group has `tp` times the
peaks of one GPU, since each term counts the whole engine's work), and flags:

- `degenerate`: a term whose work is never zero (weight bytes, KV bytes, linear FLOPs) fitted at 0: its time went
  into another term, so scaling it (a faster memory, fp8 weights) changes nothing;
- `impossible`: an achieved rate above the datasheet peak (fraction > 1);
- the share of a batch-1 decode step (context 512) held by the per-step and per-layer constants, and what that
  constant would be as weight reads: `constant / (weight bytes / peak bandwidth)` > 1 means the constant alone is
  longer than reading every weight at the peak, i.e. it holds the weight reads.

Energy: each term's implied power per GPU (energy coefficient / duration coefficient), which physically lies
between 0 and the power limit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"

# term -> (what it counts, the datasheet peak it is a fraction of)
RATE_TERMS = {
    "step_weight_bytes": ("weight bytes read per decode step", "bandwidth"),
    "decode_kv_bytes": ("KV-cache bytes read in decode", "bandwidth"),
    "decode_linear_flops": ("linear-layer FLOPs in decode", "flops"),
    "prefill_linear_flops": ("linear-layer FLOPs in prefill", "flops"),
    "prefill_attention_flops": ("attention FLOPs in prefill", "flops"),
}
NEVER_ZERO = ("step_weight_bytes", "decode_kv_bytes", "decode_linear_flops", "prefill_linear_flops")
CONTEXT_TOKENS = 512  # the batch-1 decode step the constants' share is read at


def rows(model_dir: Path = REPO / "artifacts" / "models" / "default") -> list[dict]:
    """One row per stored coefficient set: implied rates, fractions, flags and the batch-1 step's split."""
    from energy_predict import flops
    from energy_predict.architectures import resolve_architecture
    from energy_predict.gpus import resolve_gpu
    from energy_predict.model.phases import MOE, TERMS, PhaseCoefficients, allreduce_bytes_per_token

    stored = json.loads((model_dir / "model.json").read_text())
    card = json.loads((model_dir / "card.json").read_text())
    energy = PhaseCoefficients.from_dict(stored["energy"])
    duration = PhaseCoefficients.from_dict(stored["duration"])
    measured: dict[str, list[str]] = {}
    for m in card["valid"]["measured_models"]:
        measured.setdefault(json.dumps([m["gpu"], m["serving"]], sort_keys=True), []).append(m["model"])
    out = []
    for key, t in duration.coef_.items():
        config, model = key if isinstance(key[0], tuple) else (key, None)
        e = energy.coef_.get(key)
        gpu = resolve_gpu(config[0])
        serving = dict(zip(("framework", "cuda_graphs", "compile", "quantization", "tensor_parallel"), config[1:6]))
        tp, fp8 = int(serving["tensor_parallel"]), serving["quantization"] == "fp8"
        names = measured.get(json.dumps([config[0], {**serving, "decoding": "greedy", "speculative": None}],
                                        sort_keys=True), [])
        if model in (None, MOE):
            archs = [resolve_architecture(n) for n in names]
            pick = [a for a in archs if a.is_moe == (model == MOE)]
            arch = pick[0] if pick else None
        else:
            arch = resolve_architecture(model)
        c = dict(zip(TERMS, t))
        ce = dict(zip(TERMS, e)) if e is not None else {}
        peaks = {"bandwidth": tp * gpu.memory_bandwidth_bps, "flops": tp * gpu.peak_flops("fp8" if fp8 else "bf16")}
        row = {"gpu": config[0], "framework": serving["framework"], "cuda_graphs": serving["cuda_graphs"],
               "compile": serving["compile"], "quantization": serving["quantization"], "tensor_parallel": tp,
               "model": model or "(fit key)", "read_with": arch.name if arch else None, "rates": {},
               "degenerate": [], "impossible": []}
        for term, (what, peak) in RATE_TERMS.items():
            rate = 1.0 / c[term] if c[term] > 0 else None
            frac = rate / peaks[peak] if rate else None
            power = (ce[term] / c[term] / tp) if rate and ce.get(term) is not None else None
            row["rates"][term] = {"what": what, "rate": rate, "unit": "B/s" if peak == "bandwidth" else "FLOP/s",
                                  "fraction_of_peak": frac, "power_per_gpu_w": power}
            if term in NEVER_ZERO and rate is None:
                row["degenerate"].append(term)
            if frac is not None and frac > 1 + 1e-6:  # at the roofline floor, in float arithmetic, is 1
                row["impossible"].append(term)
        if arch is not None:
            bpp = 1.0 if fp8 else 2.0
            w = float(flops.weight_bytes(arch, bpp, 1))
            const = c["steps"] + c["step_layers"] * arch.num_layers + c["decode_allreduce_ops"] * 2 * arch.num_layers
            step = (const + c["step_weight_bytes"] * w + c["step_sequences"]
                    + c["decode_linear_flops"] * (2.0 * flops.matmul_params_per_token(arch) + flops.lm_head_flops(arch))
                    + c["decode_kv_bytes"] * CONTEXT_TOKENS * arch.kv_bytes_per_token()
                    + c["decode_allreduce_bytes"] * allreduce_bytes_per_token(arch))
            weights_at_peak = w / peaks["bandwidth"]
            row.update(step_s=step, constant_s=const, constant_share=const / step if step else None,
                       weight_read_at_peak_s=weights_at_peak, constant_over_weight_read=const / weights_at_peak,
                       step_implied_bandwidth_fraction=weights_at_peak / step if step else None)
        out.append(row)
    return sorted(out, key=lambda r: (r["gpu"], r["framework"], not r["cuda_graphs"], r["compile"],
                                      str(r["quantization"]), r["tensor_parallel"], r["model"]))


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _term(r: dict, term: str) -> str:
    v = r["rates"][term]
    if v["rate"] is None:
        return "**0**" if term in r["degenerate"] else "0"
    frac = v["fraction_of_peak"]
    text = f"{_pct(frac)}"
    return f"**{text}**" if frac > 1 + 1e-6 else text


def render(data: list[dict]) -> str:
    degenerate = [r for r in data if r["degenerate"]]
    impossible = [r for r in data if r["impossible"]]
    absorbed = [r for r in data if r.get("constant_over_weight_read") and r["constant_over_weight_read"] > 1]
    lines = ["# The shipped model's terms read as physics (issue 25, item 1)", "",
             "Generated by `python benchmarks/physics_terms.py` from artifacts/models/default (the duration "
             "coefficients; energy for the implied power). Each rate is the whole engine's (a TP group of `tp` GPUs "
             "is compared with `tp` x the datasheet peak). **0**: a term whose work is never zero fitted at zero "
             "(degenerate: its time went into another term); **>100%**: faster than the datasheet allows "
             "(impossible).", "",
             f"{len(data)} coefficient sets: {len(degenerate)} degenerate, {len(impossible)} impossible, "
             f"{len(absorbed)} whose per-step constant alone is longer than reading all weights at the peak "
             "bandwidth (the constant holds the weight reads).", "",
             "Columns: achieved fraction of the peak of weight-byte reads (W), KV-byte reads (KV), decode linear "
             "FLOPs (dec F), prefill linear FLOPs (pre F), prefill attention FLOPs (att F); then a batch-1 decode "
             f"step at context {CONTEXT_TOKENS} of the model read with: its time, the per-step + per-layer constant's "
             "share of it, that constant over the time to read all weights at the peak bandwidth, and the bandwidth "
             "fraction the whole step implies (weights at peak / step time).", "",
             "| GPU | serving | TP | model | W | KV | dec F | pre F | att F | read with | step ms | constant share "
             "| constant / weights at peak | step-implied BW | flags |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data:
        serving = (f"{r['framework']} {'graphs' if r['cuda_graphs'] else 'eager'}"
                   f"{' compile' if r['compile'] else ''}{' fp8' if r['quantization'] == 'fp8' else ''}")
        flags = ", ".join([f"degenerate: {', '.join(r['degenerate'])}"] * bool(r["degenerate"])
                          + [f"impossible: {', '.join(r['impossible'])}"] * bool(r["impossible"]))
        step = f"{1e3 * r['step_s']:.2f}" if r.get("step_s") else "-"
        ratio = f"{r['constant_over_weight_read']:.2f}" if r.get("constant_over_weight_read") is not None else "-"
        lines.append(f"| {r['gpu']} | {serving} | {r['tensor_parallel']} | {r['model']} | "
                     + " | ".join(_term(r, t) for t in RATE_TERMS)
                     + f" | {r['read_with'] or '-'} | {step} | {_pct(r.get('constant_share'))} | {ratio} | "
                     f"{_pct(r.get('step_implied_bandwidth_fraction'))} | {flags or '-'} |")
    lines += ["", "## Implied power per GPU of each term (energy coefficient / duration coefficient, W)", "",
              "A term's power is what the GPU draws while doing that work, idle included where the fit put it there; "
              "physically between the loaded idle (~120 W) and the limit (700 W). Blank: the term is zero in time or "
              "energy.", "", "| GPU | serving | TP | model | W | KV | dec F | pre F | att F |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in data:
        serving = (f"{r['framework']} {'graphs' if r['cuda_graphs'] else 'eager'}"
                   f"{' compile' if r['compile'] else ''}{' fp8' if r['quantization'] == 'fp8' else ''}")
        cells = []
        for t in RATE_TERMS:
            p = r["rates"][t]["power_per_gpu_w"]
            cells.append("" if p is None else f"{p:.0f}")
        lines.append(f"| {r['gpu']} | {serving} | {r['tensor_parallel']} | {r['model']} | " + " | ".join(cells) + " |")
    lines += ["", "## Reading", "", *reading(data)]
    return "\n".join(lines) + "\n"


def reading(data: list[dict]) -> list[str]:
    """Sentences computed from the rows."""
    out = []
    keys = [r for r in data if r["model"] == "(fit key)"]
    w0 = [r for r in data if "step_weight_bytes" in r["degenerate"]]
    kv0 = [r for r in data if "decode_kv_bytes" in r["degenerate"]]
    if w0:
        out.append(f"- Weight-byte reads fitted at zero in {len(w0)} of {len(data)} coefficient sets "
                   f"({sum(r in keys for r in w0)} of {len(keys)} fit keys): their decode time sits in the per-step "
                   "constant, so a GPU with more bandwidth, or fp8 weights, speeds nothing up.")
    else:
        out.append(f"- Weight-byte reads are fitted above zero in all {len(data)} coefficient sets ({len(keys)} fit "
                   "keys): a GPU with more bandwidth, or fp8 weights, shortens the weight term.")
    out.append(f"- KV-byte reads fitted at zero in {len(kv0)} sets: a longer context costs nothing in decode there."
               if kv0 else f"- KV-byte reads are fitted above zero in all {len(data)} sets.")
    fracs = [r["rates"]["step_weight_bytes"]["fraction_of_peak"] for r in data
             if r["rates"]["step_weight_bytes"]["fraction_of_peak"]]
    if fracs:
        out.append(f"- Where weight reads are fitted, the implied bandwidth is {_pct(min(fracs))}..{_pct(max(fracs))} "
                   "of the peak: the weight term is whatever is left after the constants, not a bandwidth.")
    steps = [r["step_implied_bandwidth_fraction"] for r in data if r.get("step_implied_bandwidth_fraction")]
    if steps:
        out.append(f"- The whole batch-1 decode step implies {_pct(min(steps))}..{_pct(max(steps))} of the peak "
                   "bandwidth (weights at the peak over the step's time): the physics is in the data, the split "
                   "between the terms is not.")
    over = [(r, t) for r in data for t, v in r["rates"].items()
            if v["power_per_gpu_w"] is not None and v["power_per_gpu_w"] > 700.0]
    out.append(f"- {len(over)} terms imply a power above the 700 W limit while doing their work (up to "
               f"{max((r['rates'][t]['power_per_gpu_w'] for r, t in over), default=0):.0f} W): energy coefficients "
               "absorb each other as the duration ones do.")
    return out


def main() -> None:
    sys.path.insert(0, str(REPO / "src"))
    data = rows()
    OUT.mkdir(exist_ok=True)
    (OUT / "physics_terms.json").write_text(json.dumps(data, indent=1) + "\n")
    (OUT / "physics_terms.md").write_text(render(data))
    print(f"{len(data)} coefficient sets; degenerate {sum(bool(r['degenerate']) for r in data)}, impossible "
          f"{sum(bool(r['impossible']) for r in data)}")


if __name__ == "__main__":
    main()

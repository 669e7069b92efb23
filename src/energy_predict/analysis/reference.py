"""The reference study's findings, quoted, and the rows of ours that need more than one number (compile, decoding).

A row is (ours, ratio): what we measured on the H100 in words, and our change over the study's where both are
numbers about the same quantity. A row without data says `PENDING`.
"""

from __future__ import annotations

import pandas as pd

from energy_predict.analysis.cells import paired_ratios
from energy_predict.analysis.markdown import effect_ratio, pct
from energy_predict.analysis.subject import (
    HF_BEAM4,
    HF_COMPILE,
    HF_EAGER,
    HF_SAMPLING,
    LLAMA8,
    VLLM_GRAPHS,
    VLLM_SAMPLING,
)

# The reference study's findings, quoted exactly, where quoted, and the factors each quote states (energy or latency
# multipliers: -29% is 0.71), so that a ratio is never typed twice. `quote` checks that the two agree.
REFERENCE = {
    "decode": ('"decode dominates" (design.md; no number)', ()),
    "batch": ("no number quoted (design.md, issues)", ()),
    "decoding": ('"greedy, beam, sampling: close except at batch 1" (issue 17)', ()),
    "speculative": ('"−29% energy at batch 1, +26% at batch 128, crossover near batch 8–16, Llama-3.1-8B with a '
                    'Llama-3.2-1B draft, γ = 4" (issue 17)', (0.71, 1.26)),
    "moe": ('"the MoE up to 54% above its active-size dense peer" (issue 16)', (1.54,)),
    "framework": ('"vLLM + CUDA graphs cut energy up to 73% vs plain PyTorch" (design.md)', (0.27,)),
    "compile": ('"torch.compile (−30% at batch 1 on A100)" (issue 17)', (0.70,)),
    "graphs": ('"torch.compile/CUDA graphs help most at small batch" (design.md; no number)', ()),
    "online": ('"online continuous batching is +12% at batch 1, -2..6% at large batch" (design.md)', ()),
    "tp": ('"The reference study (batch 1): TP2 +29% / -40%, TP4 +55% / -61%" (issue 14; energy / latency)',
           (1.29, 0.60, 1.55, 0.39)),
    "flops": ('"measured energy 1.3x-6x above its FLOPs/TDP estimate" (design.md)', ()),
}
COMPILE_MIN_CELLS = 40  # issue 17: "enough cells (>= 40, batch 1 to the largest that fits) to model it"
PENDING = "not measured yet"


def quote(finding: str) -> tuple[str, tuple[float, ...]]:
    """The study's quote and its factors; ValueError where a factor's percentage is not in the quote."""
    text, factors = REFERENCE[finding]
    for f in factors:
        if f"{abs(round(100 * (f - 1)))}%" not in text:
            raise ValueError(f"reference {finding!r}: factor {f} is not what {text} says")
    return text, factors


def unless_pending(ours: str, why: str) -> str:
    """A row's reason: `why` once the row has a measurement, else that it has none yet."""
    return "Not measured yet on the H100." if ours == PENDING else why


def compile_row(records: pd.DataFrame, cells: pd.DataFrame) -> tuple[str, str]:
    """(ours, ratio) of the torch.compile finding: hf-compile over hf-eager per output token at batch 1."""
    n = int(((cells["config"] == HF_COMPILE) & (cells["model"] == LLAMA8.name)).sum())
    if n == 0:
        return PENDING, "-"
    pairs = paired_ratios(records, HF_EAGER, HF_COMPILE)
    b1 = pairs[pairs["batch_size"] == 1]
    if n < COMPILE_MIN_CELLS:
        return (f"{PENDING} on the {COMPILE_MIN_CELLS}-cell grid: {n} hf-compile cells, {len(b1)} of them at batch 1 "
                "paired with hf-eager; too thin to state a number, as HF batch-1 cells differ between leases by about "
                "as much as the effect (Caveats)"), "-"
    if len(b1) < 3:
        return f"too thin: {n} hf-compile cells, only {len(b1)} at batch 1 paired with hf-eager", "-"
    med = float(b1["ratio"].median())
    costs = pairs[pairs["ratio"] >= 1]
    above = (f"; it costs more at batch {int(costs['batch_size'].min())}-{int(costs['batch_size'].max())} "
             f"(x{costs['ratio'].min():.2f} to x{costs['ratio'].max():.2f}, {len(costs)} cells, "
             f"{int(costs['same_lease'].sum())} paired within one lease)" if len(costs) else "")
    return (f"{pct(med)} median at batch 1 ({pct(b1['ratio'].min())} to {pct(b1['ratio'].max())}, {len(b1)} cells, "
            f"{int(b1['same_lease'].sum())} paired within one lease; {n} hf-compile cells in all){above}",
            effect_ratio(med, quote("compile")[1][0]))


def changes_by_batch(pairs: pd.DataFrame) -> str:
    """'batch 1 +1%, +23%; 2 +0%; ...': each paired cell's change, by batch size."""
    return "; ".join(("batch " if k == 0 else "") + f"{b} " + ", ".join(pct(r) for r in g["ratio"])
                     for k, (b, g) in enumerate(pairs.groupby("batch_size")))


def decoding_row(records: pd.DataFrame) -> str:
    """Sampling and beam search against greedy on every paired cell, Llama-3.1-8B: vLLM (graphs) and HF (eager)."""
    parts = []
    vllm = paired_ratios(records, VLLM_GRAPHS, VLLM_SAMPLING)
    if len(vllm):
        b1 = vllm[vllm["batch_size"] == 1]
        parts.append(f"vLLM sampling over greedy: median {pct(vllm['ratio'].median())} ({pct(vllm['ratio'].min())} to "
                     f"{pct(vllm['ratio'].max())}, {len(vllm)} cells, batch {int(vllm['batch_size'].min())}-"
                     f"{int(vllm['batch_size'].max())}, {int(vllm['same_lease'].sum())} paired within one lease)"
                     + (f", at batch 1 {', '.join(pct(r) for r in b1['ratio'])}" if len(b1) else ""))
    else:
        parts.append("vLLM sampling: no cell paired with greedy")
    for config, label in ((HF_SAMPLING, "HF sampling"), (HF_BEAM4, "HF beam 4")):
        pairs = paired_ratios(records, HF_EAGER, config)
        if len(pairs):
            parts.append(f"{label} over eager greedy ({len(pairs)} cells, {int(pairs['same_lease'].sum())} paired "
                         f"within one lease): {changes_by_batch(pairs)}")
        else:
            parts.append(f"{label}: no cell paired with greedy")
    return "; ".join(parts)


def decoding_rules(card: dict) -> str:
    """The default model's decoding rules from its card (`options.decoding`), each with its held-out error."""
    rules = []
    for o in sorted(card.get("options", {}).get("decoding", []), key=lambda o: (o["framework"], o["decoding"])):
        name = {"hf": "HF", "vllm": "vLLM"}[o["framework"]] + " " + (
            "beam " + "/".join(map(str, o.get("beam_widths", []))) if o["decoding"] == "beam" else o["decoding"])
        h = o["held_out"]
        rule = o["rule"].replace("x factor", f"x{o['energy_factor']:.2f}").replace(
            "width", "/".join(map(str, o.get("beam_widths", []))) or "width")
        rules.append(f"{name}: {rule}, {o['cells']} cells, {h['scheme']} median {100 * h['median_ape']:.1f}% "
                     f"(p90 {100 * h['p90_ape']:.1f}%)")
    return "; ".join(rules)

"""docs/findings.md as text, section by section, from `Findings` (no I/O; a backslash at a line's end joins lines)."""

from __future__ import annotations

import numpy as np

from energy_predict.analysis.cells import saving
from energy_predict.analysis.figures import TTFT_TARGET_S
from energy_predict.analysis.findings_data import NOTES_HF_B1, NOTES_VLLM_B1, NOTES_VLLM_B256, Findings
from energy_predict.analysis.markdown import md, reference_table, verdict
from energy_predict.analysis.reference import PENDING
from energy_predict.analysis.replays import online_vs_offline
from energy_predict.analysis.study_rows import study_rows

# The figures' paths relative to docs/ (findings.main draws them there).
FIGURES = {"per_token": "figures/energy_per_token_vs_batch.png", "phases": "figures/prefill_decode_split.png",
           "rate": "figures/energy_per_request_vs_rate.png"}


def header(d: Findings) -> str:
    """Title, sources, the data's size and spread."""
    hf, vllm = d.counts.get('hf', (0, 0)), d.counts.get('vllm', (0, 0))
    return f"""# Findings: H100 energy of Llama-3.1-8B inference (HF transformers vs vLLM)

Made by `python docs/make_findings.py` from the committed runs in `artifacts/calibration/`, the HF padding A/B in
`artifacts/padding/` and the default model in `artifacts/models/default/` ({len(d.table)} modeled cells;
{len(d.cells)} measured cells in all, each the median of {' or '.join(map(str, d.reps))} repetitions metered \
with the NVML energy counter).
GPUs: {d.gpus}. Random bf16 weights; output lengths forced.
Replays of real traces against the model: [validation.md](validation.md). Everything below is H100 data.

Data: HF {hf[0]} distinct cells, median repetition CV {hf[1]:.2f}%;
vLLM {vllm[0]} distinct cells, median CV {vllm[1]:.2f}%
(`energy-predict data cells --csv cells.csv` lists every cell with its CV; `energy-predict data list` every run).

"""


def study(d: Findings) -> str:
    """The reference study's findings beside ours."""
    return f"""## The reference study's findings on the H100

Each finding of Fernandez et al. (ACL 2025) beside ours, computed above or below on this page from the committed data.
A change is energy unless marked; "ours / theirs" divides our change by theirs (1: the same effect, below 1: a smaller
one, negative: the opposite sign) where both are numbers about the same quantity; a finding whose H100 data is missing
or too thin says so instead of a number.

{reference_table(study_rows(d))}

"""


def reference_points(d: Findings) -> str:
    """The notes' reference cells against ours."""
    hf_runs, latest = d.hf_runs, list(d.hf_runs.values())[-1]
    return f"""## Reference points (../shared/notes/h100-first-measurements.md)

| cell | measured here (J per output token) | notes |
|---|---|---|
| HF eager, batch 1, 512 -> 128 | {', '.join(f'{e:.2f} ({r})' for r, e in hf_runs.items())} | \
~5 J ({NOTES_HF_B1[0]}-{NOTES_HF_B1[1]}) |
| vLLM CUDA graphs, batch 1, 512 -> 256 | {d.vllm_b1:.2f} | {NOTES_VLLM_B1[0]}-{NOTES_VLLM_B1[1]} |
| vLLM CUDA graphs, batch 256, 1024 -> 256, prefix caching off | {d.no_cache:.3f} | {NOTES_VLLM_B256:.3f} |
| the same with prefix caching on (vLLM 0.26's default) | {d.cache:.3f} | {NOTES_VLLM_B256:.3f} |

- vLLM batch 1 {d.vllm_b1_note}.
- vLLM batch 256, 1024 -> 256: the notes' {NOTES_VLLM_B256:.3f} is what vLLM measures with prefix caching on, \
its default. A
  warm-up followed by repetitions of the same prompts then skips prefill: {d.cache:.3f} J/token measured with
  caching on, {d.no_cache:.3f} with it off. The model (caching off, as every calibration cell) says
  {d.big_j / (256 * 256):.3f}, of which decode alone is {d.big_decode_j / (256 * 256):.3f}. A user whose
  requests share no prefixes should expect the caching-off number.
- HF batch 1: each lease measured it once (the run id in brackets). The latest, {latest:.2f} J/token, is
  {100 * (latest / 5 - 1):+.0f}% from the notes' ~5 J. HF eager at batch 1 is launch-bound: the GPU waits on the \
host
  CPU, so the energy follows the host (the 1-GPU lease's host was slower) and the load beside it (the 4-GPU
  lease ran four sweeps at once). The meter is not the cause: an interleaved A/B on the second lease
  (`benchmarks/meter_overhead.py`, {d.meter[0]}) timed the same call at {d.meter[1]}.

"""


def batching(d: Findings) -> str:
    """Energy per token against batch size, and the framework, CUDA graphs and compile comparisons."""
    hf, graphs, compiled = d.hf_vs_vllm, d.vllm_eager_vs_graphs, d.hf_eager_vs_compile
    columns = ['batch_size', 'input_tokens', 'output_tokens', 'energy_j_a', 'energy_j_b', 'saving_pct']
    return f"""## Energy per output token against batch size

![per token vs batch]({FIGURES["per_token"]})

Batching is the largest lever: from batch 1 to 256 the energy per token falls by
{d.fall:.0f}x
with vLLM and CUDA graphs (model line at 512 -> 128). HF with torch.compile has {d.compile_cells} measured cells{
', too few to model (the default model refuses it); its dots are shown' if not d.compile_modelled else
' and is fitted like the other configurations'}.

## vLLM with CUDA graphs against plain HF transformers (matched cells, Llama-3.1-8B)

Saving of vLLM + CUDA graphs over HF eager on the same cell: median {hf.saving_pct.median():.0f}%,
range {hf.saving_pct.min():.0f}% to {hf.saving_pct.max():.0f}% over {len(hf)} cells.
The reference study reports up to 73% on A6000/A100.

{md(hf.sort_values(['batch_size', 'input_tokens', 'output_tokens']).head(24))}

CUDA graphs within vLLM (eager -> graphs, matched cells): median saving {graphs.saving_pct.median():.0f}%
({len(graphs)} cells), largest at small batch:

{md(graphs.sort_values('batch_size')[columns])}

HF torch.compile (static cache) against HF eager, matched cells:

{md(compiled[['model', *columns]])}

"""


def options(d: Findings) -> str:
    """Prefill/decode split, fp8, HF decoding options and HF padding."""
    return f"""## Prefill / decode split

![phase split]({FIGURES["phases"]})

## fp8 against bf16 (vLLM, CUDA graphs, matched cells)

{md(d.fp8) if len(d.fp8) else 'No matched cells.'}

## HF decoding and attention options (Llama-3.1-8B, 512 -> 128, energy per batch in J)

{md(d.opts.reset_index()) if len(d.opts) else 'Not measured.'}

## HF left padding (batch 16, energy per batch in J)

`generate` on a batch whose rows differ in length: `ones` no padding, `pad1` one row one token short,
`padded` rows uniform in [I/3, I]. One short row costs what heavy padding costs: transformers then passes an
attention mask and SDPA leaves its causal flash kernel, in prefill and in every decode step
(`benchmarks/hf_padding.py`; kernel profiles in docs/measurements/). The default model adds this overhead to
padded HF batches (model/padding.py); validation.md shows the HF replays with and without it. Source of the
table: {d.pad_source}.

{md(d.pad, "{:.0f}").replace("nan", "not run") if len(d.pad) else 'Not measured.'}

"""


def rate(d: Findings) -> str:
    """Energy per request against request rate, and the GPU counts it asks for."""
    best = ', '.join(f'{r:g}: {g if g is not None else "none"}' for r, g in d.best.items())
    cheapest = ('one GPU at every rate that one GPU sustains' if d.one_gpu_cheapest else
                'per rate ' + ', '.join(f'{r:g}: {g}' for r, g in d.cheapest_free.items()))
    beyond = (' (one GPU does not sustain ' + ', '.join(f'{r:g}' for r in d.beyond_one) + ' req/s)'
              if d.beyond_one else '')
    return f"""## Energy per request against request rate (online serving, default model)

![rate sweep]({FIGURES["rate"]})

At a low rate a GPU mostly waits, at its loaded idle power ({min(d.loaded_w):.0f}-{max(d.loaded_w):.0f} W \
with an engine on it, against
{min(d.empty_w):.0f}-{max(d.empty_w):.0f} W empty, as the calibration runs measured), so energy per request falls \
as the rate rises until the GPU saturates. Energy-optimal number of GPUs
per rate with p90 time to first token under {TTFT_TARGET_S} s (req/s: GPUs; none: no GPU count up to 4 meets it):
{best}. Without a latency target the cheapest
count is {cheapest}{beyond};
the target is what buys more GPUs (`energy-predict sweep-rate --ttft-p90-s`). The simulator stops a rate its
GPUs cannot sustain (the queue grows without bound) and such a point has no energy. Measured online replays
(code and conversation traces, {d.replay_rates}) against the simulator: [validation.md](validation.md).

"""


def tensor_parallel(d: Findings) -> str:
    """TP2 and TP4 against TP1 on the H100, and the tensor-parallel law held out."""
    tp, law = d.tp_summary, d.law
    return f"""## Tensor parallelism (vLLM, CUDA graphs, Llama-3.1-8B, {tp["gpu"]})

Each degree against TP1 on the same cells ({tp["n4"]} at TP4, {tp["n2"]} at TP2; every GPU's energy, the
batch's latency), measured by one `calibrate --ray` command on a 4-GPU H100 machine: TP2 costs
x{tp["energy2"]:.2f} energy for x{tp["latency2"]:.2f} latency, TP4 x{tp["energy4"]:.2f} for
x{tp["latency4"]:.2f}. At batch 1 the reference study found TP2 +29% energy for -40% latency and TP4 +55% for
-61%; here batch 1 costs {100 * (tp["b1_energy2"] - 1):.0f}% / {100 * (tp["b1_energy4"] - 1):.0f}% more energy
for {100 * (1 - tp["b1_latency2"]):.0f}% / {100 * (1 - tp["b1_latency4"]):.0f}% less latency, and larger batches
cost as much more. The shape is the study's: each doubling adds a roughly constant share of energy (all-reduces,
every GPU idling while it waits) and saves less time than the one before (per-step constants are not split).
Ours is somewhat cheaper and less fast: the H100's NVLink all-reduce is quick, and the engines ran with vLLM's
all-reduce + RMSNorm fusion pass off (it needs NVLink multicast, off on these machines:
[measurements](measurements/2026-11-27-tp-startup.md)). The same TP2 on the H200 costs x1.20 for x0.69.

The model's tensor-parallel law (work once, FLOPs and bytes split over the group, all-reduce ops and bytes, every GPU's
measured idle over the time; model/tp.py) predicts a degree held out within a median {100 * law["median_ape"]:.1f}%
(p90 {100 * law["p90_ape"]:.1f}%; TP4 from TP1 and TP2 {100 * law["per_degree"]["4"]["median_ape"]:.1f}%, TP2 \
from TP1 and TP4
{100 * law["per_degree"]["2"]["median_ape"]:.1f}%; [tp_transfer](../benchmarks/results/tp_transfer.md)), so \
unmeasured degrees up to 8
get a transferred answer with that interval.

{md(d.tp_cells)}

"""


def model_families(d: Findings) -> str:
    """Energy per token of the model families, mixtures of experts against dense peers, transfers held out."""
    moe, mt, logo = d.moe, d.mt, d.logo
    dense, experts = mt["per_family"]["dense"]["wide"], mt["per_family"]["moe"]["wide"]
    pooled = logo["replay_summary"]["pooled"]
    return f"""## Model families and mixtures of experts (vLLM, CUDA graphs, H100, random weights)

Energy per output token on the cells every new model was measured on (Mixtral-8x7B and Qwen2.5-32B on two GPUs,
both GPUs' energy; the others on one):

{md(d.family_cells)}

- OLMoE-1B-7B against its dense peers: x{moe["OLMoE-1B-7B/OLMo-1B b1"]:.2f} OLMo-1B's energy per token at batch 1 \
(similar active size),
  x{moe["OLMoE-1B-7B/OLMo-1B b256"]:.2f} at batch 256; against OLMo-7B (similar total size) \
x{moe["OLMoE-1B-7B/OLMo-7B b1"]:.2f} and
  x{moe["OLMoE-1B-7B/OLMo-7B b256"]:.2f}. The reference study found the MoE up to 54% above its active-size dense \
peer.
- Qwen3-30B-A3B (3.3 B active of 30.5 B) against Qwen2.5-7B: x{moe["Qwen3-30B-A3B/Qwen2.5-7B b1"]:.2f} at batch 1,
  x{moe["Qwen3-30B-A3B/Qwen2.5-7B b256"]:.2f} at batch 256; against Qwen2.5-32B (similar total, on two GPUs):
  x{moe["Qwen3-30B-A3B/Qwen2.5-32B b1"]:.2f} and x{moe["Qwen3-30B-A3B/Qwen2.5-32B b256"]:.2f}.
- A mixture of experts costs more than its active size suggests: at batch 1 decode reads the routed experts'
  weights, at larger batches the batch touches most experts (the weights read approach the total) while the fused
  expert kernels run smaller matrix products than a dense model's. Random weights route tokens evenly through a
  softmax router; real routers are skewed, which touches fewer experts per step at small batches (cheaper decode
  than here) and leaves the hot experts' kernels fuller at large ones. A sigmoid router with a per-expert bias
  (DeepSeek-V3's `noaux_tc`) does the opposite under random weights: the bias outweighs the token's score, so
  every token picks the same experts. Moonlight-16B-A3B's H100 cells of 2026-12-07 cost batch 64 only 2.1x batch
  1 (Qwen1.5-MoE-A2.7B: 7.1x) and match a 6-expert model; they are kept, not fitted
  (campaigns/2026-12-07-h100-batch-moe/heldout-before-refit.md).
- A model never measured is transferred from its family in the same configuration: dense vLLM models held out one
  at a time are predicted within a median {100 * dense["median_ape"]:.1f}% (p90
  {100 * dense["p90_ape"]:.1f}%) where two or more peers were measured, mixtures of experts within
  {100 * experts["median_ape"]:.1f}% (p90 {100 * experts["p90_ape"]:.1f}%) from two
  ([model_transfer](../benchmarks/results/model_transfer.md)).
- A configuration measured on one of the H100 SXM and H200 SXM is transferred to the other (byte terms scaled by
  memory bandwidth): fitted on one GPU, the other's cells inside the measured shapes are predicted within a median
  {100 * logo["cells"]["median_ape"]:.1f}% (p90 {100 * logo["cells"]["p90_ape"]:.1f}%, time median
  {100 * logo["cells"]["time_median_ape"]:.1f}%; {logo["cells"]["n"]} cells, both directions), and the default model
  fitted on one GPU's cells alone predicts the other GPU's {pooled["n"]} measured replays
  within a median {pooled["median_ape_pct"]:.1f}% (p90
  {pooled["p90_ape_pct"]:.1f}%, interval coverage
  {100 * pooled["coverage"]:.0f}%) ([gpu_transfer](../benchmarks/results/gpu_transfer.md)).

"""


def flops_tdp(d: Findings) -> str:
    """Measured energy over the FLOPs/TDP estimate."""
    ratio = d.ratio
    return f"""## Measured energy against the FLOPs/TDP estimate

Measured batch energy over the reference study's FLOPs/TDP estimate, per cell: median {np.median(ratio):.1f}x,
10th-90th percentile {np.quantile(ratio, 0.1):.1f}x-{np.quantile(ratio, 0.9):.1f}x, range \
{ratio.min():.1f}x-{ratio.max():.0f}x.
The study found 1.3x-6x on its GPUs. The estimate is closest for large compute-bound prefills and furthest for
small-batch decode, where the GPU waits on memory and kernel launches.

"""


def what_holds(d: Findings) -> str:
    """The study's findings that hold on the H100 and those that do not, and the caveats."""
    hf, graphs, ratio = d.hf_vs_vllm, d.vllm_eager_vs_graphs, d.ratio
    hosts = d.hosts
    return f"""## What holds on the H100, and what does not

- Decode dominates at realistic output lengths ({verdict(d.decode_share > 0.5)}: decode is \
{100 * d.decode_share:.0f}% of a batch of 16 at
  1024 -> 256 with vLLM and CUDA graphs, model), and batching cuts energy per token ({d.fall:.0f}x from batch 1 to \
256 above).
- vLLM with CUDA graphs saves most against plain PyTorch at small batch (the study: up to 73%): median saving
  {saving(hf, True):.0f}% at batch 1 against {saving(hf, False):.0f}% at larger batches \
({verdict(saving(hf, True) > saving(hf, False))}),
  partly because HF eager at batch 1 is CPU-launch bound.
- CUDA graphs help most at small batch ({verdict(saving(graphs, True) > saving(graphs, False))}): median saving \
{saving(graphs, True):.0f}% at batch 1 against
  {saving(graphs, False):.0f}% at larger batches (vLLM eager vs graphs table).
- FLOPs/TDP underestimates ({verdict(bool((ratio > 1).all()))}: measured energy is above it in \
{100 * (ratio > 1).mean():.0f}% of cells), with a
  {'wider' if np.quantile(ratio, 0.9) > 6 else 'narrower'} spread than the study's 1.3x-6x (10th-90th percentile \
above).
- Offline full-batch estimates (the study's method) miss what a served GPU spends waiting: measured online
  against measured offline energy of the same requests on the H100, {online_vs_offline(d.online)} \
([validation.md](validation.md)).
- {'Not measured on the H100: speculative decoding. ' if d.spec_ours == PENDING else ''}{d.elsewhere}

## Caveats

- HF cells came from two hosts: the 4-GPU leases, with four sweeps at once, and a 1-GPU lease. HF eager
  cells measured by more than one run ({len(hosts)} cells) differ between runs by a median \
{100 * hosts.median():.0f}% and up to
  {100 * hosts.max():.0f}% (median {100 * d.small_b.median():.0f}% at batch 1-4, where HF is launch-bound, against
  {100 * d.large_b.median():.0f}% above); the model keeps each cell's latest measurement.
- Cells measured more than once pool their repetitions in `data cells`; the model and this page use the latest.
"""


def outside_data(d: Findings) -> str:
    """The notes that read our measurements against outside ones (docs/measurements/*.md), one line each."""
    if not d.outside:
        return ""
    lines = "".join(f"- [{title}]({path})\n" for path, title in d.outside)
    return f"""## Read against outside measurements and on their own

Each note reads this tool's measurements or answers against a public source or a diagnostic run, with its numbers:

{lines}
"""


SECTIONS = (header, study, reference_points, batching, options, rate, tensor_parallel, model_families, flops_tdp,
            outside_data, what_holds)


def render(d: Findings) -> str:
    """The whole page."""
    return "".join(section(d) for section in SECTIONS)

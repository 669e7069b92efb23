"""Everything the findings page states, computed from its inputs (no I/O): `compute(FindingsInputs) -> Findings`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from energy_predict.analysis.cells import (
    all_cells,
    between_runs,
    cell_j_per_token,
    matched_ratio,
    per_run_cell,
)
from energy_predict.analysis.figures import per_token_curve, rate_sweep
from energy_predict.analysis.measurements import meter_summary, padding_table
from energy_predict.analysis.reference import compile_row, decoding_row, decoding_rules
from energy_predict.analysis.replays import h100_replays, online_offline_ratios, replay_rates
from energy_predict.analysis.runs import campaign_runs, gpu_meta, idle_power, other_gpus
from energy_predict.analysis.speculative import (
    speculative_check,
    speculative_match,
    speculative_measured,
    speculative_row,
    speculative_why,
)
from energy_predict.analysis.subject import (
    FAMILY_CAMPAIGN,
    H100,
    HF_COMPILE,
    HF_EAGER,
    LLAMA8,
    VLLM_EAGER,
    VLLM_GRAPHS,
    VLLM_PREFIX,
    card_json,
    deployment,
    modelled,
)
from energy_predict.analysis.tables import (
    families,
    flops_tdp_ratio,
    fp8_table,
    hf_options_table,
    tensor_parallel_table,
)
from energy_predict.datasets import cell_table

# Quoted from ../shared/notes/h100-first-measurements.md (J per output token), the reference this page checks.
NOTES_HF_B1 = (4.8, 5.1)  # HF eager, batch 1, 512 -> 128, two machines (~5 J)
NOTES_VLLM_B1 = (2.86, 2.89)  # vLLM CUDA graphs, batch 1, 512 -> 256, two machines
NOTES_VLLM_B256 = 0.060  # vLLM CUDA graphs, batch 256, 1024 -> 256


@dataclass(frozen=True)
class FindingsInputs:
    """What the page is computed from, read at the edge (`findings.load_inputs`).

    `table`: the training table (every GPU); `records`: every calibration record; `run_meta`: each run's run.json
    by run id; `replays`: every replay record; `padding_rows` / `padding_fits`: the HF padding A/B (raw rows, or
    (name, content) of the fit files, newest first); `meter`: (file, text) of the latest meter-overhead A/B or None;
    `tp_transfer`, `model_transfer`, `gpu_transfer`: the benchmarks' results; `case`: the conversation profile's
    case (the rate sweep's workload).
    """

    model: object
    table: pd.DataFrame
    records: pd.DataFrame
    run_meta: dict[str, dict]
    replays: list[dict]
    padding_rows: list[dict]
    padding_fits: list[tuple[str, dict]]
    meter: tuple[str, str] | None
    tp_transfer: dict
    model_transfer: dict
    gpu_transfer: dict
    case: object
    outside: tuple[tuple[str, str], ...] = ()  # (docs-relative path, title) of each finding against outside data


@dataclass(frozen=True)
class Findings:
    """The page's numbers, tables and sentences, as `findings_page.render` and `study_rows.study_rows` use them."""

    table: pd.DataFrame  # the H100's training table (modelled cells)
    cells: pd.DataFrame  # every measured H100 cell (latest run)
    reps: list[int]
    gpus: str
    counts: dict[str, tuple[int, float]]
    curve: pd.DataFrame
    fall: float
    decode_share: float
    hf_runs: dict[str, float]
    vllm_b1: float
    vllm_b1_note: str
    no_cache: float
    cache: float
    big_j: float
    big_decode_j: float
    meter: tuple[str, str]
    compile_cells: int
    compile_modelled: bool
    hf_vs_vllm: pd.DataFrame
    vllm_eager_vs_graphs: pd.DataFrame
    hf_eager_vs_compile: pd.DataFrame
    fp8: pd.DataFrame
    opts: pd.DataFrame
    pad: pd.DataFrame
    pad_source: str
    empty_w: list[float]
    loaded_w: list[float]
    sweep: list[dict]
    best: dict
    cheapest_free: dict
    beyond_one: list[float]
    one_gpu_cheapest: bool
    replay_rates: str
    online: list[tuple[str, float]]
    tp_cells: pd.DataFrame
    tp_summary: dict
    law: dict
    family_cells: pd.DataFrame
    moe: dict
    mt: dict
    logo: dict
    ratio: np.ndarray
    hosts: pd.Series
    small_b: pd.Series
    large_b: pd.Series
    elsewhere: str
    decoding: str
    rules: str
    spec_ours: str
    spec_ratio: str
    spec_why: str
    compile_ours: str
    compile_ratio: str
    outside: tuple[tuple[str, str], ...] = ()


def cheapest_counts(sweep: list[dict], best: dict) -> dict:
    """Per rate of `best`: the GPU count of least energy per request among those that sustain it (None: none)."""
    return {rate: min((r for r in sweep if r["rate_per_s"] == rate and not r["overloaded"]),
                      key=lambda r: r["energy_per_request_j"], default={"gpus": None})["gpus"]
            for rate in best}


def vllm_b1_against_notes(vllm_b1: float) -> str:
    """Where vLLM's measured batch-1 cell lies against the notes' range, in words."""
    off = 100 * max(NOTES_VLLM_B1[0] / vllm_b1 - 1, vllm_b1 / NOTES_VLLM_B1[1] - 1, 0.0)
    return ("lies within the notes' range" if off == 0 else
            f"is {off:.1f}% {'below' if vllm_b1 < NOTES_VLLM_B1[0] else 'above'} the notes' range")


def compute(inputs: FindingsInputs) -> Findings:
    """The page's numbers from its inputs; the H100's cells only (other GPUs' are counted in one sentence)."""
    model = inputs.model
    table = inputs.table[inputs.table["gpu"] == H100.name]
    every = inputs.records
    records = every[every["gpu"] == H100.name]
    cells = all_cells(records)
    tp_cells, tp_summary = tensor_parallel_table(table)
    family_cells, moe = families(table, campaign_runs(inputs.run_meta, FAMILY_CAMPAIGN))
    curve = per_token_curve(model)
    graphs = curve[curve.serving == "vLLM CUDA graphs"].model_j_per_token
    sweep, best = rate_sweep(model, inputs.case)
    cheapest_free = cheapest_counts(sweep, best)
    fewest = min(r["gpus"] for r in sweep)
    beyond_one = [rate for rate in best if any(r["rate_per_s"] == rate and r["gpus"] == fewest and r["overloaded"]
                                               for r in sweep)]
    summary = cell_table(records)
    big = model.batch_phases(deployment("vLLM CUDA graphs"), 256, 1024, 256)
    split = model.batch_phases(deployment("vLLM CUDA graphs"), 16, 1024, 256)
    vllm_b1 = cell_j_per_token(cells, VLLM_GRAPHS, 1, 512, 256)
    runs = sorted(records["run_id"].unique())
    empty_w, loaded_w = idle_power(inputs.run_meta, runs)
    hosts = between_runs(records, HF_EAGER)
    batch = hosts.index.get_level_values("batch_size")
    h100 = h100_replays(inputs.replays)
    spec_ours, spec_ratio = speculative_row(records, cells, model)
    spec_measured = speculative_measured(records, cells)
    card = card_json(model)
    spec_card = (card.get("options", {}).get("speculative") or [None])[0]
    compile_ours, compile_ratio = compile_row(records, cells)
    pad, pad_source = padding_table(inputs.padding_rows, inputs.padding_fits)
    return Findings(
        table=table, cells=cells, reps=sorted(int(n) for n in cells["n"].unique()),
        gpus=gpu_meta(inputs.run_meta, runs),
        counts={b: (len(g), 100 * g["cv"].median()) for b, g in summary.groupby("backend")},
        curve=curve, fall=float(graphs.iloc[0] / graphs.iloc[-1]),
        decode_share=float(split.decode_j[0] / split.energy_j[0]),
        hf_runs=per_run_cell(records, LLAMA8.name, HF_EAGER, 1, 512, 128),
        vllm_b1=vllm_b1, vllm_b1_note=vllm_b1_against_notes(vllm_b1),
        no_cache=cell_j_per_token(cells, VLLM_GRAPHS, 256, 1024, 256),
        cache=cell_j_per_token(cells, VLLM_PREFIX, 256, 1024, 256),
        big_j=float(big.energy_j[0]), big_decode_j=float(big.decode_j[0]),
        meter=(inputs.meter[0], meter_summary(inputs.meter[1])) if inputs.meter else ("not run", "n/a"),
        compile_cells=int((cells["config"] == HF_COMPILE).sum()), compile_modelled=modelled(model, "HF compiled"),
        hf_vs_vllm=matched_ratio(cells[cells["model"] == LLAMA8.name], HF_EAGER, VLLM_GRAPHS),
        vllm_eager_vs_graphs=matched_ratio(cells, VLLM_EAGER, VLLM_GRAPHS),
        hf_eager_vs_compile=matched_ratio(cells, HF_EAGER, HF_COMPILE),
        fp8=fp8_table(cells), opts=hf_options_table(cells), pad=pad, pad_source=pad_source,
        empty_w=empty_w, loaded_w=loaded_w, sweep=sweep, best=best, cheapest_free=cheapest_free,
        beyond_one=beyond_one,
        one_gpu_cheapest=all(g == fewest for rate, g in cheapest_free.items()
                             if g is not None and rate not in beyond_one),
        replay_rates=replay_rates(h100), online=online_offline_ratios(h100),
        tp_cells=tp_cells, tp_summary=tp_summary,
        law=inputs.tp_transfer["gpus"][H100.name]["leave_one_tp_out"],
        family_cells=family_cells, moe=moe, mt=inputs.model_transfer["lomo"], logo=inputs.gpu_transfer,
        ratio=flops_tdp_ratio(table), hosts=hosts, small_b=hosts[batch <= 4], large_b=hosts[batch > 4],
        elsewhere=other_gpus(every[every["gpu"] != H100.name]), decoding=decoding_row(records),
        rules=decoding_rules(card), spec_ours=spec_ours, spec_ratio=spec_ratio,
        spec_why=speculative_why(spec_card, spec_measured, speculative_match(model),
                                 speculative_check(model, spec_measured)),
        compile_ours=compile_ours, compile_ratio=compile_ratio, outside=inputs.outside)

"""Regenerate docs/findings.md and its plots from the committed calibration data and default model.

python docs/make_findings.py  (or python -m energy_predict.analysis.findings)
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from energy_predict.analysis.paths import repository_docs  # noqa: E402
from energy_predict.architectures import REGISTRY  # noqa: E402
from energy_predict.datasets import all_records, calibration_dir, cell_stats, cell_table  # noqa: E402
from energy_predict.errors import EnergyPredictError  # noqa: E402
from energy_predict.gpus import CATALOG  # noqa: E402
from energy_predict.model.analytic import FlopsTdpEstimator  # noqa: E402
from energy_predict.model.dataset import training_table  # noqa: E402
from energy_predict.model.store import load_default_model  # noqa: E402
from energy_predict.predict.whatif import option_effect  # noqa: E402
from energy_predict.serving import Deployment, Serving  # noqa: E402

DOCS = repository_docs()
FIG = DOCS / "figures"
H100 = CATALOG["H100-SXM-80GB"]
LLAMA8 = REGISTRY["Llama-3.1-8B"]
SERVING = {
    "HF eager": Serving(framework="hf"),
    "HF compiled": Serving(framework="hf", compile=True),
    "vLLM eager": Serving(framework="vllm", cuda_graphs=False),
    "vLLM CUDA graphs": Serving(framework="vllm", cuda_graphs=True),
    "vLLM CUDA graphs fp8": Serving(framework="vllm", cuda_graphs=True, quantization="fp8"),
}
CONFIG_OF = {"HF eager": "hf-eager", "HF compiled": "hf-compile", "vLLM eager": "vllm-eager",
             "vLLM CUDA graphs": "vllm-graphs", "vLLM CUDA graphs fp8": "vllm-graphs-fp8"}


def all_cells(records: pd.DataFrame) -> pd.DataFrame:
    """Every measured cell of every config; a cell measured twice keeps its latest run."""
    frames = [cell_stats(r).assign(run_id=run_id, started=r["started"].iloc[0])
              for run_id, r in records.groupby("run_id")]
    cells = pd.concat(frames, ignore_index=True).sort_values("started")
    return cells.drop_duplicates(["model", "config", "batch_size", "input_tokens", "output_tokens"], keep="last")


def deployment(label: str) -> Deployment:
    """Llama-3.1-8B on one H100 served as `label` says."""
    return Deployment(LLAMA8, H100, SERVING[label])


def modelled(model, label: str) -> bool:
    """Whether the model answers for this serving configuration (it refuses one with too few cells to fit)."""
    try:
        model.basis(deployment(label))
    except EnergyPredictError:
        return False
    return True


def per_token_vs_batch(model, table: pd.DataFrame) -> tuple[Path, pd.DataFrame]:
    i, o = 512, 128
    batches = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = []
    for k, label in enumerate(SERVING):
        if label.endswith("fp8"):
            continue
        if modelled(model, label):
            pred = model.batch_phases(deployment(label), batches, i, o).energy_j / (batches * o)
            ax.plot(batches, pred, color=f"C{k}", label=f"{label} (model)")
        else:  # a configuration the model refuses (too few cells to fit): dots only
            pred = np.full(len(batches), np.nan)
        m = table[(table["config"] == CONFIG_OF[label]) & (table["model"] == LLAMA8.name)
                  & (table["input_tokens"] == i) & (table["output_tokens"] == o)]
        ax.scatter(m["batch_size"], m["energy_j"] / (m["batch_size"] * o), color=f"C{k}", marker="o", zorder=3,
                   label=f"{label} (measured only)" if np.isnan(pred).all() else None)
        rows += [{"serving": label, "batch_size": int(b), "model_j_per_token": float(p)} for b, p in zip(batches, pred)]
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("J per output token (whole request)")
    ax.set_title("Llama-3.1-8B on H100, 512 -> 128: dots measured, lines model", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = FIG / "energy_per_token_vs_batch.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path, pd.DataFrame(rows)


def phase_split(model) -> Path:
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
    path = FIG / "prefill_decode_split.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


TTFT_TARGET_S = 0.5  # latency target of the rate sweep: p90 time to first token
# Quoted from ../shared/notes/h100-first-measurements.md (J per output token), the reference this page checks.
NOTES_HF_B1 = (4.8, 5.1)  # HF eager, batch 1, 512 -> 128, two machines (~5 J)
NOTES_VLLM_B1 = (2.86, 2.89)  # vLLM CUDA graphs, batch 1, 512 -> 256, two machines
NOTES_VLLM_B256 = 0.060  # vLLM CUDA graphs, batch 256, 1024 -> 256


def rate_sweep(model) -> tuple[Path, list[dict], dict]:
    """Energy per request against request rate and GPU count for the conversation profile (shipped model)."""
    from energy_predict.predict.plots import plot_rate_sweep
    from energy_predict.predict.run import load_case
    from energy_predict.predict.serving import sweep_rates

    case = load_case(DOCS.parent / "examples" / "conversation.json")
    sweep = sweep_rates(case.workload, case.dep, model, [0.5, 1, 2, 4, 8, 16, 32], max_gpus=4,
                        ttft_p90_s=TTFT_TARGET_S)
    rows, best = sweep.to_json()["points"], {rate: sweep.best_gpus(rate) for rate in sweep.rates}
    path = FIG / "energy_per_request_vs_rate.png"
    plot_rate_sweep(sweep, path, "conversation profile, Llama-3.1-8B, vLLM CUDA graphs, H100 (default model)")
    return path, rows, best


def padding_ab() -> tuple[pd.DataFrame, str]:
    """The HF padding A/B: energy per variant and cell, and where the numbers come from (artifacts/padding/).

    Raw A/B rows (`*.jsonl`) where committed; else the cell means the padding fit file carries (its raw rows
    were lost, and it says so).
    """
    import json

    from energy_predict.model.padding import read_ab

    folder = DOCS.parent / "artifacts" / "padding"
    rows = [r for f in sorted(folder.glob("*.jsonl")) for r in read_ab(f)[1]]
    if rows:
        frame = pd.DataFrame(rows).groupby(["b", "i", "o", "variant"])["energy_j"].mean().unstack("variant")
        return frame[[c for c in ("ones", "pad1", "padded") if c in frame]].reset_index(), "the raw A/B rows"
    for fit in sorted(folder.glob("*.fit.json"), reverse=True):
        means = json.loads(fit.read_text()).get("published_cell_means_j")
        if means:
            frame = pd.DataFrame(means["rows"], columns=means["columns"]).astype(float)
            frame[["b", "i", "o"]] = frame[["b", "i", "o"]].astype(int)
            return frame, (f"`artifacts/padding/{fit.name}`: means of the A/B rows rounded to 1 J (the raw rows "
                           "were never committed and are lost; the fit file says so)")
    return pd.DataFrame(), "not measured"


def other_gpus(records: pd.DataFrame) -> str:
    """One sentence on what was measured on GPUs other than the H100 (not on this page)."""
    if not len(records):
        return ""
    ok = records[records["status"] == "ok"]
    parts = []
    for (gpu, tp), g in ok.groupby(["gpu", ok["tensor_parallel"].fillna(1).astype(int)]):
        n = len(g.drop_duplicates(["model", "config", "batch_size", "input_tokens", "output_tokens"]))
        parts.append(f"{gpu} tensor parallel {tp}: {n} distinct cells of {', '.join(sorted(g['model'].unique()))}")
    runs = ", ".join(sorted(ok["run_id"].unique()))
    return f"Measured on other GPUs, not on this page ({runs}): " + "; ".join(parts) + "."


def idle_power(run_ids) -> tuple[list[float], list[float]]:
    """(empty, loaded) idle power readings (W) of the runs' GPUs, from their run.json."""
    import json

    empty, loaded = [], []
    for run in run_ids:
        meta = json.loads((calibration_dir() / run / "run.json").read_text())
        for key, watts in meta.get("idle_power_w", {}).items():
            if watts is not None and key == "before":
                empty.append(watts)
            elif watts is not None and key.startswith("loaded:"):
                loaded.append(watts)
    return empty, loaded


def gpu_meta(run_ids) -> str:
    """'NAME, driver D, P W power limit' of every distinct GPU setting the runs recorded."""
    import json

    seen = []
    for run in run_ids:
        for g in json.loads((calibration_dir() / run / "run.json").read_text()).get("meter", {}).get("gpus", []):
            desc = f"{g.get('name')}, driver {g.get('driver')}, {g.get('power_limit_w', 0):.0f} W power limit"
            if desc not in seen:
                seen.append(desc)
    return "; ".join(seen) or "not recorded"


def between_runs(records: pd.DataFrame, config: str) -> pd.Series:
    """Per cell measured by more than one run: max over min of the runs' medians, minus 1."""
    ok = records[(records["config"] == config) & (records["status"] == "ok") & records["energy_j"].notna()]
    medians = ok.groupby(["model", "batch_size", "input_tokens", "output_tokens", "run_id"])["energy_j"].median()
    spread = medians.groupby(level=[0, 1, 2, 3]).agg(["max", "min", "size"])
    spread = spread[spread["size"] > 1]
    return spread["max"] / spread["min"] - 1


def meter_ab() -> tuple[str, str]:
    """(file, 'x s median with no meter, ...') from the latest committed meter-overhead A/B."""
    import re

    files = sorted((DOCS / "measurements").glob("*meter-overhead*.txt"))
    if not files:
        return "not run", "n/a"
    parts = []
    for line in files[-1].read_text().splitlines():
        m = re.match(r"(.+?)\s+time_s ([\d.]+) \[([^\]]*)\]", line)
        if m:
            runs = [float(x) for x in m.group(3).split(",")]
            parts.append(f"{float(m.group(2)):.2f} s median ({min(runs):.2f}-{max(runs):.2f}) with {m.group(1).strip()}")
    return f"docs/measurements/{files[-1].name}", "; ".join(parts)


def replay_gpu(replay: dict) -> str:
    """The catalog name of the GPU a replay record was measured on (its meter's first GPU)."""
    from energy_predict.gpus import resolve_gpu

    gpus = replay.get("meter", {}).get("gpus") or [{"name": "unknown"}]
    try:
        return resolve_gpu(gpus[0]["name"]).name
    except EnergyPredictError:
        return str(gpus[0]["name"])


def h100_replays(folder: Path | None = None) -> list[dict]:
    """The replay records (`artifacts/replays/`) measured on the H100: this page's GPU."""
    from energy_predict.predict.replays import load_replays

    return [r for r in load_replays(folder or DOCS.parent / "artifacts" / "replays") if replay_gpu(r) == H100.name]


def replay_rates() -> str:
    """'a-b req/s', the range of request rates of the online replays measured on the H100."""
    rates = [r["rate_per_s"] for r in h100_replays() if r["mode"] == "online" and r.get("rate_per_s")]
    return f"{min(rates):g}-{max(rates):g} req/s" if rates else "none measured"


def online_offline_ratios(reps: list[dict] | None = None) -> list[tuple[str, float]]:
    """(replay, measured online over measured offline energy) of the same vLLM replay requests, per trace and rate.

    H100 replays only (`h100_replays`) unless `reps` is given; an online replay is divided by the offline replay of
    the same trace on the same GPU with the same prefix-caching setting, never by another GPU's.
    """
    reps = h100_replays() if reps is None else reps

    def key(r: dict) -> tuple:
        return replay_gpu(r), r["trace"], bool(r.get("config", {}).get("enable_prefix_caching"))

    offline = {key(r): np.mean([x["energy_j"] for x in r["runs"]]) for r in reps
               if r["backend"] == "vllm" and r["mode"] == "offline"}
    out = []
    for r in sorted(reps, key=lambda r: (r["trace"], r.get("arrivals", ""), r.get("rate_per_s") or 0)):
        if r["backend"] == "vllm" and r["mode"] == "online" and key(r) in offline:
            ratio = np.mean([x["energy_j"] for x in r["runs"]]) / offline[key(r)]
            name = r["trace"].removeprefix("AzureLLMInferenceTrace_").removesuffix(".csv")
            out.append((f"{name} {r.get('arrivals', 'trace')} {r['rate_per_s']:g} req/s", float(ratio)))
    return out


def online_vs_offline(ratios: list[tuple[str, float]]) -> str:
    """The ratios of `online_offline_ratios` as one line."""
    return "; ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios) if ratios else "no replays measured"


def per_run_cell(records: pd.DataFrame, model: str, config: str, b: int, i: int, o: int) -> dict[str, float]:
    """J per output token of one cell in each run that measured it, oldest first."""
    r = records
    m = r[(r["model"] == model) & (r["config"] == config) & (r["batch_size"] == b) & (r["input_tokens"] == i)
          & (r["output_tokens"] == o) & (r["status"] == "ok")].sort_values("started")
    medians = m.groupby("run_id", sort=False)["energy_j"].median()
    return {run_id: float(e) / (b * o) for run_id, e in medians.items()}


def fp8_table(cells: pd.DataFrame) -> pd.DataFrame:
    key = ["model", "batch_size", "input_tokens", "output_tokens"]
    bf16 = cells[cells["config"] == "vllm-graphs"].set_index(key)
    fp8 = cells[cells["config"] == "vllm-graphs-fp8"].set_index(key)
    both = fp8[["energy_j"]].merge(bf16[["energy_j"]], left_index=True, right_index=True,
                                   suffixes=("_fp8", "_bf16")).reset_index()
    both["fp8_over_bf16"] = both["energy_j_fp8"] / both["energy_j_bf16"]
    return both[key + ["energy_j_bf16", "energy_j_fp8", "fp8_over_bf16"]]


def matched_ratio(cells: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    key = ["model", "batch_size", "input_tokens", "output_tokens"]
    x = cells[cells["config"] == a].set_index(key)[["energy_j"]]
    y = cells[cells["config"] == b].set_index(key)[["energy_j"]]
    both = x.merge(y, left_index=True, right_index=True, suffixes=("_a", "_b")).reset_index()
    both["saving_pct"] = 100 * (1 - both["energy_j_b"] / both["energy_j_a"])
    return both


def verdict(holds: bool) -> str:
    return "holds" if holds else "does not hold"


def saving(matched: pd.DataFrame, batch_one: bool) -> float:
    """Median saving (%) of matched cells at batch 1, or above it."""
    rows = matched[(matched["batch_size"] == 1) == batch_one]
    return float(rows["saving_pct"].median()) if len(rows) else float("nan")


def md(frame: pd.DataFrame, floatfmt: str = "{:.3g}") -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(floatfmt.format(v) if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def tensor_parallel_table() -> tuple[pd.DataFrame, dict]:
    """Each degree against TP1 on the same cells (Llama-3.1-8B, vLLM graphs, H100), from the committed runs."""
    tp = training_table(configs=("vllm-graphs", "vllm-graphs-tp2-noarfusion", "vllm-graphs-tp4-noarfusion"))
    tp = tp[(tp["model"] == "Llama-3.1-8B") & (tp["gpu"] == H100.name)]
    cells = ["batch_size", "input_tokens", "output_tokens"]
    one, two, four = (tp[tp["tensor_parallel"] == n].set_index(cells) for n in (1, 2, 4))
    both = one[["energy_j", "duration_s"]].add_suffix("_tp1").join(
        four[["energy_j", "duration_s"]].add_suffix("_tp4"), how="inner").join(
        two[["energy_j", "duration_s"]].add_suffix("_tp2"), how="left")
    tokens = both.index.get_level_values("batch_size") * both.index.get_level_values("output_tokens")
    for t in (1, 2, 4):
        both[f"J/token TP{t}"] = both[f"energy_j_tp{t}"] / tokens
    for t in (2, 4):
        both[f"energy TP{t}/TP1"] = both[f"energy_j_tp{t}"] / both["energy_j_tp1"]
        both[f"latency TP{t}/TP1"] = both[f"duration_s_tp{t}"] / both["duration_s_tp1"]
    out = both[["J/token TP1", "J/token TP2", "J/token TP4", "energy TP2/TP1", "latency TP2/TP1", "energy TP4/TP1",
                "latency TP4/TP1"]].reset_index()
    b1 = out[out["batch_size"] == 1]
    summary = {"gpu": H100.name, "n4": int(out["energy TP4/TP1"].notna().sum()),
               "n2": int(out["energy TP2/TP1"].notna().sum()),
               **{f"{w}{t}": out[f"{w} TP{t}/TP1"].median() for w in ("energy", "latency") for t in (2, 4)},
               **{f"b1_{w}{t}": b1[f"{w} TP{t}/TP1"].median() for w in ("energy", "latency") for t in (2, 4)}}
    return out, summary


def families() -> tuple[pd.DataFrame, dict]:
    """Energy per output token of every measured model on the new-model cells (H100, vLLM graphs, one engine each)."""
    table = training_table()
    new = table[(table["gpu"] == H100.name) & table["run_id"].str.contains("x4c")]
    new = new[new["config"].isin(["vllm-graphs", "vllm-graphs-mem95", "vllm-graphs-tp2-noarfusion"])]
    new = new[new["model"] != "Llama-3.1-8B"]
    old = table[(table["gpu"] == H100.name) & (table["model"] == "Llama-3.1-8B") & (table["config"] == "vllm-graphs")]
    frame = pd.concat([new, old])
    frame = frame.assign(jpt=frame["energy_j"] / (frame["batch_size"] * frame["output_tokens"]))
    cells = [(1, 128, 128), (8, 128, 128), (64, 128, 128), (256, 128, 128), (64, 512, 32)]
    rows = []
    for (model, tp), g in frame.groupby(["model", "tensor_parallel"]):
        arch = REGISTRY[model]
        g = g.set_index(["batch_size", "input_tokens", "output_tokens"])
        rows.append({"model": model, "GPUs": int(tp), "total B": round(arch.total_params / 1e9, 1),
                     "active B": round(arch.active_params / 1e9, 1), "experts": arch.num_experts or "-",
                     **{f"J/tok b{b} {i}->{o}": (round(float(g.loc[(b, i, o), "jpt"]), 3)
                                                 if (b, i, o) in g.index else None) for b, i, o in cells}})
    out = pd.DataFrame(rows).sort_values(["experts", "active B"], key=lambda c: c.astype(str)).reset_index(drop=True)

    def ratio(a, b, cell):
        col = f"J/tok b{cell[0]} {cell[1]}->{cell[2]}"
        va, vb = (out.loc[out["model"] == m, col].iloc[0] for m in (a, b))
        return va / vb if va and vb else float("nan")

    summary = {f"{a}/{b} b{c[0]}": ratio(a, b, c) for a, b in (("OLMoE-1B-7B", "OLMo-1B"), ("OLMoE-1B-7B", "OLMo-7B"),
                                                             ("Qwen3-30B-A3B", "Qwen2.5-7B"),
                                                             ("Qwen3-30B-A3B", "Qwen2.5-32B"))
               for c in cells[:4]}
    return out, summary


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


def quote(finding: str) -> tuple[str, tuple[float, ...]]:
    """The study's quote and its factors; ValueError where a factor's percentage is not in the quote."""
    text, factors = REFERENCE[finding]
    for f in factors:
        if f"{abs(round(100 * (f - 1)))}%" not in text:
            raise ValueError(f"reference {finding!r}: factor {f} is not what {text} says")
    return text, factors


COMPILE_MIN_CELLS = 40  # issue 17: "enough cells (>= 40, batch 1 to the largest that fits) to model it"
PENDING = "not measured yet"


def unless_pending(ours: str, why: str) -> str:
    """A row's reason: `why` once the row has a measurement, else that it has none yet."""
    return "Not measured yet on the H100." if ours == PENDING else why


def lease(run_id: str) -> str:
    """The lease a run was taken on ('x4b' of '2026-11-27-x4b-hf-sampling'): runs of one lease share a host."""
    return run_id.split("-")[3]


def paired_ratios(records: pd.DataFrame, a: str, b: str, model: str = LLAMA8.name) -> pd.DataFrame:
    """Energy of config `b` over config `a`, per cell that both measured (`model`, ok records).

    `b`'s latest run is paired with `a`'s latest run of the same lease where there is one, else with `a`'s latest
    run: HF at small batch follows its host, so a cross-lease pair can differ by more than the effect (Caveats).
    """
    ok = records[(records["model"] == model) & (records["status"] == "ok") & records["energy_j"].notna()
                 & records["config"].isin([a, b])]
    cell = ["batch_size", "input_tokens", "output_tokens"]
    runs = ok.groupby(["config", *cell, "run_id"]).agg(energy_j=("energy_j", "median"), started=("started", "first"))
    runs = runs.reset_index().assign(lease=lambda f: f["run_id"].map(lease)).sort_values("started")
    rows = []
    for key, g in runs.groupby(cell):
        x, y = g[g["config"] == a], g[g["config"] == b]
        if not len(x) or not len(y):
            continue
        yb = y.iloc[-1]
        same = bool((x["lease"] == yb["lease"]).any())
        xa = x[x["lease"] == yb["lease"]].iloc[-1] if same else x.iloc[-1]
        rows.append(dict(zip(cell, key)) | {"ratio": yb["energy_j"] / xa["energy_j"], "same_lease": same,
                                           "lease": yb["lease"]})
    return pd.DataFrame(rows, columns=[*cell, "ratio", "same_lease", "lease"])


def pct(factor: float) -> str:
    """'+20%' for a factor of 1.20."""
    return f"{100 * (factor - 1):+.0f}%"


def effect_ratio(ours: float, theirs: float) -> str:
    """Our change over theirs, both as factors (x1.20 against x1.29: 0.69); 'opposite sign' where they disagree."""
    if np.isnan(ours):
        return "-"
    r = (ours - 1) / (theirs - 1)
    return f"{r:.2f}" if r >= 0 else f"{r:.2f} (opposite sign)"


def speculative_configs(records: pd.DataFrame) -> list[str]:
    """Configs of speculative-decoding runs: a `speculative_model` in their records, or a name 'vllm-spec...'."""
    named = {c for c in records["config"].unique() if str(c).startswith("vllm-spec")}
    if "speculative_model" in records:
        named |= set(records.loc[records["speculative_model"].notna(), "config"].unique())
    return sorted(named)


SPEC_DRAFT, SPEC_K = "Llama-3.2-1B", 4  # the study's draft model and draft length (gamma)
SPEC_RATES = (0.6, 0.8, 1.0)  # acceptance rates (vLLM's accepted / drafted tokens) the model's numbers assume
SPEC_LARGE = 128  # the study's large batch


def first_value(frame: pd.DataFrame, column: str):
    """The first non-null value of `column` in `frame`, None where it has none (or no such column)."""
    return frame[column].dropna().iloc[0] if column in frame and frame[column].notna().any() else None


def speculative_measured(records: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """One row per speculative config of Llama-3.1-8B: its draft, draft length and measured acceptance, and its energy
    over vLLM graphs' on the same cells, per batch size (median over the matched cells of that batch size).

    Acceptance is vLLM's count, accepted over drafted tokens: the median of the config's records (`acceptance`), its
    lowest and highest median over batch sizes, and its median at batch 1; NaN without the counters.
    """
    rows = []
    for config in speculative_configs(records):
        r = records[(records["config"] == config) & (records["model"] == LLAMA8.name) & (records["status"] == "ok")]
        matched = matched_ratio(cells[cells["model"] == LLAMA8.name], "vllm-graphs", config)
        by_batch = (1 - matched.groupby("batch_size")["saving_pct"].median() / 100).sort_index()
        if {"counter_accepted_tokens", "counter_draft_tokens"} <= set(r.columns):
            rate = r["counter_accepted_tokens"] / r["counter_draft_tokens"]
            per_batch = rate.groupby(r["batch_size"]).median().dropna()
        else:
            rate, per_batch = pd.Series(dtype=float), pd.Series(dtype=float)
        nan = float("nan")
        k, setting = first_value(r, "num_speculative_tokens"), first_value(r, "synthetic_acceptance")
        rows.append({"config": config, "draft": first_value(r, "speculative_model"),
                     "k": int(k) if k is not None else None, "setting": float(setting) if setting is not None else None,
                     "acceptance": float(rate.median()) if rate.notna().any() else nan,
                     "acc_lo": float(per_batch.min()) if len(per_batch) else nan,
                     "acc_hi": float(per_batch.max()) if len(per_batch) else nan,
                     "acc_b1": float(per_batch[1]) if 1 in per_batch.index else nan,
                     "cells": len(matched), "by_batch": by_batch})
    return pd.DataFrame(rows, columns=["config", "draft", "k", "setting", "acceptance", "acc_lo", "acc_hi", "acc_b1",
                                       "cells", "by_batch"])


def crossover(by_batch: pd.Series) -> str:
    """Where speculation stops paying, from its energy factor over greedy per batch size."""
    costs = by_batch[by_batch >= 1]
    if not len(costs):
        return f"no crossover up to batch {int(by_batch.index.max())}"
    if costs.index[0] == by_batch.index[0]:
        return f"costs from batch {int(costs.index[0])}"
    before = int(by_batch[by_batch.index < costs.index[0]].index.max())
    return f"crossover between batch {before} and {int(costs.index[0])}"


def acceptance_label(lo: float, hi: float) -> str:
    """'0', '1', '0.54-0.59': a measured acceptance (range over batch sizes)."""
    if np.isnan(lo):
        return "acceptance not counted"
    lo_s, hi_s = (f"{a:.2f}".rstrip("0").rstrip(".") for a in (lo, hi))
    return f"acceptance {lo_s}" if lo_s == hi_s else f"acceptance {lo_s}-{hi_s}"


def _card_json(model) -> dict:
    """A model's card as JSON (a typed card's stored form; none for an analytic model)."""
    card = getattr(model, "card", None)
    return card.to_json() if hasattr(card, "to_json") else (card or {})


def speculative_batches(model) -> np.ndarray:
    """Batch sizes 1 to the largest the model's speculative cells measured (its card), else to 256."""
    options = (_card_json(model).get("options") or {}).get("speculative") or []
    top = max((int(o["batch_size"][1]) for o in options if o.get("draft") == SPEC_DRAFT), default=256)
    return np.arange(1, top + 1)


def speculative_model_effect(model, rate: float, batches=None, k: int = SPEC_K, i: int = 512,
                             o: int = 128) -> pd.Series:
    """The default model's energy factor of speculative decoding (the study's draft, `k` tokens, acceptance `rate`)
    over greedy, Llama-3.1-8B on one H100 with vLLM graphs, per batch size (default: `speculative_batches`)."""
    from energy_predict.serving import Speculation

    batches = speculative_batches(model) if batches is None else np.asarray(batches)
    spec = Serving(speculative=Speculation(SPEC_DRAFT, k, rate))
    ratio = option_effect(model, Deployment(LLAMA8, H100, spec), batches, i, o)
    return pd.Series(np.asarray(ratio, dtype=float), index=batches)


def speculative_match(model, target: float | None = None) -> tuple[float, pd.Series] | None:
    """(acceptance, energy factor per batch) at the lowest acceptance (0.01 steps) where the default model's batch-1
    change reaches the study's (-29%), draft length 4; None where the model does not answer or never reaches it."""
    target = quote("speculative")[1][0] if target is None else target
    try:
        for rate in np.round(np.arange(0.0, 1.001, 0.01), 2):
            f = speculative_model_effect(model, float(rate))
            if f[1] <= target:
                return float(rate), f
    except EnergyPredictError:
        return None
    return None


def speculative_check(model, measured: pd.DataFrame) -> tuple[float, float, float] | None:
    """(acceptance, model factor, measured factor) at batch 1 of the highest measured middle point at draft length 4:
    the measured cell nearest the model's numbers in the table, beside the model's answer at its acceptance."""
    mids = measured[(measured["draft"] == SPEC_DRAFT) & (measured["k"] == SPEC_K)
                    & measured["acc_b1"].between(0.0, 1.0, inclusive="neither")
                    & measured["by_batch"].map(lambda b: 1 in b.index)]
    if model is None or not len(mids):
        return None
    top = mids.loc[mids["acc_b1"].idxmax()]
    try:
        f = speculative_model_effect(model, float(top["acc_b1"]), batches=[1])
    except EnergyPredictError:
        return None
    return float(top["acc_b1"]), float(f[1]), float(top["by_batch"][1])


def speculative_why(option: dict | None, measured: pd.DataFrame, match: tuple[float, pd.Series] | None,
                    check: tuple[float, float, float] | None = None) -> str:
    """The speculative row's reason: what acceptance means here, what was measured, how well the model holds out."""
    text = ("Random weights have no natural acceptance: the engine accepts drafted position j with probability p^j "
            "(a run of matches, as a real draft's), and the acceptance quoted is vLLM's count, accepted over drafted "
            "tokens.")
    if len(measured):
        draft = measured[measured["draft"] == SPEC_DRAFT]
        ks = draft["k"].dropna()
        ends = draft[draft["acceptance"].isin([0.0, 1.0])]
        middle = draft[draft["setting"].between(0.0, 1.0, inclusive="neither")]
        mids, others = middle[middle["k"] == SPEC_K], middle[middle["k"] != SPEC_K]
        text += (f" Measured with the {SPEC_DRAFT}-shaped draft: the ends (acceptance 0 and 1; {len(ends)} configs, "
                 f"draft lengths {int(ks.min())}-{int(ks.max())})" if len(ks) else " Measured: the ends")
        if len(mids):
            text += (" and middle points at p = " + "/".join(f"{x:g}" for x in sorted(mids["setting"])) + " (counted "
                     + "/".join(acceptance_label(r.acc_lo, r.acc_hi).removeprefix("acceptance ")
                                for r in mids.sort_values("setting").itertuples()) + f" at draft length {SPEC_K})")
        for setting, g in others.groupby("setting"):
            text += f", p = {setting:g} at draft lengths " + ", ".join(str(int(k)) for k in sorted(g["k"]))
        text += "."
    if option:
        h = option["held_out"]
        text += (f" The default model's step-cost fit ({option['fit']['all']['n']} cells, median error "
                 f"{100 * option['fit']['all']['median_ape']:.1f}%) predicts the middle cells from the ends alone within a "
                 f"median {100 * h['middle_from_ends']['median_ape']:.1f}% (p90 {100 * h['middle_from_ends']['p90_ape']:.1f}%), "
                 f"a held-out draft length within {100 * h['leave_one_k_out']['median_ape']:.1f}%, a held-out batch size "
                 f"within {100 * h['leave_one_batch_out']['median_ape']:.1f}%.")
    if check:
        text += (f" At the highest measured middle point (acceptance {check[0]:.2f} at batch 1) the model says "
                 f"{pct(check[1])} against {pct(check[2])} measured.")
    b1_ref, large_ref = quote("speculative")[1]
    text += " The study does not state its real draft's acceptance"
    if match:
        rate, f = match
        stops = f[f >= 1]
        text += (f"; at acceptance {rate:.2f}, where the model's batch-1 change is the study's {pct(b1_ref)}, ours is "
                 f"{pct(f[SPEC_LARGE])} at batch {SPEC_LARGE} (the study's {pct(large_ref)}) and "
                 + (f"stops paying from batch {int(stops.index[0])}" if len(stops)
                    else f"pays at every batch up to {int(f.index.max())}")
                 + " (the study's 8-16): in the model, speculation pays to larger batches here than in the study")
    return text + "."


def speculative_row(records: pd.DataFrame, cells: pd.DataFrame, model=None) -> tuple[str, str]:
    """(ours, ratio) of the speculative-decoding finding.

    Where `model` answers for speculative decoding: its change over greedy at batch 1 and 128 and where it stops
    paying, at draft length 4 and each acceptance of SPEC_RATES (512 -> 128), the ratio against the study's from
    these. Beside it what was measured at draft length 4 (each config against vLLM graphs on the same cells). Without
    a model, the measured configs alone give the ratio.
    """
    measured = speculative_measured(records, cells)
    if not len(measured):
        return PENDING, "-"
    b1_ref, large_ref = quote("speculative")[1]
    ours, ratios = [], []
    effects = {}
    if model is not None:
        try:
            effects = {rate: speculative_model_effect(model, rate) for rate in SPEC_RATES}
        except EnergyPredictError:
            effects = {}
    if effects:
        parts = []
        for rate, f in effects.items():
            stops = f[f >= 1]
            where = (f"stops paying from batch {int(stops.index[0])}" if len(stops)
                     else f"pays at every batch up to {int(f.index.max())}")
            parts.append(f"acceptance {rate:g}: batch 1 {pct(f[1])}, batch {SPEC_LARGE} {pct(f[SPEC_LARGE])}, {where}")
            ratios.append(f"acceptance {rate:g}: batch 1 {effect_ratio(f[1], b1_ref)}, batch {SPEC_LARGE} "
                          f"{effect_ratio(f[SPEC_LARGE], large_ref)}")
        ours.append(f"default model, {SPEC_DRAFT} draft, draft length {SPEC_K}, 512 -> 128: " + "; ".join(parts))
    usable = measured[measured["by_batch"].map(lambda b: 1 in b.index and len(b) >= 3)]
    thin = measured[~measured["config"].isin(usable["config"])]
    same_k = usable[(usable["k"] == SPEC_K) | usable["k"].isna()]
    if len(same_k):
        parts = []
        order = same_k.assign(other=same_k["draft"] != SPEC_DRAFT).sort_values(
            ["other", "acceptance"], ascending=[True, False], na_position="last")
        for r in order.itertuples():
            top = SPEC_LARGE if SPEC_LARGE in r.by_batch.index else int(r.by_batch.index.max())
            who = f"{r.draft} drafting for itself, " if r.draft == LLAMA8.name else ""
            parts.append(f"{who}{acceptance_label(r.acc_lo, r.acc_hi)} ({r.cells} cells): batch 1 {pct(r.by_batch[1])}, "
                         f"batch {top} {pct(r.by_batch[top])}, {crossover(r.by_batch)}")
            if not effects:
                ratios.append(f"{r.config}: batch 1 {effect_ratio(r.by_batch[1], b1_ref)}"
                              + (f", batch {SPEC_LARGE} {effect_ratio(r.by_batch[SPEC_LARGE], large_ref)}"
                                 if top == SPEC_LARGE else ""))
        ks = measured["k"].dropna()
        lengths = f", draft lengths {int(ks.min())}-{int(ks.max())}" if len(ks) and ks.min() != ks.max() else ""
        ours.append(f"measured ({int(measured['cells'].sum())} cells of {len(measured)} configs{lengths}, each against "
                    f"vLLM graphs on the same cells), at draft length {SPEC_K}: " + "; ".join(parts))
    if len(thin):
        ours.append("too thin: " + ", ".join(f"{r.config} ({r.cells} cells matched by vllm-graphs over "
                                             f"{len(r.by_batch)} batch sizes)" for r in thin.itertuples())
                    + "; batch 1 and at least 3 batch sizes needed")
    return "; ".join(ours) + ("" if effects else " (no model answer)"), "; ".join(ratios) or "-"


def compile_row(records: pd.DataFrame, cells: pd.DataFrame) -> tuple[str, str]:
    """(ours, ratio) of the torch.compile finding: hf-compile over hf-eager per output token at batch 1."""
    n = int(((cells["config"] == "hf-compile") & (cells["model"] == LLAMA8.name)).sum())
    if n == 0:
        return PENDING, "-"
    pairs = paired_ratios(records, "hf-eager", "hf-compile")
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
    vllm = paired_ratios(records, "vllm-graphs", "vllm-graphs-sampling")
    if len(vllm):
        b1 = vllm[vllm["batch_size"] == 1]
        parts.append(f"vLLM sampling over greedy: median {pct(vllm['ratio'].median())} ({pct(vllm['ratio'].min())} to "
                     f"{pct(vllm['ratio'].max())}, {len(vllm)} cells, batch {int(vllm['batch_size'].min())}-"
                     f"{int(vllm['batch_size'].max())}, {int(vllm['same_lease'].sum())} paired within one lease)"
                     + (f", at batch 1 {', '.join(pct(r) for r in b1['ratio'])}" if len(b1) else ""))
    else:
        parts.append("vLLM sampling: no cell paired with greedy")
    for config, label in (("hf-sampling", "HF sampling"), ("hf-beam4", "HF beam 4")):
        pairs = paired_ratios(records, "hf-eager", config)
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


def reference_table(rows: list[tuple[str, str, str, str, str]]) -> str:
    """The findings table: finding, the study's number (quoted), ours, ratio, why they differ."""
    head = "| finding | reference study (quoted) | ours, H100 | ours / theirs | why they differ |\n|---|---|---|---|---|"
    return head + "".join(f"\n| {' | '.join(r)} |" for r in rows)


def main() -> None:
    FIG.mkdir(parents=True, exist_ok=True)
    model = load_default_model()
    tp_cells, tp_summary = tensor_parallel_table()
    family_cells, moe = families()
    tp_bench = json.loads((DOCS.parent / "benchmarks" / "results" / "tp_transfer.json").read_text())
    law = tp_bench["gpus"][H100.name]["leave_one_tp_out"]
    mt = json.loads((DOCS.parent / "benchmarks" / "results" / "model_transfer.json").read_text())["lomo"]
    logo = json.loads((DOCS.parent / "benchmarks" / "results" / "gpu_transfer.json").read_text())
    table = training_table()
    table = table[table["gpu"] == H100.name]  # this page is the H100's; other GPUs' cells are counted below
    every = all_records()
    records = every[every["gpu"] == H100.name]
    elsewhere = other_gpus(every[every["gpu"] != H100.name])
    cells = all_cells(records)
    p1, curve = per_token_vs_batch(model, table)
    p2 = phase_split(model)
    fp8 = fp8_table(cells)
    hf_vs_vllm = matched_ratio(cells[cells["model"] == LLAMA8.name], "hf-eager", "vllm-graphs")
    vllm_eager_vs_graphs = matched_ratio(cells, "vllm-eager", "vllm-graphs")
    hf_eager_vs_compile = matched_ratio(cells, "hf-eager", "hf-compile")
    flops = FlopsTdpEstimator().predict(table)
    ratio = table["energy_j"].to_numpy() / flops
    opts = cells[(cells["model"] == LLAMA8.name) & (cells["input_tokens"] == 512) & (cells["output_tokens"] == 128)
                 & cells["batch_size"].isin([1, 8])].pivot_table(index="batch_size", columns="config", values="energy_j")
    opts = opts[[c for c in ["hf-eager", "hf-eager-attn", "hf-sampling", "hf-beam4", "hf-compile"] if c in opts]]

    def measured(config, b, i, o, pool=cells):
        m = pool[(pool["model"] == LLAMA8.name) & (pool["config"] == config) & (pool["batch_size"] == b)
                 & (pool["input_tokens"] == i) & (pool["output_tokens"] == o)]
        return float(m["energy_j"].iloc[0]) / (b * o) if len(m) else float("nan")

    meter = meter_ab()
    hf_runs = per_run_cell(records, LLAMA8.name, "hf-eager", 1, 512, 128)
    p3, sweep, best = rate_sweep(model)
    pad, pad_source = padding_ab()
    summary = cell_table(records)
    counts = {b: (len(g), 100 * g["cv"].median()) for b, g in summary.groupby("backend")}
    big = model.batch_phases(deployment("vLLM CUDA graphs"), 256, 1024, 256)
    big_j, big_decode_j = float(big.energy_j[0]), float(big.decode_j[0])
    no_cache, cache = measured("vllm-graphs", 256, 1024, 256), measured("vllm-graphs-prefix", 256, 1024, 256)
    vllm_b1 = measured("vllm-graphs", 1, 512, 256)
    vllm_b1_off = 100 * max(NOTES_VLLM_B1[0] / vllm_b1 - 1, vllm_b1 / NOTES_VLLM_B1[1] - 1, 0.0)
    vllm_b1_note = ("lies within the notes' range" if vllm_b1_off == 0 else
                    f"is {vllm_b1_off:.1f}% {'below' if vllm_b1 < NOTES_VLLM_B1[0] else 'above'} the notes' range")
    runs = sorted(records["run_id"].unique())
    empty_w, loaded_w = idle_power(runs)
    hosts = between_runs(records, "hf-eager")
    batch = hosts.index.get_level_values("batch_size")
    small_b, large_b = hosts[batch <= 4], hosts[batch > 4]
    compile_cells = int((cells["config"] == "hf-compile").sum())
    compile_modelled = modelled(model, "HF compiled")
    reps = sorted(int(n) for n in cells["n"].unique())
    cheapest_free = {rate: min((r for r in sweep if r["rate_per_s"] == rate and not r["overloaded"]),
                               key=lambda r: r["energy_per_request_j"], default={"gpus": None})["gpus"]
                     for rate in best}
    fall = float(curve[curve.serving == "vLLM CUDA graphs"].model_j_per_token.iloc[0]
                 / curve[curve.serving == "vLLM CUDA graphs"].model_j_per_token.iloc[-1])
    split = model.batch_phases(deployment("vLLM CUDA graphs"), 16, 1024, 256)
    decode_share = float(split.decode_j[0] / split.energy_j[0])
    fewest = min(r["gpus"] for r in sweep)
    beyond_one = [rate for rate in best if any(r["rate_per_s"] == rate and r["gpus"] == fewest and r["overloaded"]
                                               for r in sweep)]
    one_gpu_cheapest = all(g == fewest for rate, g in cheapest_free.items() if g is not None and rate not in beyond_one)
    online = online_offline_ratios()
    online_lo, online_hi = min(r for _, r in online), max(r for _, r in online)
    moe_active = {b: moe[f"OLMoE-1B-7B/OLMo-1B {b}"] for b in ("b1", "b8", "b64", "b256")}
    moe_top = max(moe_active, key=moe_active.get)
    spec_ours, spec_ratio = speculative_row(records, cells, model)
    spec_measured = speculative_measured(records, cells)
    card = _card_json(model)
    spec_card = (card.get("options", {}).get("speculative") or [None])[0]
    compile_ours, compile_ratio = compile_row(records, cells)
    framework_top = 1 - hf_vs_vllm.saving_pct.max() / 100
    tp_ref = quote("tp")[1]
    rules = decoding_rules(card)
    findings = reference_table([
        ("sequence length: decode dominates", quote("decode")[0],
         f"decode is {100 * decode_share:.0f}% of a batch of 16 at 1024 -> 256 (vLLM graphs, model fitted on the cells)",
         "-", "Same mechanism: every decode step rereads the weights and the KV cache for one token per sequence, "
         "so output length drives energy; only long prompts with short outputs are prefill-bound."),
        ("batch size", quote("batch")[0],
         f"energy per output token falls {fall:.0f}x from batch 1 to 256 (vLLM graphs, 512 -> 128, model)", "-",
         "Same mechanism: one weight read per decode step serves the whole batch."),
        ("decoding strategy (greedy, sampling, beam)", quote("decoding")[0], decoding_row(records),
         "-", "Sampling adds a sampler per step, small against a step's weight reads; HF batch-1 cells follow the "
         "host CPU (Caveats), so a single HF batch-1 pair can differ by more than the effect. Beam search runs "
         "B x 4 sequences: at batch 1 the extra beams share a memory-bound step, at larger batches they cost about "
         "what a 4x batch does. vLLM 0.26 has no beam search. "
         + (f"Both are modelled serving options: the default model moves a greedy prediction by the card's rules "
            f"({rules})." if rules else "The default model does not answer for them.")),
        ("speculative decoding", quote("speculative")[0], spec_ours, spec_ratio, unless_pending(spec_ours,
         speculative_why(spec_card, spec_measured, speculative_match(model), speculative_check(model, spec_measured)))),
        ("mixture of experts vs active-size dense peer", quote("moe")[0],
         f"OLMoE-1B-7B over OLMo-1B up to {pct(moe_active[moe_top])} (at {moe_top.replace('b', 'batch ')}, "
         f"128 -> 128; {pct(moe_active['b1'])} at batch 1)", effect_ratio(moe_active[moe_top], *quote("moe")[1]),
         "At large batch the batch touches most experts, so the weights read approach the total parameter count, "
         "and vLLM's fused expert kernels run smaller matrix products than a dense model's; random weights route "
         "evenly, real routers do not."),
        ("framework: vLLM + CUDA graphs vs plain PyTorch", quote("framework")[0],
         f"up to {pct(framework_top)} (median {pct(1 - hf_vs_vllm.saving_pct.median() / 100)}, {len(hf_vs_vllm)} "
         "matched cells, vLLM graphs vs HF eager)", effect_ratio(framework_top, *quote("framework")[1]),
         "Our plain baseline is HF transformers 5 with SDPA attention, not the study's PyTorch baseline, and HF's "
         "launch-bound small batches follow the host CPU (Caveats)."),
        ("torch.compile", quote("compile")[0], compile_ours, compile_ratio, unless_pending(compile_ours,
         "Compile with a static cache removes Python and launch overhead, which is what batch-1 HF decode spends "
         "its time on; how much depends on the host CPU as much as on the GPU.")),
        ("CUDA graphs", quote("graphs")[0],
         f"vLLM eager -> graphs: {pct(1 - saving(vllm_eager_vs_graphs, True) / 100)} median at batch 1, "
         f"{pct(1 - saving(vllm_eager_vs_graphs, False) / 100)} above ({len(vllm_eager_vs_graphs)} matched cells)",
         "-", "Same mechanism: graphs remove per-kernel launch cost, a large part of a batch-1 decode step and a "
         "small part of a large-batch one."),
        ("online vs offline serving", quote("online")[0], f"{pct(online_lo)} to {pct(online_hi)} per request ({len(online)} vLLM replays on the H100 "
         "of the code and conversation traces at real or Poisson arrivals, each against the same requests offline "
         "on the same GPU)", "-",
         "Different quantity: the study compares serving modes at a fixed batch size; our replays arrive at "
         "trace rates, so the GPU idles between requests at its loaded idle power, most at the lowest rates."),
        ("tensor parallelism at batch 1", quote("tp")[0],
         f"TP2 {pct(tp_summary['b1_energy2'])} / {pct(tp_summary['b1_latency2'])}, TP4 "
         f"{pct(tp_summary['b1_energy4'])} / {pct(tp_summary['b1_latency4'])} (Llama-3.1-8B, vLLM graphs)",
         f"energy {effect_ratio(tp_summary['b1_energy2'], tp_ref[0])} / "
         f"{effect_ratio(tp_summary['b1_energy4'], tp_ref[2])}, latency "
         f"{effect_ratio(tp_summary['b1_latency2'], tp_ref[1])} / {effect_ratio(tp_summary['b1_latency4'], tp_ref[3])}",
         "The H100's NVLink all-reduce is quick, and our engines ran with vLLM's all-reduce fusion pass off "
         "(Tensor parallelism below): cheaper and less fast than the study's."),
        ("FLOPs/TDP estimate vs measured", quote("flops")[0],
         f"median {np.median(ratio):.1f}x, 10th-90th percentile {np.quantile(ratio, 0.1):.1f}x-"
         f"{np.quantile(ratio, 0.9):.1f}x ({len(ratio)} cells)", "-",
         "Our grid reaches batch 1 with short prompts, where decode waits on memory and launches far from the "
         "FLOPs ceiling; the study measured full batches only."),
    ])
    text = f"""# Findings: H100 energy of Llama-3.1-8B inference (HF transformers vs vLLM)

Made by `python docs/make_findings.py  (or python -m energy_predict.analysis.findings)` from the committed runs in `artifacts/calibration/`, the HF padding A/B in
`artifacts/padding/` and the default model in `artifacts/models/default/` ({len(table)} modeled cells;
{len(cells)} measured cells in all, each the median of {' or '.join(map(str, reps))} repetitions metered with the NVML energy counter).
GPUs: {gpu_meta(runs)}. Random bf16 weights; output lengths forced.
Replays of real traces against the model: [validation.md](validation.md). Everything below is H100 data.

Data: HF {counts.get('hf', (0, 0))[0]} distinct cells, median repetition CV {counts.get('hf', (0, 0))[1]:.2f}%;
vLLM {counts.get('vllm', (0, 0))[0]} distinct cells, median CV {counts.get('vllm', (0, 0))[1]:.2f}%
(`energy-predict data cells --csv cells.csv` lists every cell with its CV; `energy-predict data list` every run).

## The reference study's findings on the H100

Each finding of Fernandez et al. (ACL 2025) beside ours, computed above or below on this page from the committed data.
A change is energy unless marked; "ours / theirs" divides our change by theirs (1: the same effect, below 1: a smaller
one, negative: the opposite sign) where both are numbers about the same quantity; a finding whose H100 data is missing
or too thin says so instead of a number.

{findings}

## Reference points (../shared/notes/h100-first-measurements.md)

| cell | measured here (J per output token) | notes |
|---|---|---|
| HF eager, batch 1, 512 -> 128 | {', '.join(f'{e:.2f} ({r})' for r, e in hf_runs.items())} | ~5 J ({NOTES_HF_B1[0]}-{NOTES_HF_B1[1]}) |
| vLLM CUDA graphs, batch 1, 512 -> 256 | {vllm_b1:.2f} | {NOTES_VLLM_B1[0]}-{NOTES_VLLM_B1[1]} |
| vLLM CUDA graphs, batch 256, 1024 -> 256, prefix caching off | {no_cache:.3f} | {NOTES_VLLM_B256:.3f} |
| the same with prefix caching on (vLLM 0.26's default) | {cache:.3f} | {NOTES_VLLM_B256:.3f} |

- vLLM batch 1 {vllm_b1_note}.
- vLLM batch 256, 1024 -> 256: the notes' {NOTES_VLLM_B256:.3f} is what vLLM measures with prefix caching on, its default. A
  warm-up followed by repetitions of the same prompts then skips prefill: {cache:.3f} J/token measured with
  caching on, {no_cache:.3f} with it off. The model (caching off, as every calibration cell) says
  {big_j / (256 * 256):.3f}, of which decode alone is {big_decode_j / (256 * 256):.3f}. A user whose
  requests share no prefixes should expect the caching-off number.
- HF batch 1: each lease measured it once (the run id in brackets). The latest, {list(hf_runs.values())[-1]:.2f} J/token, is
  {100 * (list(hf_runs.values())[-1] / 5 - 1):+.0f}% from the notes' ~5 J. HF eager at batch 1 is launch-bound: the GPU waits on the host
  CPU, so the energy follows the host (the 1-GPU lease's host was slower) and the load beside it (the 4-GPU
  lease ran four sweeps at once). The meter is not the cause: an interleaved A/B on the second lease
  (`benchmarks/meter_overhead.py`, {meter[0]}) timed the same call at {meter[1]}.

## Energy per output token against batch size

![per token vs batch]({p1.relative_to(DOCS)})

Batching is the largest lever: from batch 1 to 256 the energy per token falls by
{fall:.0f}x
with vLLM and CUDA graphs (model line at 512 -> 128). HF with torch.compile has {compile_cells} measured cells{
', too few to model (the default model refuses it); its dots are shown' if not compile_modelled else
' and is fitted like the other configurations'}.

## vLLM with CUDA graphs against plain HF transformers (matched cells, Llama-3.1-8B)

Saving of vLLM + CUDA graphs over HF eager on the same cell: median {hf_vs_vllm.saving_pct.median():.0f}%,
range {hf_vs_vllm.saving_pct.min():.0f}% to {hf_vs_vllm.saving_pct.max():.0f}% over {len(hf_vs_vllm)} cells.
The reference study reports up to 73% on A6000/A100.

{md(hf_vs_vllm.sort_values(['batch_size', 'input_tokens', 'output_tokens']).head(24))}

CUDA graphs within vLLM (eager -> graphs, matched cells): median saving {vllm_eager_vs_graphs.saving_pct.median():.0f}%
({len(vllm_eager_vs_graphs)} cells), largest at small batch:

{md(vllm_eager_vs_graphs.sort_values('batch_size')[['batch_size', 'input_tokens', 'output_tokens', 'energy_j_a', 'energy_j_b', 'saving_pct']])}

HF torch.compile (static cache) against HF eager, matched cells:

{md(hf_eager_vs_compile[['model', 'batch_size', 'input_tokens', 'output_tokens', 'energy_j_a', 'energy_j_b', 'saving_pct']])}

## Prefill / decode split

![phase split]({p2.relative_to(DOCS)})

## fp8 against bf16 (vLLM, CUDA graphs, matched cells)

{md(fp8) if len(fp8) else 'No matched cells.'}

## HF decoding and attention options (Llama-3.1-8B, 512 -> 128, energy per batch in J)

{md(opts.reset_index()) if len(opts) else 'Not measured.'}

## HF left padding (batch 16, energy per batch in J)

`generate` on a batch whose rows differ in length: `ones` no padding, `pad1` one row one token short,
`padded` rows uniform in [I/3, I]. One short row costs what heavy padding costs: transformers then passes an
attention mask and SDPA leaves its causal flash kernel, in prefill and in every decode step
(`benchmarks/hf_padding.py`; kernel profiles in docs/measurements/). The default model adds this overhead to
padded HF batches (model/padding.py); validation.md shows the HF replays with and without it. Source of the
table: {pad_source}.

{md(pad, "{:.0f}").replace("nan", "not run") if len(pad) else 'Not measured.'}

## Energy per request against request rate (online serving, default model)

![rate sweep]({p3.relative_to(DOCS)})

At a low rate a GPU mostly waits, at its loaded idle power ({min(loaded_w):.0f}-{max(loaded_w):.0f} W with an engine on it, against
{min(empty_w):.0f}-{max(empty_w):.0f} W empty, as the calibration runs measured), so energy per request falls as the rate rises until the GPU saturates. Energy-optimal number of GPUs
per rate with p90 time to first token under {TTFT_TARGET_S} s (req/s: GPUs; none: no GPU count up to 4 meets it):
{', '.join(f'{r:g}: {g if g is not None else "none"}' for r, g in best.items())}. Without a latency target the cheapest
count is {'one GPU at every rate that one GPU sustains' if one_gpu_cheapest else 'per rate ' + ', '.join(f'{r:g}: {g}' for r, g in cheapest_free.items())}{
' (one GPU does not sustain ' + ', '.join(f'{r:g}' for r in beyond_one) + ' req/s)' if beyond_one else ''};
the target is what buys more GPUs (`energy-predict sweep-rate --ttft-p90-s`). The simulator stops a rate its
GPUs cannot sustain (the queue grows without bound) and such a point has no energy. Measured online replays
(code and conversation traces, {replay_rates()}) against the simulator: [validation.md](validation.md).

## Tensor parallelism (vLLM, CUDA graphs, Llama-3.1-8B, {tp_summary["gpu"]})

Each degree against TP1 on the same cells ({tp_summary["n4"]} at TP4, {tp_summary["n2"]} at TP2; every GPU's energy, the
batch's latency), measured by one `calibrate --ray` command on a 4-GPU H100 machine: TP2 costs
x{tp_summary["energy2"]:.2f} energy for x{tp_summary["latency2"]:.2f} latency, TP4 x{tp_summary["energy4"]:.2f} for
x{tp_summary["latency4"]:.2f}. At batch 1 the reference study found TP2 +29% energy for -40% latency and TP4 +55% for
-61%; here batch 1 costs {100 * (tp_summary["b1_energy2"] - 1):.0f}% / {100 * (tp_summary["b1_energy4"] - 1):.0f}% more energy
for {100 * (1 - tp_summary["b1_latency2"]):.0f}% / {100 * (1 - tp_summary["b1_latency4"]):.0f}% less latency, and larger batches
cost as much more. The shape is the study's: each doubling adds a roughly constant share of energy (all-reduces,
every GPU idling while it waits) and saves less time than the one before (per-step constants are not split).
Ours is somewhat cheaper and less fast: the H100's NVLink all-reduce is quick, and the engines ran with vLLM's
all-reduce + RMSNorm fusion pass off (it needs NVLink multicast, off on these machines:
[measurements](measurements/2026-11-27-tp-startup.md)). The same TP2 on the H200 costs x1.20 for x0.69.

The model's tensor-parallel law (work once, FLOPs and bytes split over the group, all-reduce ops and bytes, every GPU's
measured idle over the time; model/tp.py) predicts a degree held out within a median {100 * law["median_ape"]:.1f}%
(p90 {100 * law["p90_ape"]:.1f}%; TP4 from TP1 and TP2 {100 * law["per_degree"]["4"]["median_ape"]:.1f}%, TP2 from TP1 and TP4
{100 * law["per_degree"]["2"]["median_ape"]:.1f}%; [tp_transfer](../benchmarks/results/tp_transfer.md)), so unmeasured degrees up to 8
get a transferred answer with that interval.

{md(tp_cells)}

## Model families and mixtures of experts (vLLM, CUDA graphs, H100, random weights)

Energy per output token on the cells every new model was measured on (Mixtral-8x7B and Qwen2.5-32B on two GPUs,
both GPUs' energy; the others on one):

{md(family_cells)}

- OLMoE-1B-7B against its dense peers: x{moe["OLMoE-1B-7B/OLMo-1B b1"]:.2f} OLMo-1B's energy per token at batch 1 (similar active size),
  x{moe["OLMoE-1B-7B/OLMo-1B b256"]:.2f} at batch 256; against OLMo-7B (similar total size) x{moe["OLMoE-1B-7B/OLMo-7B b1"]:.2f} and
  x{moe["OLMoE-1B-7B/OLMo-7B b256"]:.2f}. The reference study found the MoE up to 54% above its active-size dense peer.
- Qwen3-30B-A3B (3.3 B active of 30.5 B) against Qwen2.5-7B: x{moe["Qwen3-30B-A3B/Qwen2.5-7B b1"]:.2f} at batch 1,
  x{moe["Qwen3-30B-A3B/Qwen2.5-7B b256"]:.2f} at batch 256; against Qwen2.5-32B (similar total, on two GPUs):
  x{moe["Qwen3-30B-A3B/Qwen2.5-32B b1"]:.2f} and x{moe["Qwen3-30B-A3B/Qwen2.5-32B b256"]:.2f}.
- A mixture of experts costs more than its active size suggests: at batch 1 decode reads the routed experts'
  weights, at larger batches the batch touches most experts (the weights read approach the total) while the fused
  expert kernels run smaller matrix products than a dense model's. Random weights route tokens evenly; real routers
  are skewed, which touches fewer experts per step at small batches (cheaper decode than here) and leaves the hot
  experts' kernels fuller at large ones.
- A model never measured is transferred from its family in the same configuration: dense vLLM models held out one
  at a time are predicted within a median {100 * mt["per_family"]["dense"]["wide"]["median_ape"]:.1f}% (p90
  {100 * mt["per_family"]["dense"]["wide"]["p90_ape"]:.1f}%) where two or more peers were measured, mixtures of experts within
  {100 * mt["per_family"]["moe"]["all"]["median_ape"]:.1f}% (p90 {100 * mt["per_family"]["moe"]["all"]["p90_ape"]:.1f}%) from one peer
  ([model_transfer](../benchmarks/results/model_transfer.md)).
- A configuration measured on one of the H100 SXM and H200 SXM is transferred to the other (byte terms scaled by
  memory bandwidth): fitted on one GPU, the other's cells inside the measured shapes are predicted within a median
  {100 * logo["cells"]["median_ape"]:.1f}% (p90 {100 * logo["cells"]["p90_ape"]:.1f}%, time median
  {100 * logo["cells"]["time_median_ape"]:.1f}%; {logo["cells"]["n"]} cells, both directions), and the default model
  fitted on one GPU's cells alone predicts the other GPU's {logo["replay_summary"]["pooled"]["n"]} measured replays
  within a median {logo["replay_summary"]["pooled"]["median_ape_pct"]:.1f}% (p90
  {logo["replay_summary"]["pooled"]["p90_ape_pct"]:.1f}%, interval coverage
  {100 * logo["replay_summary"]["pooled"]["coverage"]:.0f}%) ([gpu_transfer](../benchmarks/results/gpu_transfer.md)).

## Measured energy against the FLOPs/TDP estimate

Measured batch energy over the reference study's FLOPs/TDP estimate, per cell: median {np.median(ratio):.1f}x,
10th-90th percentile {np.quantile(ratio, 0.1):.1f}x-{np.quantile(ratio, 0.9):.1f}x, range {ratio.min():.1f}x-{ratio.max():.0f}x.
The study found 1.3x-6x on its GPUs. The estimate is closest for large compute-bound prefills and furthest for
small-batch decode, where the GPU waits on memory and kernel launches.

## What holds on the H100, and what does not

- Decode dominates at realistic output lengths ({verdict(decode_share > 0.5)}: decode is {100 * decode_share:.0f}% of a batch of 16 at
  1024 -> 256 with vLLM and CUDA graphs, model), and batching cuts energy per token ({fall:.0f}x from batch 1 to 256 above).
- vLLM with CUDA graphs saves most against plain PyTorch at small batch (the study: up to 73%): median saving
  {saving(hf_vs_vllm, True):.0f}% at batch 1 against {saving(hf_vs_vllm, False):.0f}% at larger batches ({verdict(saving(hf_vs_vllm, True) > saving(hf_vs_vllm, False))}),
  partly because HF eager at batch 1 is CPU-launch bound.
- CUDA graphs help most at small batch ({verdict(saving(vllm_eager_vs_graphs, True) > saving(vllm_eager_vs_graphs, False))}): median saving {saving(vllm_eager_vs_graphs, True):.0f}% at batch 1 against
  {saving(vllm_eager_vs_graphs, False):.0f}% at larger batches (vLLM eager vs graphs table).
- FLOPs/TDP underestimates ({verdict(bool((ratio > 1).all()))}: measured energy is above it in {100 * (ratio > 1).mean():.0f}% of cells), with a
  {'wider' if np.quantile(ratio, 0.9) > 6 else 'narrower'} spread than the study's 1.3x-6x (10th-90th percentile above).
- Offline full-batch estimates (the study's method) miss what a served GPU spends waiting: measured online
  against measured offline energy of the same requests on the H100, {online_vs_offline(online)} ([validation.md](validation.md)).
- {'Not measured on the H100: speculative decoding. ' if spec_ours == PENDING else ''}{elsewhere}

## Caveats

- HF cells came from two hosts: the 4-GPU leases, with four sweeps at once, and a 1-GPU lease. HF eager
  cells measured by more than one run ({len(hosts)} cells) differ between runs by a median {100 * hosts.median():.0f}% and up to
  {100 * hosts.max():.0f}% (median {100 * small_b.median():.0f}% at batch 1-4, where HF is launch-bound, against
  {100 * large_b.median():.0f}% above); the model keeps each cell's latest measurement.
- Cells measured more than once pool their repetitions in `data cells`; the model and this page use the latest.
"""
    (DOCS / "findings.md").write_text(text)
    print(f"wrote {DOCS / 'findings.md'}, {p1}, {p2}, {p3}")


if __name__ == "__main__":
    main()

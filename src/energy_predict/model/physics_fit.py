"""Fit the physical step model (model/physics.py) on measured cells, with bounds so no term absorbs another.

Which cells share a parameter is the physics, not the fit key:

- achieved fractions of the datasheet peaks are properties of the kernels: weight reads and linear FLOPs, dense and
  routed experts apart, per (framework, precision), KV reads and attention per framework; shared by every GPU of
  a generation (the H100 SXM and H200 SXM run the same Hopper kernels), so a GPU's bandwidth and FLOP/s enter as
  datasheet figures and the fractions carry over;
- host and launch constants per engine (framework, CUDA graphs, compile, single GPU or a group), shared by models
  and GPUs: a bigger model does not launch more per layer, and the weight reads of a model are its bytes over the
  bandwidth, not a per-step constant;
- all-reduce latency and link efficiency per generation;
- power per measured GPU: what memory traffic, compute, a busy step and host gaps draw above the loaded idle
  (measured, not fitted), each between 0 and the limit minus that idle.

Time first (least squares on log time, bounded), then power with the times fixed (least squares on log energy,
bounded). Every parameter is fitted in log space within physical bounds (`BOUNDS`); fractions are at most 1, so no
step is faster than its roofline bound. scipy at fit time only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from energy_predict.model.features import deployments
from energy_predict.model.physics import (
    HF_TOKEN_BUDGET,
    StepParams,
    StepWork,
    batch_cost,
    batch_work,
    step_times,
)

VLLM_TOKEN_BUDGET = 16384  # vLLM's default max_num_batched_tokens for the LLM class on a GPU of >= 70 GiB
EFFICIENCIES = ("eff_weights", "eff_experts", "eff_kv", "eff_linear", "eff_expert_linear", "eff_attention")
HOST = ("step_s", "layer_s", "sequence_s", "prefill_step_s", "prefill_layer_s", "gpu_layer_s")
POWERS = ("busy_w", "memory_w", "compute_w", "comm_w")
SCALES = ("memory_scale", "compute_scale", "host_scale", "power_scale")
PENALTY = 1.0
# physical ranges (log-space bounds of the fit): fractions of a peak at most 1; seconds and watts non-negative
BOUNDS = {"eff": (0.02, 1.0), "step_s": (1e-7, 0.2), "layer_s": (1e-9, 5e-3), "sequence_s": (1e-10, 1e-3),
          "prefill_step_s": (1e-7, 0.5), "prefill_layer_s": (1e-9, 5e-3), "gpu_layer_s": (1e-9, 1e-3),
          "allreduce_op_s": (1e-8, 1e-3), "link_eff": (0.02, 1.0), "overlap": (1.0, 16.0),
          "host_overlap": (1.0, 16.0), "power": (1e-3, None), "time_scale": (0.7, 1.4), "power_scale": (0.8, 1.25)}
# NVLink bandwidth per direction of one GPU (bytes/s): Hopper NVLink 4 900 GB/s total, Blackwell NVLink 5 1.8 TB/s,
# Ampere NVLink 3 600 GB/s (NVIDIA H100, B200 and A100 datasheets); a ring all-reduce moves its bytes at most this fast
LINK_BPS = {"Hopper": 450e9, "Blackwell": 900e9, "Ampere": 300e9, "Ada Lovelace": 32e9}


def efficiency_key(name: str, framework: str, quantization: str | None) -> str:
    """Which cells share an achieved fraction.

    Weight reads and linear FLOPs (dense and routed experts: other kernels at fp8) per framework and precision; KV
    reads and attention (bf16 whatever the weights) per framework.
    """
    precision = quantization if isinstance(quantization, str) and quantization != "none" else "bf16"
    per_precision = ("eff_weights", "eff_linear", "eff_experts", "eff_expert_linear")
    return f"{name}|{framework}|{precision}" if name in per_precision else f"{name}|{framework}"


def engine_key(framework: str, cuda_graphs: bool, compile_: bool, tp: int) -> str:
    """The engine whose host and launch constants a cell shares."""
    mode = "graphs" if cuda_graphs else "compile" if compile_ else "eager"
    return f"{framework}|{mode}|{'group' if tp > 1 else 'single'}"


@dataclass(frozen=True)
class Design:
    """The measured cells as work (cells x (1 prefill + decode nodes)) and what each cell shares parameters by."""

    work: StepWork
    cells: pd.DataFrame  # framework, cuda_graphs, compile, quantization, tensor_parallel, gpu, generation, ...
    bandwidth_bps: np.ndarray
    flops_per_s: np.ndarray
    tdp_w: np.ndarray
    link_bps: np.ndarray
    moe: np.ndarray


TIME_FIELDS = (*EFFICIENCIES, *HOST, "allreduce_op_s", "link_eff", "overlap", "host_overlap", "memory_scale",
               "compute_scale", "host_scale")
POWER_FIELDS = (*POWERS, "power_scale")


def design(table: pd.DataFrame) -> Design:
    """Work of every cell of the table (rows in the table's order)."""
    parts, order = [], []
    peaks = np.zeros((len(table), 4))
    for arch, gpu, idx in deployments(table):
        sub = table.iloc[idx]
        for (framework, quantization, tp), rows in sub.groupby(["framework", "quantization", "tensor_parallel"],
                                                               dropna=False).indices.items():
            at = idx[rows]
            cells = table.iloc[at]
            fp8 = quantization == "fp8"
            budget = HF_TOKEN_BUDGET if framework == "hf" else VLLM_TOKEN_BUDGET
            parts.append(batch_work(arch, int(tp), 1.0 if fp8 else 2.0, cells["batch_size"], cells["input_tokens"],
                                    cells["output_tokens"], budget))
            order.append(at)
            peaks[at] = [gpu.memory_bandwidth_bps, gpu.peak_flops("fp8" if fp8 else "bf16"), gpu.tdp_w,
                         LINK_BPS[gpu.generation]]
    pos = np.concatenate(order)
    inverse = np.empty_like(pos)
    inverse[pos] = np.arange(len(pos))
    work = StepWork(*(np.concatenate([getattr(p, f.name) for p in parts])[inverse] for f in fields(StepWork)))
    from energy_predict.gpus import resolve_gpu

    cells = pd.DataFrame({
        "framework": table["framework"].to_numpy(), "cuda_graphs": table["cuda_graphs"].astype(bool).to_numpy(),
        "compile": table["compile"].astype(bool).to_numpy(),
        "quantization": [q if isinstance(q, str) and q != "none" else None for q in table["quantization"]],
        "tensor_parallel": table["tensor_parallel"].astype(int).to_numpy(), "gpu": table["gpu"].to_numpy(),
        "generation": [resolve_gpu(g).generation for g in table["gpu"]]})
    cells["deployment"] = [deployment_key(*row) for row in zip(
        cells["framework"], cells["cuda_graphs"], cells["compile"], cells["quantization"], cells["tensor_parallel"],
        table["model"])]
    return Design(work, cells, peaks[:, 0], peaks[:, 1], peaks[:, 2], peaks[:, 3],
                  (table["num_experts"] > 0).to_numpy())


@dataclass(frozen=True)
class PhysicalParameters:
    """Fitted values by name (`<field>|<sharing key>`), and the loaded idle power per GPU and framework (W)."""

    values: dict[str, float]
    idle_w: dict[str, float]  # "<gpu>|<framework>" -> W


def deployment_key(framework: str, cuda_graphs: bool, compile_: bool, quantization, tp: int, model: str) -> str:
    """What a deployment's bounded departures are shared by: its serving configuration and model, on any GPU.

    A model's kernels reach their own fractions of the peaks; the GPU's figures are datasheet ones.
    """
    precision = quantization if isinstance(quantization, str) and quantization != "none" else "bf16"
    return f"{engine_key(framework, cuda_graphs, compile_, tp)}|{precision}|tp{tp}|{model}"


def parameter_names(cells: pd.DataFrame, moe: np.ndarray) -> dict[str, list[str]]:
    """Per StepParams field, the parameter name of each cell ('' where the field is fixed or moot)."""
    names: dict[str, list[str]] = {}
    fw, q = cells["framework"].tolist(), cells["quantization"].tolist()
    for e in EFFICIENCIES:
        names[e] = [efficiency_key(e, f, qq) for f, qq in zip(fw, q)]
    for e in ("eff_experts", "eff_expert_linear"):  # dense cells have no expert work: their fraction is moot
        names[e] = [name if m else "" for name, m in zip(names[e], moe)]
    engines = [engine_key(f, g, c, t) for f, g, c, t in zip(fw, cells["cuda_graphs"], cells["compile"],
                                                           cells["tensor_parallel"])]
    gpus = cells["gpu"].tolist()
    for h in HOST:  # the host's work runs on the machine's CPU: per engine and GPU machine
        names[h] = [f"{h}|{e}|{g}" if h != "gpu_layer_s" else f"{h}|{e}" for e, g in zip(engines, gpus)]
    group = (cells["tensor_parallel"].to_numpy() > 1).tolist()
    names["allreduce_op_s"] = [f"allreduce_op_s|{g}" if grp else "" for g, grp in zip(cells["generation"], group)]
    names["link_eff"] = [f"link_eff|{g}" if grp else "" for g, grp in zip(cells["generation"], group)]
    names["overlap"] = [f"overlap|{f}" for f in fw]
    names["host_overlap"] = [f"host_overlap|{e}" for e in engines]
    for pw in POWERS:  # per GPU and framework, as the loaded idle is measured
        names[pw] = [f"{pw}|{g}|{f}" if pw != "comm_w" or grp else "" for g, f, grp in zip(gpus, fw, group)]
    deps = cells["deployment"].tolist()
    for sc in SCALES:
        names[sc] = [f"{sc}|{dep}" for dep in deps]
    return names


def _bounds_of(name: str, headroom: dict[str, float]) -> tuple[float, float]:
    field = name.split("|")[0]
    if field.startswith("eff_"):
        return BOUNDS["eff"]
    if field in POWERS:
        return BOUNDS["power"][0], headroom["|".join(name.split("|")[1:3])]
    if field in SCALES:
        return BOUNDS["power_scale" if field == "power_scale" else "time_scale"]
    return BOUNDS[field]


class _Layout:
    """Parameter vector (log values) <-> per-cell StepParams arrays for a group of fields."""

    def __init__(self, names: dict[str, list[str]], wanted: tuple[str, ...], headroom: dict[str, float]):
        self.fields = wanted
        self.names = sorted({nm for f in wanted for nm in names[f] if nm})
        pos = {nm: k for k, nm in enumerate(self.names)}
        self.index = {f: np.array([pos.get(nm, -1) for nm in names[f]]) for f in wanted}
        lo, hi = zip(*(_bounds_of(nm, headroom) for nm in self.names))
        self.lo, self.hi = np.log(np.array(lo)), np.log(np.array(hi))
        self.scales = np.array([nm.split("|")[0] in SCALES for nm in self.names])

    def arrays(self, x: np.ndarray) -> dict[str, np.ndarray]:
        v = np.append(np.exp(x), np.nan)
        return {f: v[self.index[f]][:, None] for f in self.fields}

    def sparsity(self, n_cells: int) -> np.ndarray:
        """Which cell residuals each parameter moves, then one penalty row per departure."""
        rows = np.zeros((n_cells, len(self.names)), bool)
        for idx in self.index.values():
            at = idx >= 0
            rows[np.nonzero(at)[0], idx[at]] = True
        penalty = np.zeros((int(self.scales.sum()), len(self.names)), bool)
        penalty[np.arange(penalty.shape[0]), np.nonzero(self.scales)[0]] = True
        return np.vstack([rows, penalty])

    def start(self, values: dict[str, float]) -> np.ndarray:
        x = np.array([np.log(values.get(nm, _default(nm))) for nm in self.names])
        return np.clip(x, self.lo + 1e-9, self.hi - 1e-9)


def _params(d: Design, arrays: dict[str, np.ndarray], idle_w: np.ndarray) -> StepParams:
    n = len(d.tdp_w)
    values = {"bandwidth_bps": d.bandwidth_bps, "flops_per_s": d.flops_per_s, "tdp_w": d.tdp_w, "idle_w": idle_w}
    values = {k: np.asarray(v, float)[:, None] for k, v in values.items()}
    link = arrays.get("link_eff")
    values["allreduce_byte_s"] = (np.nan_to_num(1.0 / (link[:, 0] * d.link_bps)) if link is not None
                                  else np.zeros(n))[:, None]
    for f in fields(StepParams):
        if f.name in arrays:
            neutral = 1.0 if f.name.startswith("eff_") or f.name in SCALES else 0.0
            values[f.name] = np.nan_to_num(arrays[f.name], nan=neutral)
        values.setdefault(f.name, np.full((n, 1), 1.0 if f.name in SCALES else 0.0))
    return StepParams(**values)


@dataclass
class PhysicalFit:
    """A fitted physical model: parameter values, and how the fit went (for the report)."""

    parameters: PhysicalParameters
    time_cost: float
    energy_cost: float
    n_cells: int


def measured_idle(d: Design, idle_w: dict[str, dict[str, float]]) -> np.ndarray:
    """Each cell's loaded-engine idle power per GPU (W), as measured on its GPU for its framework."""
    return np.array([idle_w.get(g, {}).get(f"loaded_{f}") or idle_w.get(g, {}).get("empty") or 0.0
                     for g, f in zip(d.cells["gpu"], d.cells["framework"])])


def fit(table: pd.DataFrame, idle_w: dict[str, dict[str, float]], start: dict[str, float] | None = None,
        penalty: float = PENALTY) -> PhysicalFit:
    """Fit time, then power with the times fixed, on the table's cells.

    `idle_w`: measured idle per GPU (model/fit.py `measured_idle_power`'s shape). `start`: values to start from (a
    previous fit: cross-validation converges faster). `penalty`: weight of each departure's log in the residuals
    (a departure of 10% costs as much as `penalty^2 x 0.01 / 0.03^2` cells off by 3%).
    """
    from scipy.optimize import least_squares

    d = design(table)
    names = parameter_names(d.cells, d.moe)
    idle = measured_idle(d, idle_w)
    headroom = {f"{g}|{f}": float(d.tdp_w[k] - idle[k])
                for k, (g, f) in enumerate(zip(d.cells["gpu"], d.cells["framework"]))}
    t_meas = table["duration_s"].to_numpy(float)
    e_meas = table["energy_j"].to_numpy(float)
    tp = d.cells["tensor_parallel"].to_numpy(float)
    start = start or {}

    tl = _Layout(names, TIME_FIELDS, headroom)

    def time_residuals(x):
        t = step_times(d.work, _params(d, tl.arrays(x), idle))
        return np.concatenate([np.log((d.work.count * t.total_s).sum(1) / t_meas), penalty * x[tl.scales]])

    res_t = least_squares(time_residuals, tl.start(start), bounds=(tl.lo, tl.hi), method="trf",
                          jac_sparsity=tl.sparsity(len(table)), x_scale=1.0, ftol=1e-6, xtol=1e-6)
    times = tl.arrays(res_t.x)

    pl = _Layout(names, POWER_FIELDS, headroom)

    def energy_residuals(x):
        e = batch_cost(d.work, _params(d, {**times, **pl.arrays(x)}, idle), 1).energy_j * tp
        return np.concatenate([np.log(e / e_meas), penalty * x[pl.scales]])

    res_e = least_squares(energy_residuals, pl.start(start), bounds=(pl.lo, pl.hi), method="trf",
                          jac_sparsity=pl.sparsity(len(table)), ftol=1e-6, xtol=1e-6)
    values = {**dict(zip(tl.names, np.exp(res_t.x))), **dict(zip(pl.names, np.exp(res_e.x)))}
    idle_map = {f"{g}|{f}": float(i) for g, f, i in zip(d.cells["gpu"], d.cells["framework"], idle)}
    return PhysicalFit(PhysicalParameters(values, idle_map), float(res_t.cost), float(res_e.cost), len(table))


def _default(name: str) -> float:
    field = name.split("|")[0]
    if field.startswith("eff_"):
        return 0.6
    if field in SCALES:
        return 1.0
    return {"step_s": 1e-3, "layer_s": 1e-5, "sequence_s": 1e-6, "prefill_step_s": 1e-3, "prefill_layer_s": 1e-5,
            "gpu_layer_s": 1e-5, "allreduce_op_s": 1e-5, "link_eff": 0.5, "overlap": 2.0, "host_overlap": 2.0
            }.get(field, 100.0)


def predict_table(fitted: PhysicalParameters, table: pd.DataFrame, missing: dict[str, str] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(energy J, duration s) of each cell under fitted parameters.

    A name the fit does not hold falls back to `missing[field]`'s rule: 'neutral' (departures: 1) or a name
    prefix to borrow from (the first fitted name that starts with it); else KeyError.
    """
    d = design(table)
    names = parameter_names(d.cells, d.moe)
    idle = np.array([fitted.idle_w.get(f"{g}|{f}", np.nan) for g, f in zip(d.cells["gpu"], d.cells["framework"])])
    arrays = {f: np.array([lookup(fitted, nm) if nm else np.nan for nm in per_cell])[:, None]
              for f, per_cell in names.items()}
    cost = batch_cost(d.work, _params(d, arrays, idle), 1)
    tp = d.cells["tensor_parallel"].to_numpy(float)
    return cost.energy_j * tp, cost.duration_s


def lookup(fitted: PhysicalParameters, name: str) -> float:
    """A fitted value; a departure the fit never saw is 1 (none)."""
    if name in fitted.values:
        return fitted.values[name]
    if name.split("|")[0] in SCALES:
        return 1.0
    raise KeyError(name)

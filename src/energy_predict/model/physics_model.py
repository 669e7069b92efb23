"""The fitted physical step model as an `EnergyModel` (energy_predict.fitted), with rules for what was never measured.

Numpy only: the parameters are plain values (model/physics_fit.py fits them).

What a deployment's step costs rest on, and the rule where the fit holds nothing of its own:

- achieved fractions of the peaks, GPU-side gaps per layer, overlap exponents: per framework (and precision), the
  same on every GPU: a GPU enters by its datasheet bandwidth, FLOP/s and power limit (rule `fractions carry`);
- all-reduce latency and link efficiency: per generation; a generation never measured takes Hopper's, over its own
  NVLink bandwidth (`LINK_BPS`);
- host constants (scheduler, launches, sampling: the machine's CPU): per engine and GPU machine; a machine never
  measured takes the geometric mean of the measured ones;
- power of each activity (W above the loaded idle) and the loaded idle: per measured GPU and framework; a GPU never
  measured takes the nearest measured GPU's (`transfer.nearest_gpu`): memory traffic and compute at that GPU's
  energy per byte and per FLOP times its own bandwidth and FLOP/s (`per-op`), the other activities as the same share
  of its idle..limit range, every one within the destination's headroom; its loaded idle is that GPU's x the limit
  ratio (model/transfer.py's rule). `share` (every power as the same share of the range) is scored beside it:
  leave-one-GPU-out chose `per-op` (benchmarks/results/physics_model.md: 6.0% against 7.9% median);
- a measured (serving, model)'s bounded departures carry to any GPU; a model never measured has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from energy_predict.errors import EnergyPredictError
from energy_predict.fitted import MEASURED, TRANSFERRED, Basis, EngineStepCosts, Phases, soft_power_w
from energy_predict.gpus import GPU, resolve_gpu
from energy_predict.model.physics import (
    HF_TOKEN_BUDGET,
    StepParams,
    batch_cost,
    batch_work,
    mean_kv_tokens_per_sequence,
    mixed_work,
    step_power_w,
    step_times,
)
from energy_predict.model.physics_fit import (
    HOST,
    LINK_BPS,
    POWERS,
    SCALES,
    PhysicalParameters,
    deployment_key,
    parameter_names,
)
from energy_predict.model.transfer import nearest_gpu
from energy_predict.serving import Deployment

POWER_RULES = ("share", "per-op")
REFERENCE_GENERATION = "Hopper"


def _measured_gpus(p: PhysicalParameters, framework: str) -> list[GPU]:
    return [resolve_gpu(k.split("|")[0]) for k in p.idle_w if k.endswith(f"|{framework}")]


@dataclass(frozen=True)
class Resolved:
    """A deployment's step parameters and the rules that filled what was not fitted for it."""

    params: StepParams
    rules: tuple[str, ...]
    source_gpu: str | None  # the measured GPU its power and idle came from, where it was never measured
    measured_model: bool  # its (serving, model) departures were fitted


def resolve_params(p: PhysicalParameters, dep: Deployment, power_rule: str = "per-op") -> Resolved:
    """The StepParams of a deployment (EnergyPredictError where an engine or precision was never fitted)."""
    s, gpu, arch = dep.serving, dep.gpu, dep.arch
    if refusal := s.precision.transfer_refusal(gpu):
        raise EnergyPredictError(refusal)
    cells = pd.DataFrame({"framework": [s.framework], "cuda_graphs": [s.cuda_graphs], "compile": [s.compile],
                          "quantization": [s.quantization], "tensor_parallel": [s.tensor_parallel],
                          "gpu": [gpu.name], "generation": [gpu.generation]})
    cells["deployment"] = [deployment_key(s.framework, s.cuda_graphs, s.compile, s.quantization, s.tensor_parallel,
                                          arch.name)]
    names = parameter_names(cells, np.array([arch.is_moe]))
    measured = _measured_gpus(p, s.framework)
    if not measured:
        raise EnergyPredictError(f"serving.framework: no {s.framework} cells were fitted")
    own = gpu.name in {g.name for g in measured}
    source = gpu if own else nearest_gpu(gpu, measured)
    rules: list[str] = []
    values: dict[str, float] = {}
    for f, per_cell in names.items():
        name = per_cell[0]
        if not name:
            continue
        values[f] = _value(p, f, name, gpu, source, power_rule, rules)
    idle_key = f"{source.name}|{s.framework}"
    idle = p.idle_w[idle_key] * (1.0 if own else gpu.tdp_w / source.tdp_w)
    if not own:
        rules.append(f"loaded idle: {source.name}'s measured {p.idle_w[idle_key]:.0f} W x the limit ratio")
    link = values.pop("link_eff", None)
    params = {f.name: 1.0 if f.name in SCALES else 0.0 for f in fields(StepParams)}
    params.update(values)
    params.update(bandwidth_bps=gpu.memory_bandwidth_bps, flops_per_s=s.precision.peak_flops(gpu), tdp_w=gpu.tdp_w,
                  idle_w=idle, allreduce_byte_s=1.0 / (link * LINK_BPS[gpu.generation]) if link else 0.0)
    for e in ("eff_experts", "eff_expert_linear"):
        params[e] = params[e] or 1.0
    fitted_model = any(k in p.values for k in (f"memory_scale|{cells['deployment'][0]}",))
    return Resolved(StepParams(**params), tuple(dict.fromkeys(rules)), None if own else source.name, fitted_model)


def _value(p: PhysicalParameters, f: str, name: str, gpu: GPU, source: GPU, rule: str, rules: list[str]) -> float:
    if name in p.values:
        return p.values[name]
    head = name.split("|")
    if f in SCALES:
        return 1.0
    if f in ("allreduce_op_s", "link_eff"):
        ref = f"{f}|{REFERENCE_GENERATION}"
        if ref in p.values:
            rules.append(f"all-reduce latency and link efficiency: {REFERENCE_GENERATION}'s, over {gpu.generation}'s "
                         "NVLink bandwidth")
            return p.values[ref]
    if f in HOST and f != "gpu_layer_s":
        prefix = "|".join(head[:-1]) + "|"
        known = [v for k, v in p.values.items() if k.startswith(prefix)]
        if known:
            rules.append("host constants: the geometric mean of the measured machines'")
            return float(math.exp(np.mean(np.log(known))))
    if f in POWERS:
        src = f"{f}|{source.name}|{head[2]}"
        if src in p.values:
            return _power(p, f, src, head[2], gpu, source, rule, rules)
    raise EnergyPredictError(f"serving: the physical model has no fitted {f} for {name.split('|', 1)[1]} "
                             "(that engine or precision was never measured)")


def _power(p: PhysicalParameters, f: str, src: str, framework: str, gpu: GPU, source: GPU, rule: str,
           rules: list[str]) -> float:
    """A power never measured on `gpu`, from `source`'s by the stated rule, within the destination's headroom."""
    idle_src = p.idle_w[f"{source.name}|{framework}"]
    idle_dst = idle_src * gpu.tdp_w / source.tdp_w
    share = (gpu.tdp_w - idle_dst) / (source.tdp_w - idle_src)
    value = p.values[src]
    if rule == "per-op" and f in ("memory_w", "compute_w"):
        ratio = (gpu.memory_bandwidth_bps / source.memory_bandwidth_bps if f == "memory_w"
                 else gpu.bf16_flops / source.bf16_flops)
        rules.append(f"power: {source.name}'s energy per byte and per FLOP at {gpu.name}'s rates")
        return min(value * ratio, gpu.tdp_w - idle_dst)
    rules.append(f"power: {source.name}'s, as the same share of the idle..limit range")
    return value * share


@dataclass
class PhysicalModel:
    """An EnergyModel over fitted physical parameters.

    `log_bounds`: the 90% log interval per kind of answer (`measured`, `other GPU`, `other model`, `other
    generation`), from the held-out scores of benchmarks/physics_model.py; `ranges`: measured batch, input and
    output ranges per deployment key.
    """

    parameters: PhysicalParameters
    log_bounds: dict[str, tuple[float, float]]
    ranges: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    power_rule: str = "per-op"
    name: str = "physics"
    kind: str = "measured"

    def _resolved(self, dep: Deployment) -> Resolved:
        s = dep.serving
        if s.speculative or s.decoding != "greedy":
            raise EnergyPredictError("serving: the physical model answers greedy decoding without speculation only "
                                     "(its options are not fitted yet)")
        return resolve_params(self.parameters, dep, self.power_rule)

    def basis(self, dep: Deployment) -> Basis:
        r = self._resolved(dep)
        kinds, reasons = [], []
        if r.source_gpu is not None:
            other_gen = resolve_gpu(r.source_gpu).generation != dep.gpu.generation
            kinds.append("other generation" if other_gen else "other GPU")
            reasons.append(f"{dep.gpu.name} never measured: datasheet peaks at the fitted fractions; "
                           + "; ".join(r.rules))
        if not r.measured_model:
            kinds.append("other model")
            reasons.append(f"{dep.arch.name} never measured with this serving configuration: its bytes and FLOPs "
                           "at the fitted fractions")
        elif r.source_gpu is None and self._key(dep) not in self.ranges:
            kinds.append("other GPU")
            reasons.append(f"{dep.arch.name} measured with this serving configuration on another GPU only")
        if not kinds:
            return Basis(MEASURED, self.log_bounds["measured"], "physical step model, fitted on this deployment",
                         self.ranges[self._key(dep)])
        lo = sum(self.log_bounds[k][0] for k in kinds)
        hi = sum(self.log_bounds[k][1] for k in kinds)
        return Basis(TRANSFERRED, (lo, hi), "; ".join(reasons), idle_measured=r.source_gpu is None)

    def _key(self, dep: Deployment) -> str:
        s = dep.serving
        return f"{dep.gpu.name}|" + deployment_key(s.framework, s.cuda_graphs, s.compile, s.quantization,
                                                   s.tensor_parallel, dep.arch.name)

    def batch_phases(self, dep: Deployment, batch_size, input_tokens, output_tokens, cached_tokens=0) -> Phases:
        r = self._resolved(dep)
        s = dep.serving
        budget = HF_TOKEN_BUDGET if s.framework == "hf" else s.max_num_batched_tokens
        w = batch_work(dep.arch, s.tensor_parallel, s.precision.weight_bytes_per_param, batch_size, input_tokens,
                       output_tokens, budget, cached_tokens)
        cost = batch_cost(w, r.params, s.tensor_parallel)
        return Phases(cost.prefill_j, cost.decode_j, cost.duration_s)

    def step_costs(self, dep: Deployment) -> EngineStepCosts:
        raise EnergyPredictError("online: the physical model's steps are not linear in the batch (its memory and "
                                 "compute overlap), so the online simulator's step costs are not given; use "
                                 "`steady_state` (benchmarks/physics_model.py) or the offline estimate")

    def loaded_idle_w(self, dep: Deployment) -> float:
        return float(self._resolved(dep).params.idle_w)

    def padding_extra_j(self, dep: Deployment, batch_size, input_tokens, output_tokens) -> np.ndarray | None:
        return None

    def steady_state(self, dep: Deployment, running: float, input_tokens: float, output_tokens, weights
                     ) -> tuple[float, float]:
        """(J of all GPUs, seconds) of one step of a server kept at `running` sequences: `running` output tokens.

        Every running sequence decodes at the mean context a running sequence holds over its life
        (`physics.mean_kv_tokens_per_sequence`); the requests replacing those that finish (running / mean output
        per step) bring their prompts, prefilled in the same step (chunked prefill reads the weights once for both).
        """
        r = self._resolved(dep)
        s, tp = dep.serving, dep.serving.tensor_parallel
        o = np.asarray(output_tokens, float)
        w = np.asarray(weights, float)
        mean_out = float((w * o).sum() / w.sum())
        context = mean_kv_tokens_per_sequence(np.full_like(o, input_tokens), o, w)
        arrivals = running / mean_out
        work = mixed_work(dep.arch, tp, s.precision.weight_bytes_per_param, running, running * context,
                          arrivals * input_tokens, arrivals * input_tokens * (input_tokens + 1) / 2, arrivals)
        t = step_times(work, r.params)
        seconds = float(t.total_s[0])
        watts = float(soft_power_w(step_power_w(t, r.params), r.params.idle_w, r.params.tdp_w)[0])
        return watts * seconds * tp, seconds



"""Serving options predicted from the greedy configuration: decoding strategies and speculative decoding (issue 17).

The phase model is fitted on greedy decoding without speculation (`Serving.base`). An option is a measured rule
that moves that prediction, fitted by `energy-predict model fit` on the option's own measured cells and stored in
the model card (`options`), with its held-out error:

- sampling (temperature, top-p): the greedy batch's decode x a factor;
- beam search of width w (HF; vLLM 0.26 serves no beam search): a greedy batch of B x w sequences (HF expands the
  prompts to B x w rows before prefill) with its decode x a factor (beam scoring, cache reordering);
- speculative decoding (vLLM): the greedy prefill, then model/speculative.py's steps.

A factor is the median over cells of (measured - rule's prefill) / rule's decode, for energy and time apart; its
held-out error predicts each cell with the factor of the others (leave-one-cell-out). The rules are fitted by
model/option_fit.py; this module answers with them.
"""

from __future__ import annotations

from dataclasses import replace

from energy_predict.errors import EnergyPredictError
from energy_predict.fitted import MEASURED, TRANSFERRED, Basis
from energy_predict.model.speculative import StepCost, decode_cost
from energy_predict.serving import Deployment, Serving

WIDEN_UNMEASURED = 1.5  # an option carried to a model, GPU or beam width it was not measured on


def _basis_with(base: Basis, kind: str, reason: str, bounds, held_out: dict, ranges: dict | None = None) -> Basis:
    """The greedy basis moved by an option: its reason added, the option's log bounds added to the interval."""
    lo, hi = base.log_bounds[0] + bounds[0], base.log_bounds[1] + bounds[1]
    extra = base.extrapolation_log_bounds
    if extra is not None:
        extra = (extra[0] + bounds[0], extra[1] + bounds[1])
    return replace(base, kind=kind, log_bounds=(lo, hi), reason=f"{base.reason}; {reason}",
                   ranges=ranges if ranges is not None else base.ranges,
                   held_out={"greedy": base.held_out, "option": held_out}, extrapolation_log_bounds=extra,
                   option=reason)


def decoding_option(options: dict, dep: Deployment, model_name: str) -> dict:
    """The measured decoding rule for `dep`'s framework and strategy; EnergyPredictError where there is none."""
    s = dep.serving
    if s.framework == "vllm" and s.decoding == "beam":
        raise EnergyPredictError(
            "serving.decoding: vLLM 0.26's engine has no beam search (LLM.beam_search and the server's "
            "use_beam_search emulate it with a Python loop of one-token generate calls, which was not measured); use "
            "framework hf for beam search, or decoding sampling or greedy with vLLM")
    for o in options.get("decoding", []):
        if o["framework"] == s.framework and o["decoding"] == s.decoding:
            return o
    raise EnergyPredictError(
        f"serving.decoding: {s.decoding} decoding under {s.framework} has no measured cells in the model "
        f"'{model_name}', so nothing says what it costs; measure it (`energy-predict calibrate` with a "
        f"{s.decoding} config) or use decoding greedy")


def decoding_basis(option: dict, dep: Deployment, base: Basis) -> Basis:
    """What a sampling or beam answer rests on: the greedy basis and the rule's leave-one-cell-out error."""
    s, h = dep.serving, option["held_out"]
    own = [dep.arch.name, dep.gpu.name] in option["measured"]
    measured_with = [Serving.from_dict(d) for d in option["servings"]]
    same_engine = s.base.key in {m.key for m in measured_with}
    width_measured = s.decoding != "beam" or s.beam_width in option["beam_widths"]
    what = f"beam search of width {s.beam_width}" if s.decoding == "beam" else "sampling"
    rule = (f"a greedy batch of {s.beam_width} x the requests' sequences, its decode x {option['energy_factor']:.3f}"
            if s.decoding == "beam" else f"the greedy decode x {option['energy_factor']:.3f}")
    where = ", ".join(f"{m} on {g}" for m, g in option["measured"])
    reason = (f"{what}: {rule}, fitted on {option['cells']} measured {s.framework} {s.decoding} cells ({where}; "
              f"leave-one-cell-out error median {100 * h['median_ape']:.0f}%, p90 {100 * h['p90_ape']:.0f}%)")
    if s.decoding == "sampling":
        reason += "; measured at temperature 1, top-p 0.95 (other values run the same kernels)"
    bounds = tuple(h["log_bounds"])
    kind = base.kind
    if not own or not same_engine or not width_measured:
        missing = []
        if not own:
            missing.append(f"{dep.arch.name} on {dep.gpu.name}")
        if not same_engine:
            missing.append(f"{s.base.label} (measured with {', '.join(m.label for m in measured_with)})")
        if not width_measured:
            missing.append(f"width {s.beam_width} (measured: {', '.join(map(str, option['beam_widths']))})")
        reason += (f"; carried to {' and '.join(missing)}, where it was not measured: its interval widened "
                   f"x{WIDEN_UNMEASURED:g}")
        bounds = (bounds[0] * WIDEN_UNMEASURED, bounds[1] * WIDEN_UNMEASURED)
        kind = TRANSFERRED if base.kind == MEASURED else base.kind
    ranges = {**base.ranges, "batch_size": tuple(option["batch_size"])}  # requests, as measured
    return _basis_with(base, kind, reason, bounds, h, ranges)


def speculative_option(options: dict, dep: Deployment, model_name: str) -> dict:
    """The measured step costs for `dep`'s target, draft, GPU and greedy configuration; refusals name the field."""
    s, spec = dep.serving, dep.serving.speculative
    if s.framework != "vllm":
        raise EnergyPredictError("serving.speculative: speculative decoding is measured and modelled as a vLLM "
                                 "option; set serving.framework to vllm, or drop serving.speculative")
    if s.decoding != "greedy":
        raise EnergyPredictError(f"serving.speculative: speculative decoding was measured with greedy decoding, "
                                 f"not {s.decoding}; set serving.decoding to greedy, or drop serving.speculative")
    draft = spec.arch.name
    measured = options.get("speculative", [])
    where = "; ".join(f"{o['model']} with a {o['draft']} draft on {o['gpu']} ({describe_serving(o['serving'])}, "
                      f"draft_tokens {o['draft_tokens'][0]}-{o['draft_tokens'][1]})" for o in measured) or "none"
    for o in measured:
        if (o["model"], o["draft"], o["gpu"]) == (dep.arch.name, draft, dep.gpu.name) \
                and Serving.from_dict(o["serving"]).key == s.base.key:
            lo, hi = o["draft_tokens"]
            if not lo <= spec.draft_tokens <= hi:
                raise EnergyPredictError(
                    f"serving.speculative.draft_tokens: {spec.draft_tokens} drafted tokens a step were not measured "
                    f"(measured {lo}-{hi} with this target and draft); give a draft length in {lo}-{hi}")
            return o
    raise EnergyPredictError(
        f"serving.speculative: speculative decoding of {dep.arch.name} with a {draft} draft on {dep.gpu.name} "
        f"under {s.base.label} was not measured in the model '{model_name}' (a step's cost depends on both models, "
        f"the GPU and the engine); measured: {where}")


def describe_serving(key_dict: dict) -> str:
    """A card's serving key as its short label."""
    return Serving.from_dict(key_dict).label


def speculative_basis(option: dict, dep: Deployment, base: Basis) -> Basis:
    """What a speculative answer rests on: the greedy prefill's basis and the step model's held-out errors."""
    spec, h = dep.serving.speculative, option["held_out"]
    scores = "; ".join(f"{name.replace('_', ' ')} median {100 * s['median_ape']:.0f}%, max {100 * s['max_ape']:.0f}%"
                       for name, s in h.items() if isinstance(s, dict))
    reason = (f"speculative decoding ({spec.label}): {spec.accepted_per_step:.2f} drafted tokens accepted a step; "
              f"step costs fitted on {option['cells']} measured cells (draft_tokens {option['draft_tokens'][0]}-"
              f"{option['draft_tokens'][1]}, acceptance {option['acceptance'][0]:.2f}-{option['acceptance'][1]:.2f}, "
              f"batch {option['batch_size'][0]}-{option['batch_size'][1]}, input {option['input_tokens'][0]}-"
              f"{option['input_tokens'][1]}, output {option['output_tokens'][0]}-"
              f"{option['output_tokens'][1]} tokens; held out: {scores}); prefill and the KV-cache reads are the "
              "target's and the draft's greedy ones")
    ranges = {key: tuple(option[key]) for key in ("batch_size", "input_tokens", "output_tokens")}
    return _basis_with(base, base.kind, reason, tuple(h["log_bounds"]), h, ranges)


def draft_deployment(dep: Deployment) -> Deployment:
    """The draft model on the target's GPU and greedy configuration: its prefill and KV reads are its own."""
    return replace(dep.base, arch=dep.serving.speculative.arch, gpu_count=1)


def context_cost(target_steps, draft_steps, k) -> float:
    """Cost per context token of one speculative step.

    The target's verification reads its KV cache once, each of the k draft forwards reads the draft's (each model's
    `per_context_token` from the greedy phase model).
    """
    return target_steps.per_context_token + k * draft_steps.per_context_token


def speculative_decode(option: dict, dep: Deployment, target_steps, draft_steps, b, i, o):
    """(energy J, time s) of each batch's speculative decode; `*_steps`: (energy, time) greedy step costs."""
    spec = dep.serving.speculative
    k, acc = spec.draft_tokens, spec.accepted_per_step
    return tuple(decode_cost(StepCost(tuple(option[coef])), context_cost(t, d, k), b, i, o, k, acc)
                 for coef, t, d in zip(("energy_coef", "time_coef"), target_steps, draft_steps))

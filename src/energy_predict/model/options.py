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

from energy_predict.contracts.card import DecodingOption, ModelCard, SpeculativeOption
from energy_predict.contracts.scores import HeldOutScore, LogBounds
from energy_predict.fitted import MEASURED, TRANSFERRED, EngineStepCosts, HeldOut, StepCosts
from energy_predict.model.resolution import Refusal, Resolution
from energy_predict.model.speculative import StepCost, decode_cost
from energy_predict.serving import Deployment, Serving

WIDEN_UNMEASURED = 1.5  # an option carried to a model, GPU or beam width it was not measured on


def _moved(base: Resolution, kind: str, reason: str, bounds: LogBounds, held_out: HeldOut, ranges, option: str
           ) -> Resolution:
    """The greedy resolution moved by an option: its reason added, the option's log bounds added to the interval."""
    lo, hi = base.bounds[0] + bounds[0], base.bounds[1] + bounds[1]
    extra = base.extrapolation_bounds
    if extra is not None:
        extra = (extra[0] + bounds[0], extra[1] + bounds[1])
    return replace(base, kind=kind, bounds=(lo, hi), reasons=(*base.reasons, reason), ranges=ranges,
                   held_out=replace(held_out, adds_to=base.held_out), extrapolation_bounds=extra,
                   option_reason=reason, route=replace(base.route, option=option))


def _options(card: ModelCard):
    return card.options.decoding if card.options else [], card.options.speculative if card.options else []


def decoding_option(card: ModelCard, dep: Deployment) -> DecodingOption:
    """The measured decoding rule for `dep`'s framework and strategy; `Refusal` where there is none."""
    s = dep.serving
    if s.framework == "vllm" and s.decoding == "beam":
        raise Refusal("serving.decoding", "vLLM 0.26's engine has no beam search (LLM.beam_search and the server's "
                      "use_beam_search emulate it with a Python loop of one-token generate calls, which was not "
                      "measured)", "use framework hf for beam search, or decoding sampling or greedy with vLLM")
    for o in _options(card)[0]:
        if o.framework == s.framework and o.decoding == s.decoding:
            return o
    raise Refusal("serving.decoding", f"{s.decoding} decoding under {s.framework} has no measured cells in the model "
                  f"'{card.name}', so nothing says what it costs", f"measure it (`energy-predict calibrate` with a "
                  f"{s.decoding} config) or use decoding greedy")


def decoding_resolution(option: DecodingOption, dep: Deployment, base: Resolution) -> Resolution:
    """What a sampling or beam answer rests on: the greedy answer and the rule's leave-one-cell-out error."""
    s, h = dep.serving, option.held_out
    own = (dep.arch.name, dep.gpu.name) in [tuple(m) for m in option.measured]
    measured_with = [Serving.from_dict(d) for d in option.servings]
    same_engine = s.base.key in {m.key for m in measured_with}
    width_measured = s.decoding != "beam" or s.beam_width in option.beam_widths
    what = f"beam search of width {s.beam_width}" if s.decoding == "beam" else "sampling"
    rule = (f"a greedy batch of {s.beam_width} x the requests' sequences, its decode x {option.energy_factor:.3f}"
            if s.decoding == "beam" else f"the greedy decode x {option.energy_factor:.3f}")
    where = ", ".join(f"{m} on {g}" for m, g in option.measured)
    reason = (f"{what}: {rule}, fitted on {option.cells} measured {s.framework} {s.decoding} cells ({where}; "
              f"leave-one-cell-out error median {100 * h.median_ape:.0f}%, p90 {100 * h.p90_ape:.0f}%)")
    if s.decoding == "sampling":
        reason += "; measured at temperature 1, top-p 0.95 (other values run the same kernels)"
    bounds = tuple(h.log_bounds)
    kind, widening = base.kind, None
    if not own or not same_engine or not width_measured:
        missing = []
        if not own:
            missing.append(f"{dep.arch.name} on {dep.gpu.name}")
        if not same_engine:
            missing.append(f"{s.base.label} (measured with {', '.join(m.label for m in measured_with)})")
        if not width_measured:
            missing.append(f"width {s.beam_width} (measured: {', '.join(map(str, option.beam_widths))})")
        reason += (f"; carried to {' and '.join(missing)}, where it was not measured: its interval widened "
                   f"x{WIDEN_UNMEASURED:g}")
        widening = WIDEN_UNMEASURED
        bounds = h.widened(WIDEN_UNMEASURED)
        kind = TRANSFERRED if base.kind == MEASURED else base.kind
    ranges = base.ranges.model_copy(update={"batch_size": tuple(option.batch_size)})  # requests, as measured
    held_out = HeldOut(h.scheme or "leave-one-cell-out", (h,), widening=widening)
    return _moved(base, kind, reason, bounds, held_out, ranges, "decoding")


def speculative_option(card: ModelCard, dep: Deployment) -> SpeculativeOption:
    """The measured step costs for `dep`'s target, draft, GPU and greedy configuration; refusals name the field."""
    s, spec = dep.serving, dep.serving.speculative
    if s.framework != "vllm":
        raise Refusal("serving.speculative", "speculative decoding is measured and modelled as a vLLM option",
                      "set serving.framework to vllm, or drop serving.speculative")
    if s.decoding != "greedy":
        raise Refusal("serving.speculative", f"speculative decoding was measured with greedy decoding, not "
                      f"{s.decoding}", "set serving.decoding to greedy, or drop serving.speculative")
    draft = spec.arch.name
    measured = _options(card)[1]
    for o in measured:
        if (o.model, o.draft, o.gpu) == (dep.arch.name, draft, dep.gpu.name) \
                and Serving.from_dict(o.serving).key == s.base.key:
            lo, hi = o.draft_tokens
            if not lo <= spec.draft_tokens <= hi:
                raise Refusal("serving.speculative.draft_tokens", f"{spec.draft_tokens} drafted tokens a step were "
                              f"not measured (measured {lo}-{hi} with this target and draft)",
                              f"give a draft length in {lo}-{hi}")
            a_lo, a_hi = o.acceptance
            if spec.acceptance_rate is not None and not a_lo - 1e-9 <= spec.acceptance_rate <= a_hi + 1e-9:
                raise Refusal("serving.speculative.acceptance_rate", f"an acceptance rate of {spec.acceptance_rate:g} "
                              f"was not measured (measured {a_lo:.2f}-{a_hi:.2f} with this target and draft)",
                              f"give an acceptance rate in {a_lo:.2f}-{a_hi:.2f}")
            return o
    where = "; ".join(f"{o.model} with a {o.draft} draft on {o.gpu} ({describe_serving(o.serving)}, "
                      f"draft_tokens {o.draft_tokens[0]}-{o.draft_tokens[1]})" for o in measured) or "none"
    raise Refusal("serving.speculative", f"speculative decoding of {dep.arch.name} with a {draft} draft on "
                  f"{dep.gpu.name} under {s.base.label} was not measured in the model '{card.name}' (a step's cost "
                  "depends on both models, the GPU and the engine)", f"measured: {where}")


def describe_serving(key_json: dict) -> str:
    """A card's serving key as its short label."""
    return Serving.from_dict(key_json).label


def speculative_resolution(option: SpeculativeOption, dep: Deployment, base: Resolution) -> Resolution:
    """What a speculative answer rests on: the greedy prefill's answer and the step model's held-out errors."""
    spec, h = dep.serving.speculative, option.held_out
    scored = h.scores()
    scores = "; ".join(f"{name.replace('_', ' ')} median {100 * s.median_ape:.0f}%, max {100 * s.max_ape:.0f}%"
                       for name, s in scored.items())
    reason = (f"speculative decoding ({spec.label}): {spec.accepted_per_step:.2f} drafted tokens accepted a step; "
              f"step costs fitted on {option.cells} measured cells (draft_tokens {option.draft_tokens[0]}-"
              f"{option.draft_tokens[1]}, acceptance {option.acceptance[0]:.2f}-{option.acceptance[1]:.2f}, "
              f"batch {option.batch_size[0]}-{option.batch_size[1]}, input {option.input_tokens[0]}-"
              f"{option.input_tokens[1]}, output {option.output_tokens[0]}-"
              f"{option.output_tokens[1]} tokens; held out: {scores}); prefill and the KV-cache reads are the "
              "target's and the draft's greedy ones")
    held_out = HeldOut("speculative step costs", tuple(_named(s, name) for name, s in scored.items()))
    return _moved(base, base.kind, reason, tuple(h.log_bounds), held_out, option.ranges(), "speculative")


def _named(score: HeldOutScore, scheme: str) -> HeldOutScore:
    return score if score.scheme else score.model_copy(update={"scheme": scheme})


def draft_deployment(dep: Deployment) -> Deployment:
    """The draft model on the target's GPU and greedy configuration: its prefill and KV reads are its own."""
    return replace(dep.base, arch=dep.serving.speculative.arch, gpu_count=1)


def context_cost(target_steps, draft_steps, k) -> float:
    """Cost per context token of one speculative step.

    The target's verification reads its KV cache once, each of the k draft forwards reads the draft's (each model's
    `per_context_token` from the greedy phase model).
    """
    return target_steps.per_context_token + k * draft_steps.per_context_token


def speculative_decode(option: SpeculativeOption, dep: Deployment, target: EngineStepCosts, draft: EngineStepCosts,
                       b, i, o):
    """(energy J, time s) of each batch's speculative decode, from the target's and the draft's greedy step costs."""
    spec = dep.serving.speculative
    k, acc = spec.draft_tokens, spec.accepted_per_step
    energy = decode_cost(StepCost(tuple(option.energy_coef)), context_cost(target.energy, draft.energy, k), b, i, o,
                         k, acc)
    time = decode_cost(StepCost(tuple(option.time_coef)), context_cost(target.time, draft.time, k), b, i, o, k, acc)
    return energy, time


def speculative_step_costs(option: SpeculativeOption, dep: Deployment, target: EngineStepCosts,
                           draft: EngineStepCosts) -> EngineStepCosts:
    """A speculative engine step for the online simulator, from the same fitted step cost the offline batches use.

    The fitted step p0 + p1 B + k (r0 + r1 B) + acc (q0 + q1 B) is a constant plus a cost per sequence at the
    deployment's draft length k and accepted tokens acc; the context read is the target's and k draft forwards'
    (`context_cost`); prefill is the target's and the draft's; each step advances a sequence by 1 + acc tokens. A
    step that also prefills pays the prefill constants (one read of each model's weights) and, for its decodes, what
    the speculative step's constant holds beyond one plain step of each model.
    """
    spec = dep.serving.speculative
    k, acc = spec.draft_tokens, spec.accepted_per_step

    def step(coef, t: StepCosts, d: StepCosts) -> StepCosts:
        p0, p1, r0, r1, q0, q1 = coef
        const = p0 + k * r0 + acc * q0
        return StepCosts(prefill_const=float(t.prefill_const + d.prefill_const),
                         prefill_linear=float(t.prefill_linear + d.prefill_linear),
                         prefill_attention=float(t.prefill_attention + d.prefill_attention),
                         step_const=float(const), per_sequence=float(p1 + k * r1 + acc * q1),
                         per_context_token=float(context_cost(t, d, k)), tokens_per_step=1.0 + acc,
                         mixed_const=float(max(const - t.step_const - d.step_const, 0.0)))

    return EngineStepCosts(step(option.energy_coef, target.energy, draft.energy),
                           step(option.time_coef, target.time, draft.time))

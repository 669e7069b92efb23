"""Step-level energy and time of a serving engine, from the fitted phase coefficients they come from.

One engine step holds some decoding sequences (n, with C context tokens in all) and possibly prefill chunks
(T new tokens with P attention pairs). Its energy and duration use the same fitted coefficients as the batch
model: the batch model is this step model summed over a fixed batch's steps, a mixture of experts' weight reads
included (the experts n sequences touch, not one token's).
"""

from __future__ import annotations

from energy_predict import flops
from energy_predict.contracts.keys import FitKey
from energy_predict.fitted import StepCosts
from energy_predict.model.phases import TERMS, PhaseCoefficients, allreduce_bytes_per_token
from energy_predict.serving import Deployment


def step_costs(model: PhaseCoefficients, dep: Deployment) -> StepCosts:
    """Collapse the phase model's per-batch terms into per-step coefficients for one deployment."""
    arch = dep.arch
    c = dict(zip(TERMS, model.coefficients(FitKey.of(dep.gpu.name, dep.serving).flat, arch.name, arch.is_moe)))
    precision = dep.serving.precision
    bpp = precision.weight_bytes_per_param
    linear = 2.0 * flops.matmul_params_per_token(arch) + flops.lm_head_flops(arch)
    reduced = allreduce_bytes_per_token(arch)
    return StepCosts(
        # prefill runs the LM head once per sequence, not per token: counted in the constant
        prefill_const=c["batch"] + c["prefill_layers"] * arch.num_layers
        + c["prefill_linear_flops"] * flops.lm_head_flops(arch) + c["prefill_allreduce_ops"] * 2 * arch.num_layers,
        prefill_linear=c["prefill_linear_flops"] * 2.0 * flops.matmul_params_per_token(arch)
        + c["prefill_allreduce_bytes"] * reduced,
        prefill_attention=c["prefill_attention_flops"] * flops.attention_flops(arch, 1.0),
        # the weights outside the routed experts every step (all of a dense model's: weight_bytes at 0 tokens)
        step_const=c["steps"] + c["step_layers"] * arch.num_layers
        + c["step_weight_bytes"] * float(flops.weight_bytes(arch, 1.0, 0)) * bpp
        + c["decode_allreduce_ops"] * 2 * arch.num_layers,
        per_sequence=c["step_sequences"] + c["decode_linear_flops"] * linear + c["decode_allreduce_bytes"] * reduced,
        per_context_token=c["decode_kv_bytes"] * arch.kv_bytes_per_token(precision.kv_bytes_per_value),
        # and those of the experts the step's sequences touch, as the batch model reads them (flops.weight_bytes)
        per_expert=c["step_weight_bytes"] * arch.moe_layers * arch.expert_params * arch.expert_bytes_per_param(bpp)
        if arch.is_moe else 0.0,
        experts=arch.num_experts if arch.is_moe else 0, experts_per_token=arch.experts_per_token,
    )

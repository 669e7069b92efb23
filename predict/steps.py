"""Step-level energy and time of a serving engine, from the default model's fitted phases.

One engine step holds some decoding sequences (n, with C context tokens in all) and possibly prefill
chunks (T new tokens with P attention pairs). Its energy and duration use the same fitted coefficients
as the batch model: the batch model is this step model summed over a fixed batch's steps. Idle time
between steps draws the measured loaded-idle power of the GPU with an engine on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energy_predict import flops
from energy_predict.architectures import Architecture
from energy_predict.model.features import cell_frame
from energy_predict.model.structured import TERMS, PhaseModel, config_keys, deployment_keys


@dataclass(frozen=True)
class StepCoefficients:
    """Joules (or seconds) per unit of each physical term of one step."""

    prefill_const: float
    prefill_linear: float  # per prefill token
    prefill_attention: float  # per attention (query, key) pair
    step_const: float
    per_sequence: float  # per decoding sequence (incl. its linear FLOPs and expert weights read)
    per_context_token: float  # per context token read from the KV cache

    def cost(self, n_decode, context_tokens, prefill_tokens, attention_pairs):
        """Cost of steps (arrays broadcast); a step with nothing in it costs nothing."""
        n = np.asarray(n_decode, float)
        t = np.asarray(prefill_tokens, float)
        busy = (n > 0) | (t > 0)
        # one constant per step: a step holding prefill reads the weights once for its chunk, which the prefill
        # constant (fitted on whole prefill batches) already holds; measured chunked prefill says so (findings)
        constant = np.where(t > 0, self.prefill_const, self.step_const)
        return np.where(busy, constant + self.per_sequence * n + self.per_context_token * context_tokens
                        + self.prefill_linear * t + self.prefill_attention * attention_pairs, 0.0)


def step_coefficients(model: PhaseModel, arch: Architecture, gpu, serving: dict) -> StepCoefficients:
    """Collapse the phase model's per-batch terms into per-step coefficients for one deployment."""
    frame = cell_frame(arch, gpu, serving, 1, 1, 2)
    key_dep, key_cfg = deployment_keys(frame).iloc[0], config_keys(frame).iloc[0]
    if key_cfg not in model.coef_:
        raise KeyError(key_cfg)
    c = dict(zip(TERMS, model.coef_.get(key_dep, model.coef_[key_cfg])))
    bpp = 1.0 if serving.get("quantization") == "fp8" else 2.0
    linear = 2.0 * flops.matmul_params_per_token(arch) + flops.lm_head_flops(arch)
    return StepCoefficients(
        # prefill runs the LM head once per sequence, not per token: counted in the constant
        prefill_const=c["batch"] + c["prefill_layers"] * arch.num_layers
        + c["prefill_linear_flops"] * flops.lm_head_flops(arch),
        prefill_linear=c["prefill_linear_flops"] * 2.0 * flops.matmul_params_per_token(arch),
        prefill_attention=c["prefill_attention_flops"] * flops.attention_flops(arch, 1.0),
        step_const=c["steps"] + c["step_layers"] * arch.num_layers
        + c["step_weight_bytes"] * float(flops.weight_bytes(arch, 1.0, 1)) * bpp,
        per_sequence=c["step_sequences"] + c["decode_linear_flops"] * linear,
        per_context_token=c["decode_kv_bytes"] * arch.kv_bytes_per_token(),
    )

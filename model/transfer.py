"""Transfer of fitted coefficients from a measured GPU to a sibling GPU that was not measured in a configuration.

Between GPUs of one architecture generation (the H100 SXM and H200 SXM share the Hopper die, clocks and TDP and
differ in HBM), the kernels are the same and what changes is how fast memory is read. So the terms that count bytes
(weights read per step, KV cache read per token) take the bandwidth ratio, in time and in energy (a memory-bound
step draws power for as long as it waits on memory); every other term carries over. The error of this transfer is
measured leave-one-GPU-out in both directions (`fit.gpu_transfer`), and a transferred answer carries that interval.
"""

from __future__ import annotations

import numpy as np

from energy_predict.gpus import GPU
from energy_predict.model.phases import TERMS, PhaseCoefficients

BANDWIDTH_TERMS = ("step_weight_bytes", "decode_kv_bytes")


def transfer_coefficients(pc: PhaseCoefficients, src: GPU, dst: GPU) -> PhaseCoefficients:
    """The source GPU's coefficients re-keyed to the destination GPU, byte terms scaled by the bandwidth ratio."""
    ratio = src.memory_bandwidth_bps / dst.memory_bandwidth_bps
    scale = np.array([ratio if t in BANDWIDTH_TERMS else 1.0 for t in TERMS])
    coef = {}
    for key, c in pc.coef_.items():
        config, model = key if isinstance(key[0], tuple) else (key, None)
        if config[0] != src.name:
            continue
        moved = (dst.name, *config[1:])
        coef[moved if model is None else (moved, model)] = c * scale
    return PhaseCoefficients(coef, np.asarray(pc.scale_), pc.min_cells, pc.min_cells_per_model)

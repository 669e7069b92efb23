"""What left padding adds to an HF `generate` batch, fitted from a measured A/B (artifacts/padding/).

With every row the same length, transformers passes no attention mask and SDPA runs its causal flash kernel.
One padded row is enough to change that (benchmarks/hf_padding.py: one row one token short costs what a
heavily padded batch costs): a 4-D mask is built for every forward, prefill attention runs masked, and every
decode step runs a masked kernel over the whole cache. The extra energy, on top of the unpadded batch of the
same (B, max I, max O), is modelled by three non-negative terms:

    extra = c0 x B x I x layers  +  c1 x B x attention FLOPs(I x I)  +  c2 x B x (sum of decode contexts) x KV bytes

Only Llama-3.1-8B was measured; other models follow through their layers, attention FLOPs and KV bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from energy_predict import flops
from energy_predict.architectures import REGISTRY, Architecture

TERMS = ["token_layers", "masked_attention_flops", "decode_context_kv_bytes"]


def padding_terms(arch: Architecture, b, i, o) -> np.ndarray:
    """(n, 3) terms of padded batches of B rows, longest input I, O new tokens."""
    b, i, o = (np.asarray(x, dtype=float).reshape(-1) for x in (b, i, o))
    _, context_sum = flops.decode_contexts(i, o)
    return np.stack([b * i * arch.num_layers, b * flops.attention_flops(arch, i * i),
                     b * context_sum * arch.kv_bytes_per_token()], axis=1)


def padding_extra_j(coef: list[float] | np.ndarray, arch: Architecture, b, i, o) -> np.ndarray:
    """Extra joules of each padded batch over the unpadded batch of the same shape."""
    return padding_terms(arch, b, i, o) @ np.asarray(coef, dtype=float)


def read_ab(path: Path) -> tuple[dict, list[dict]]:
    """(meta, rows) of one A/B file written from benchmarks/hf_padding.py."""
    lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    meta = next((x["meta"] for x in lines if "meta" in x), {})
    return meta, [x for x in lines if "variant" in x]


def fit_padding(rows: list[dict], model: str = "Llama-3.1-8B") -> np.ndarray:
    """Coefficients from (padded or pad1) minus unpadded mean energy per cell, least squares on relative error."""
    arch = REGISTRY[model]
    means: dict[tuple, dict[str, list[float]]] = {}
    for r in rows:
        means.setdefault((r["b"], r["i"], r["o"]), {}).setdefault(r["variant"], []).append(r["energy_j"])
    shapes, extra = [], []
    for (b, i, o), v in sorted(means.items()):
        base = np.mean(v.get("ones", [np.nan]))
        for variant in ("pad1", "padded"):
            if variant in v and np.isfinite(base):
                shapes.append((b, i, o))
                extra.append(np.mean(v[variant]) - base)
    if len(extra) < 3:
        raise ValueError("need padded and unpadded readings of at least 3 cells")
    b, i, o = (np.array(x, dtype=float) for x in zip(*shapes))
    terms = padding_terms(arch, b, i, o)
    y = np.maximum(np.array(extra), 1e-9)
    scale = terms.max(axis=0)
    from scipy.optimize import nnls  # fitting only: the prediction path does not import scipy

    coef, _ = nnls(terms / scale / y[:, None], np.ones(len(y)))
    return coef / scale

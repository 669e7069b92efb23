"""HF `generate` pads every batch to its longest request: what a workload costs served that way.

The workload estimate serves each request in a batch of its own lengths (the reference study's framing), which
vLLM's continuous batching comes close to. HF has no such scheduler: a batch of B requests runs at its longest
input and longest output, and any padding switches attention to its masked path (model/padding.py). Here the
workload's requests are drawn from its length distribution, grouped B at a time as they come (in random order), and
costed as padded batches; the HF offline replays in docs/validation.md check this way of costing.
"""

from __future__ import annotations

import numpy as np

from energy_predict.model.features import cell_frame
from energy_predict.model.padding import padding_extra_j
from energy_predict.predict.estimate import Deployment, batch_sizes
from energy_predict.predict.serving import sample_requests
from energy_predict.workload import Workload


def padded_batches(w: Workload, dep: Deployment, model, n: int = 4096, seed: int = 0) -> dict | None:
    """Energy of the workload as padded HF batches, or None where it does not apply (not HF, no padding fit)."""
    padding = (getattr(model, "card", None) or {}).get("hf_padding")
    if dep.serving.get("backend") != "hf" or not padding:
        return None
    i, o = sample_requests(w, n, seed)
    cap = int(dep.serving.get("max_batch", 256))
    sizes, widths, news, padded = [], [], [], []
    k = 0
    while k < len(i):
        b = len(i[k:k + cap])
        b = max(1, min(b, int(batch_sizes(dep, np.array([i[k:k + b].max()]), np.array([o[k:k + b].max()]))[0])))
        group = slice(k, k + b)
        sizes.append(b)
        widths.append(int(i[group].max()))
        news.append(int(o[group].max()))
        padded.append(len(set(i[group].tolist())) > 1)
        k += b
    frame = cell_frame(dep.arch, dep.gpu, dep.serving, sizes, widths, news)
    phases = model.predict_phases(frame)
    extra = padding_extra_j(padding["coef"], dep.arch, sizes, widths, news) * np.array(padded)
    per_request = float((phases["prefill_j"] + phases["decode_j"]).sum() + extra.sum()) / len(i)
    return {"energy_kwh": per_request * w.requests / 3.6e6, "energy_per_request_j": per_request,
            "padding_share": float(extra.sum() / ((phases["prefill_j"] + phases["decode_j"]).sum() + extra.sum())),
            "batches": len(sizes), "sampled_requests": int(len(i)), "batch_cap": cap}

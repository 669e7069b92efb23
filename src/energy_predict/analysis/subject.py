"""What the findings page is about, named once: the model and GPU, the serving configurations it compares.

The page reads measured cells by their configuration's name (a record's `config`), so every name it looks up is
here, beside the reason it is chosen; the rest of the analysis takes them from this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from energy_predict.architectures import REGISTRY
from energy_predict.errors import EnergyPredictError
from energy_predict.gpus import CATALOG
from energy_predict.serving import Deployment, Serving

H100 = CATALOG["H100-SXM-80GB"]
LLAMA8 = REGISTRY["Llama-3.1-8B"]


# The configurations the page compares, by the name their records carry (`config`).
HF_EAGER, HF_COMPILE = "hf-eager", "hf-compile"
HF_SAMPLING, HF_BEAM4 = "hf-sampling", "hf-beam4"
VLLM_GRAPHS, VLLM_EAGER, VLLM_FP8 = "vllm-graphs", "vllm-eager", "vllm-graphs-fp8"
VLLM_SAMPLING = "vllm-graphs-sampling"
VLLM_PREFIX = "vllm-graphs-prefix"  # prefix caching on, as vLLM 0.26 defaults: the notes' 256 x 1024 -> 256 cell
VLLM_CHUNK1K = "vllm-graphs-chunk1k"  # prefill in 1024-token steps, checked against the simulator (validation.md)


@dataclass(frozen=True)
class Served:
    """A serving configuration the page draws: its label, its `Serving` and the config name its cells carry."""

    label: str
    serving: Serving
    config: str


SERVED = (
    Served("HF eager", Serving(framework="hf"), HF_EAGER),
    Served("HF compiled", Serving(framework="hf", compile=True), HF_COMPILE),
    Served("vLLM eager", Serving(framework="vllm", cuda_graphs=False), VLLM_EAGER),
    Served("vLLM CUDA graphs", Serving(framework="vllm", cuda_graphs=True), VLLM_GRAPHS),
    Served("vLLM CUDA graphs fp8", Serving(framework="vllm", cuda_graphs=True, quantization="fp8"), VLLM_FP8),
)
SERVING = {s.label: s.serving for s in SERVED}
CONFIG_OF = {s.label: s.config for s in SERVED}

# The HF options measured on the same cells (512 -> 128 at batch 1 and 8), in the order the page's table shows them.
HF_OPTIONS = (HF_EAGER, "hf-eager-attn", HF_SAMPLING, HF_BEAM4, HF_COMPILE)
# The model families table: the campaign that measured the new models on the cells a new model gets
# (campaigns/x4-tp4-families; a run's run.json names its lease's campaign), and its engines on one GPU or on two
# (Llama-3.1-70B at TP4 ran another engine, vLLM's TP passes off, and is left out).
FAMILY_CAMPAIGN = "x4-tp4-families"
FAMILY_CONFIGS = (VLLM_GRAPHS, "vllm-graphs-mem95", "vllm-graphs-tp2-noarfusion")
# Tensor parallelism on the H100: Llama-3.1-8B's engines at TP1, TP2 and TP4 on the same cells (the TP engines ran
# with vLLM's all-reduce fusion pass off: it needs NVLink multicast, off on these machines).
TP_CONFIGS = (VLLM_GRAPHS, "vllm-graphs-tp2-noarfusion", "vllm-graphs-tp4-noarfusion")


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


def card_json(model) -> dict:
    """A model's card as JSON (a typed card's stored form; none for an analytic model)."""
    card = getattr(model, "card", None)
    return card.to_json() if hasattr(card, "to_json") else (card or {})

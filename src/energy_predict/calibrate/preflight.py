"""What calibration needs before any work starts: the framework installed, a GPU to meter, a grid of bounded size.

Each check answers in one line with the fix, so a plain install, a machine without a GPU or a runaway grid is
refused before a million cells are expanded or a model is built on the CPU for minutes.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from typing import Any

from energy_predict.calibrate.grid import Grid, engine_order
from energy_predict.errors import EnergyPredictError, InputError

# The modules each backend imports, and the extra that installs them.
BACKEND_MODULES = {"hf": (("torch", "transformers"), "calibrate"), "vllm": (("torch", "vllm"), "vllm")}
# A grid is a lease's plan: the largest committed campaign measured a few hundred cells; a million is a typo.
MAX_GRID_CELLS = 100_000


def grid_cell_bound(grid: Grid) -> int:
    """An upper bound on the grid's cells, from its lists' lengths alone (nothing is expanded)."""
    total = 0
    for block in grid.blocks:
        models = len(block.models or grid.models)
        configs = len(block.configs or grid.configs)
        total += models * configs * len(block.batch_sizes) * len(block.input_tokens) * len(block.output_tokens)
    return total


def check_grid_size(grid: Grid, field: str = "grid") -> None:
    """Refuse a grid with more cells than a lease can measure."""
    cells = grid_cell_bound(grid)
    if cells > MAX_GRID_CELLS:
        raise InputError(f"{field}.blocks", f"the grid has up to {cells:,} cells, more than {MAX_GRID_CELLS:,} (the "
                         "largest campaign measured a few hundred)", "narrow the blocks' lists")


def check_models(grid: Grid) -> None:
    """Resolve every model of the grid now, and check each of its engines can build it with random weights.

    A typo is named first; a model of no buildable family (HF builds from its family's config.json, vLLM also from a
    shipped id's own) is refused before a GPU is held, not at its first cell.
    """
    from energy_predict.architectures import calibration_config, resolve_architecture, to_hf_config

    archs = {model: resolve_architecture(model) for model in grid.models}
    frameworks = {c.name: c.framework for c in grid.configs}
    for model, framework in dict.fromkeys((m, frameworks[c]) for m, c in engine_order(grid)):
        try:
            (calibration_config if framework == "vllm" else to_hf_config)(archs[model])
        except ValueError as e:
            raise InputError("models", f"{model} cannot be built with random weights for {framework}: {e}",
                             "calibrate a model of a registry family or a shipped Hugging Face id, with an "
                             "engine that can build it") from None


def check_backend_name(name: str) -> None:
    """Refuse a backend this package has no module for."""
    if name not in BACKEND_MODULES:
        raise InputError("--backend", f"unknown backend {name!r}", "use hf or vllm")


def check_installed(backends: Iterable[str]) -> None:
    """Refuse a backend whose framework is not installed, naming the extra that installs it."""
    for name in sorted(set(backends)):
        check_backend_name(name)
        modules, extra = BACKEND_MODULES[name]
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            raise EnergyPredictError(f"the {name} backend needs {', '.join(missing)}, which this install lacks; "
                                     f"install the '{extra}' extra: pip install 'energy-predict[{extra}]' (on the GPU "
                                     "machine, as the README's calibration section says)")


def check_gpu(device: str | None, command: str = "calibrate") -> None:
    """Refuse to calibrate on a machine whose torch sees no CUDA GPU, unless a CPU device is asked for."""
    if device is not None and not device.startswith("cuda"):
        return
    import torch

    if not _torch_sees_cuda(torch):
        cpu = " (--device cpu runs the HF code path on the CPU, with no energy measured)" if command == "calibrate" \
            else ""
        raise EnergyPredictError(f"{command}: torch sees no CUDA GPU on this machine, and {command} meters a GPU's "
                                 f"energy; run it on a GPU machine{cpu}")


def _torch_sees_cuda(torch: Any) -> bool:
    """torch.cuda.is_available() through torch's NVML path, which creates no CUDA context in this process.

    The plain call asks the CUDA driver, and a vLLM engine core forked after it cannot use CUDA.
    """
    before = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    try:
        return bool(torch.cuda.is_available())
    finally:
        if before is None:
            del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]
        else:
            os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = before

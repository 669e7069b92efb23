"""The Python API: `energy_predict.predict(profile) -> Report`, what `energy-predict --profile P` prints.

A composition root, as cli.py is: it loads a fitted model (model/) and hands it to the prediction (predict/).
`energy_predict.predict` (the stage's package, callable) and `from energy_predict.api import predict` are the same
call.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from energy_predict.errors import InputError

if TYPE_CHECKING:  # imported when called: `import energy_predict` stays light
    from energy_predict.fitted import EnergyModel
    from energy_predict.predict.report_types import Report
    from energy_predict.profile import Profile

_YAML = (".yaml", ".yml")
_MODEL_METHODS = ("basis", "batch_phases", "step_costs", "loaded_idle_w", "padding_extra_j")  # fitted.EnergyModel's


def load_model(name: str = "default") -> EnergyModel:
    """A shipped fitted model by name or folder, or an analytic baseline ('roofline', 'flops-tdp')."""
    from energy_predict.model.persistence import load_default_model
    from energy_predict.model.persistence import load_model as load_named

    return load_default_model() if name == "default" else load_named(name)


def _profile_and_folder(profile: Profile | Mapping[str, Any] | str | Path) -> tuple[Profile, Path | None]:
    """The validated profile and the folder its relative paths are read from (None: the working directory)."""
    from energy_predict.profile import Profile, load_profile, parse_profile

    if isinstance(profile, Profile):
        return profile, None
    if isinstance(profile, Mapping):
        return parse_profile(dict(profile)), None
    if isinstance(profile, (str, Path)):
        path = Path(profile)
        if path.suffix.lower() in _YAML:
            raise InputError("profile", f"{path.name} is YAML, and no YAML reader is a dependency of energy-predict",
                             "write the profile as JSON (the same keys), or pass it as a dict")
        return load_profile(path), path.parent
    raise InputError("profile", f"a {type(profile).__name__} is not a profile",
                     "give a dict, a path to a profile JSON or an energy_predict.profile.Profile")


def _renamed(old: str, new: str, old_value, new_value):
    """A keyword's former name (the CLI's flag names, docs/cli.md): a DeprecationWarning, then its value."""
    if old_value is None:
        return new_value
    import sys
    import warnings

    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("energy_predict"):
        level, frame = level + 1, frame.f_back  # the warning points at the caller's line, not at ours
    warnings.warn(f"predict({old}=...) is deprecated and will be removed in the next release; use {new}=",
                  DeprecationWarning, stacklevel=level)
    if new_value is not None:
        raise InputError(old, f"given with {new}, which means the same", f"give only {new}")
    return old_value


def predict(profile: Profile | Mapping[str, Any] | str | Path, *, energy_model: str | EnergyModel | None = None,
            rate: float | None = None, gpu_count: int | None = None, model: str | EnergyModel | None = None,
            gpus: int | None = None) -> Report:
    """The report of a workload profile: the same as `energy-predict --profile P --json`.

    Args:
        profile: a dict (the profile JSON's keys), a path to a profile JSON, or a validated `Profile`.
        energy_model: a shipped model's name (default: "default"), "roofline" or "flops-tdp", or a loaded model,
            as `--energy-model`.
        rate: online serving at this rate (requests/s), simulated, as `--rate`.
        gpu_count: GPUs of the deployment (replicas x tensor parallel), as `--gpu-count`.
        model: deprecated, `energy_model`.
        gpus: deprecated, `gpu_count`.

    Raises:
        InputError: a bad profile or option, named with its fix (the CLI prints it as one line).
    """
    import math

    from energy_predict.predict.run import case_of, predict_case

    energy_model = _renamed("model", "energy_model", model, energy_model)
    gpu_count = _renamed("gpus", "gpu_count", gpus, gpu_count)
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate)
                             or not 0 < rate <= 1e6):
        raise InputError("rate", f"{rate!r} is not a rate", "give a finite rate above 0 and at most 1e6 req/s")
    if gpu_count is not None and (isinstance(gpu_count, bool) or not isinstance(gpu_count, int)
                                  or not 1 <= gpu_count <= 4096):
        raise InputError("gpu_count", f"{gpu_count!r} is not a GPU count", "give a whole number from 1 to 4096")
    if energy_model is not None and not isinstance(energy_model, str) and not all(
            callable(getattr(energy_model, m, None)) for m in _MODEL_METHODS):
        raise InputError("energy_model", f"a {type(energy_model).__name__} is not an energy model",
                         "give a shipped model's name ('default'), 'roofline', 'flops-tdp', or a model from "
                         "energy_predict.api.load_model")
    validated, folder = _profile_and_folder(profile)
    if energy_model is None:
        energy_model = "default"
    fitted = load_model(energy_model) if isinstance(energy_model, str) else energy_model
    return predict_case(case_of(validated, folder, gpu_count), fitted, rate).report

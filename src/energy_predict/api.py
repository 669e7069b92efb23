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


def predict(profile: Profile | Mapping[str, Any] | str | Path, *, model: str | EnergyModel = "default",
            rate: float | None = None, gpus: int | None = None) -> Report:
    """The report of a workload profile: the same as `energy-predict --profile P --json`.

    Args:
        profile: a dict (the profile JSON's keys), a path to a profile JSON, or a validated `Profile`.
        model: a shipped model's name ("default"), "roofline" or "flops-tdp", or a loaded model.
        rate: online serving at this rate (requests/s), simulated, as `--rate`.
        gpus: GPUs of the deployment (replicas x tensor parallel), as `--gpus`.

    Raises:
        InputError: a bad profile or option, named with its fix (the CLI prints it as one line).
    """
    import math

    from energy_predict.predict.run import case_of, predict_case

    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate)
                             or not 0 < rate <= 1e6):
        raise InputError("rate", f"{rate!r} is not a rate", "give a finite rate above 0 and at most 1e6 req/s")
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or not 1 <= gpus <= 4096):
        raise InputError("gpus", f"{gpus!r} is not a GPU count", "give a whole number from 1 to 4096")
    validated, folder = _profile_and_folder(profile)
    fitted = load_model(model) if isinstance(model, str) else model
    return predict_case(case_of(validated, folder, gpus), fitted, rate).report

"""Optional extras: which one installs a module, and the one-line refusal when it is missing.

The base install carries only what prediction on the shipped model imports; fitting, plots, calibration
records (parquet) and the GPU side come as extras (pyproject.toml), named here once so that every command
that needs one says the same pip command.
"""

from __future__ import annotations

import importlib.util

from energy_predict.errors import EnergyPredictError

# top-level module -> the extra that installs it
EXTRA_OF = {
    "pyarrow": "data", "matplotlib": "plots", "sklearn": "fit", "scipy": "fit", "xgboost": "fit",
    "torch": "calibrate", "transformers": "calibrate", "pynvml": "calibrate", "vllm": "vllm", "ray": "ray",
}

# the name pip knows a module by, where it differs
DISTRIBUTION_OF = {"sklearn": "scikit-learn", "pynvml": "nvidia-ml-py"}


class MissingExtra(EnergyPredictError):
    """A module of an optional extra is not installed."""

    def __init__(self, module: str, needed_for: str | None = None) -> None:
        self.module, self.extra = module, EXTRA_OF.get(module, module)
        what = f"{needed_for} needs" if needed_for else "this command needs"
        name = DISTRIBUTION_OF.get(module, module)
        super().__init__(f"{what} {name}, which this install lacks; install the '{self.extra}' extra: "
                         f"pip install 'energy-predict[{self.extra}]'")


def is_installed(module: str) -> bool:
    """Whether `module` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or half-removed install counts as missing
        return False


def require(module: str, needed_for: str) -> None:
    """Refuse, in one line naming the pip command, when an extra's module is not installed."""
    if not is_installed(module):
        raise MissingExtra(module, needed_for)


def from_import_error(exc: ImportError) -> MissingExtra | None:
    """The refusal for an ImportError of an extra's module (None for any other import failure: a bug)."""
    top = (exc.name or "").split(".")[0]
    if top in EXTRA_OF and not is_installed(top):
        return MissingExtra(top)
    return None

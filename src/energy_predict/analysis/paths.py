"""Where the analysis reads and writes: the docs/ folder of a source checkout (never an installed package)."""

from __future__ import annotations

from pathlib import Path

from energy_predict.errors import EnergyPredictError
from energy_predict.provenance import source_root


def repository_docs() -> Path:
    """The checkout's docs/ folder; the analysis regenerates files there, so an installed package refuses."""
    root = source_root()
    if root is None:
        raise EnergyPredictError("the analysis regenerates docs/ of a source checkout; "
                                 "run it from one (pip install -e .)")
    return root / "docs"

"""Shipped models: where they live and how the default is chosen."""

from __future__ import annotations

from pathlib import Path

from energy_predict.model.analytic import RooflineEstimator


def artifacts_dir() -> Path:
    """The artifacts folder: the repository's in a checkout, the installed package's otherwise."""
    from energy_predict import artifacts

    return Path(artifacts.__file__).parent


def load_default_model():
    """The measured default model when one ships, else the roofline baseline (labelled analytic)."""
    return RooflineEstimator()

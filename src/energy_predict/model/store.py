"""The shipped-model names, re-exported for the callers that still import them from here.

Persistence is model/persistence.py, the measured model model/measured.py, what an answer rests on
model/resolve.py.
"""

from energy_predict.model.measured import MeasuredModel
from energy_predict.model.persistence import (
    ANALYTIC,
    DEFAULT_MODEL,
    fit_folder,
    load_default_model,
    load_model,
    models_dir,
    save_model,
)
from energy_predict.model.resolve import MAX_MODEL_TRANSFER_MEDIAN

__all__ = ["ANALYTIC", "DEFAULT_MODEL", "MAX_MODEL_TRANSFER_MEDIAN", "MeasuredModel", "fit_folder",
           "load_default_model", "load_model", "models_dir", "save_model"]

"""A model's two JSON files as typed values and back: `card.json` (`ModelCard`) and `model.json` (coefficients).

Bytes are written the one way the shipped model was written (indent 1, no NaN, a final newline), so a card read and
written again is the same file; a file that does not validate says which field, in one line.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from energy_predict.contracts.card import ModelCard
from energy_predict.model.measured import MeasuredModel
from energy_predict.model.phases import PhaseCoefficients

SCHEMA_VERSION = 2


def to_bytes(value: Any) -> bytes:
    """JSON as a model folder stores it."""
    return (json.dumps(value, indent=1, allow_nan=False) + "\n").encode()


def card_bytes(card: ModelCard) -> bytes:
    """card.json: the card as read (or fitted), in its keys' order."""
    return to_bytes(card.to_json())


def model_bytes(model: MeasuredModel) -> bytes:
    """model.json: the schema version, both phase models' coefficients and the in-domain log bounds."""
    return to_bytes({"schema_version": SCHEMA_VERSION, "energy": model.energy.to_dict(),
                     "duration": model.duration.to_dict(), "log_bounds": [float(b) for b in model.log_bounds]})


def why_invalid(exc: ValidationError) -> str:
    """The first problem of a validation error, as 'field.path: message'."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the file"
    return f"{where}: {first['msg']}"


def read_model(data: Any, card: Any) -> MeasuredModel:
    """A measured model from the parsed model.json and card.json.

    ValueError (one line) where either does not hold one this version reads.
    """
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"schema_version must be {SCHEMA_VERSION}")
    try:
        typed = ModelCard.model_validate(card)
    except ValidationError as exc:
        raise ValueError(f"card.json: {why_invalid(exc)}") from None
    try:
        lo, hi = (float(b) for b in data["log_bounds"])
        energy, duration = (PhaseCoefficients.from_dict(data[k]) for k in ("energy", "duration"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"model.json: {exc}") from None
    for entry in typed.valid.serving_configs:  # what the card says is fitted has its coefficients
        flat = entry.key.flat
        if flat not in energy.coef_ or flat not in duration.coef_:
            raise ValueError(f"model.json: no coefficients for {entry.key.gpu} {entry.key.describe()}, which the "
                             "card lists as fitted")
    return MeasuredModel(energy, duration, (lo, hi), typed)

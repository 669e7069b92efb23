"""Model folders on disk: coefficients (JSON, never pickle) beside the card, checked by a sha256 manifest.

`save_model` writes model.json and card.json atomically and manifest.json last, so a half-written folder never
passes the check; `load_model` opens only those three files, each once and size-capped, and parses the bytes it
hashed. Nothing else in a folder (a planted pickle, say) is ever read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import replace
from pathlib import Path

from energy_predict.errors import EnergyPredictError, InputError
from energy_predict.jsonio import read_regular
from energy_predict.model.agreement import for_model, load_agreement
from energy_predict.model.analytic import FlopsTdpEstimator, RooflineEstimator
from energy_predict.model.card_io import SCHEMA_VERSION, card_bytes, model_bytes, read_model
from energy_predict.model.measured import MeasuredModel
from energy_predict.provenance import artifacts_dir

DEFAULT_MODEL = "default"
ANALYTIC = {"roofline": RooflineEstimator, "flops-tdp": FlopsTdpEstimator}
MODEL_FILE = "model.json"
CARD_FILE = "card.json"
MANIFEST_FILE = "manifest.json"
MAX_FILE_BYTES = 16 * 2**20  # a shipped card is ~50 kB and its coefficients ~30 kB; beyond this, not a model file
REFIT = "refit it with 'energy-predict model fit'"
MODEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def models_dir() -> Path:
    """The shipped models folder."""
    return artifacts_dir() / "models"


def fit_folder(name: str) -> Path:
    """Where `model fit --name NAME` writes: artifacts/models/NAME of a source checkout, never elsewhere.

    A name is letters, digits, '-' and '_' (never a path). In a plain install the artifacts are the installed
    package's, and a fit there would overwrite the shipped model inside site-packages: refused.
    """
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise EnergyPredictError(f"--name: {name!r} is not a model name; use letters, digits, '-' and '_' only "
                                 "(the model is written to artifacts/models/NAME)")
    root = artifacts_dir().parent
    if not (root / "pyproject.toml").is_file():
        raise EnergyPredictError(f"model fit: {artifacts_dir()} belongs to an installed package, not a source "
                                 "checkout; run 'energy-predict model fit' from a checkout of the repository "
                                 "(pip install -e .)")
    return models_dir() / name


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_model(model: MeasuredModel, folder: Path) -> Path:
    """Write model.json (coefficients), card.json and, last, manifest.json (schema version, sha256 of both)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {MODEL_FILE: model_bytes(model), CARD_FILE: card_bytes(model.card)}
    (folder / MANIFEST_FILE).unlink(missing_ok=True)  # a half-written model never passes the check
    for file, content in files.items():
        _write_atomic(folder / file, content)
    manifest = {"schema_version": SCHEMA_VERSION, "sha256": {f: _sha256(c) for f, c in files.items()}}
    _write_atomic(folder / MANIFEST_FILE, (json.dumps(manifest, indent=1) + "\n").encode())
    return folder


def _read_bytes(path: Path) -> bytes:
    """A model file's bytes, at most MAX_FILE_BYTES of them."""
    try:  # a regular file only: a named pipe or a device behind the name would hang or never end
        return read_regular(path, "--energy-model", "a model file", MAX_FILE_BYTES)
    except InputError as exc:
        raise EnergyPredictError(f"--energy-model: {exc.problem}; {REFIT}") from None


def _parse_json(path: Path, data: bytes, what: str):
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EnergyPredictError(f"--energy-model: {path} is not a readable {what} ({type(exc).__name__}); "
                                 f"{REFIT}") from None


def read_checked(folder: Path) -> tuple[object, object]:
    """(model data, card) of a model folder as parsed JSON, read only after manifest.json vouches for both files.

    Only manifest.json, model.json and card.json are opened, each once: the bytes that are hashed are the
    bytes that are parsed.
    """
    data, card, _ = _read_checked(folder)
    return data, card


def _read_checked(folder: Path) -> tuple[object, object, dict[str, str]]:
    """`read_checked`, and the manifest's sha256 of both files."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise EnergyPredictError(f"--energy-model: {path} is missing (a model folder needs {MANIFEST_FILE} with the "
                                 f"sha256 of {MODEL_FILE} and {CARD_FILE}); {REFIT}")
    manifest = _parse_json(path, _read_bytes(path), "manifest")
    hashes = manifest.get("sha256") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION \
            or not isinstance(hashes, dict) or set(hashes) != {MODEL_FILE, CARD_FILE}:
        raise EnergyPredictError(f"--energy-model: {path} is not a manifest of schema version {SCHEMA_VERSION} "
                                 f"(sha256 of {MODEL_FILE} and {CARD_FILE}); {REFIT}")
    out = {}
    for file, what in ((MODEL_FILE, "model file"), (CARD_FILE, "model card")):
        data = _read_bytes(folder / file)
        if _sha256(data) != hashes[file]:
            raise EnergyPredictError(f"--energy-model: {folder / file} does not match the sha256 in {path} (edited or "
                                     f"corrupted); {REFIT}")
        out[file] = _parse_json(folder / file, data, what)
    return out[MODEL_FILE], out[CARD_FILE], dict(hashes)


def load_model(name: str = DEFAULT_MODEL) -> MeasuredModel | RooflineEstimator | FlopsTdpEstimator:
    """A shipped model by name (or a folder), or an analytic baseline ('roofline', 'flops-tdp')."""
    if name in ANALYTIC:
        return ANALYTIC[name]()
    folder = Path(name) if Path(name).is_dir() else models_dir() / name
    if not (folder / MANIFEST_FILE).exists() and not (folder / CARD_FILE).exists():
        shipped = sorted(p.name for p in models_dir().iterdir() if (p / MANIFEST_FILE).is_file()) \
            if models_dir().is_dir() else []
        raise EnergyPredictError(f"--energy-model: no model {name!r} (a folder with {MANIFEST_FILE}, {CARD_FILE} and "
                                 f"{MODEL_FILE}); use one of {', '.join([*shipped, *ANALYTIC])}")
    data, card, hashes = _read_checked(folder)
    try:
        model = read_model(data, card)
    except ValueError as exc:
        raise EnergyPredictError(f"--energy-model: {folder} does not hold a model this version reads ({exc}); "
                                 f"{REFIT}") from None
    # the published-agreement bands apply to the model they were scored against only (a refit drops them until
    # benchmarks/published.py is run again; tests keep the shipped pair in step)
    return replace(model, agreement=for_model(load_agreement(), hashes))


def load_default_model() -> MeasuredModel | RooflineEstimator:
    """The measured default model when one ships, else the roofline baseline (labelled analytic)."""
    folder = models_dir() / DEFAULT_MODEL
    if any((folder / f).exists() for f in (MANIFEST_FILE, CARD_FILE, MODEL_FILE)):  # a broken one is an error
        return load_model(DEFAULT_MODEL)
    return RooflineEstimator()

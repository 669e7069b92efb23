"""Shipped models: the fitted estimator (joblib) beside a model card (JSON), and loading that checks both.

A card holds what the model was trained on (run ids, a hash of the training table), its features, library
versions, held-out scores and valid ranges. Loading refuses a model whose libraries differ in a way that
breaks unpickling, and `check_request` says plainly when a request is outside what was measured.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.errors import EnergyPredictError
from energy_predict.gpus import resolve_gpu
from energy_predict.model.analytic import FlopsTdpEstimator, RooflineEstimator
from energy_predict.model.structured import PhaseModel, config_keys

DEFAULT_MODEL = "default"
ANALYTIC = {"roofline": RooflineEstimator, "flops-tdp": FlopsTdpEstimator}


def artifacts_dir() -> Path:
    """The artifacts folder: the repository's in a checkout, the installed package's otherwise."""
    from energy_predict import artifacts

    return Path(artifacts.__file__).parent


def models_dir() -> Path:
    """The shipped models folder."""
    return artifacts_dir() / "models"


def table_hash(table: pd.DataFrame) -> str:
    """A short content hash of a training table (cells and targets)."""
    cols = ["model", "config", "batch_size", "input_tokens", "output_tokens", "energy_j", "duration_s"]
    return hashlib.sha256(table[cols].to_csv(index=False).encode()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a stored model depends on."""
    import joblib
    import scipy
    import sklearn

    return {"numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "scipy": scipy.__version__, "joblib": joblib.__version__}


@dataclass
class MeasuredModel:
    """What predict loads: energy and duration phase models, interval bounds and the card."""

    energy: PhaseModel
    duration: PhaseModel
    log_bounds: tuple[float, float]  # multiplicative 90% interval: exp(lo) .. exp(hi) x estimate
    card: dict
    kind: str = "measured"

    @property
    def name(self) -> str:
        return self.card["name"]

    def predict_phases(self, X: pd.DataFrame) -> pd.DataFrame:
        check_request(self.card, X)
        phases = self.energy.predict_phases(X)
        total = phases["prefill_j"] + phases["decode_j"]
        lo, hi = self.log_bounds
        # fitted apart, the two models can imply more power than the card allows; time then follows energy
        tdp_w = X["gpu"].map(lambda g: resolve_gpu(g).tdp_w).to_numpy()
        phases["duration_s"] = np.maximum(self.duration.predict(X), total.to_numpy() / tdp_w)
        phases["low_j"] = total * np.exp(lo)
        phases["high_j"] = total * np.exp(hi)
        return phases

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.energy.predict(X)


def check_request(card: dict, X: pd.DataFrame) -> None:
    """Raise a clear error where the model has nothing measured to stand on (GPU, serving configuration)."""
    gpus = set(X["gpu"])
    if not gpus <= set(card["valid"]["gpus"]):
        raise EnergyPredictError(
            f"hardware.gpu: the model '{card['name']}' was measured on {', '.join(card['valid']['gpus'])}, not "
            f"{', '.join(sorted(gpus - set(card['valid']['gpus'])))}; use --model roofline for an analytic estimate")
    keys = set(config_keys(X))
    known = card["valid"]["serving_configs"]
    if not keys <= set(known):
        key = sorted(keys - set(known))[0]
        want = key.split("|")
        few = card["valid"].get("too_few_cells", {}).get(key)
        if few:
            raise EnergyPredictError(
                f"serving: framework={want[0]} cuda_graphs={want[1]} compile={want[2]} quantization={want[3]} has "
                f"only {few} measured cells, too few to model ({card['valid']['min_cells_per_config']} needed); "
                "measure more with `energy-predict calibrate` or use --model roofline")
        readable = {k: dict(zip(["framework", "cuda_graphs", "compile", "quantization"], k.split("|"))) for k in known}
        raise EnergyPredictError(
            f"serving: no measurements for framework={want[0]} cuda_graphs={want[1]} compile={want[2]} "
            f"quantization={want[3]}; measured: "
            + "; ".join(", ".join(f"{a}={b}" for a, b in v.items()) for v in readable.values())
            + " (or use --model roofline)")


def loaded_idle_w(card: dict, framework: str) -> float:
    """Measured idle power of a GPU holding this framework's engine (empty-GPU idle where not measured)."""
    idle = card.get("idle_power_w", {})
    return idle.get(f"loaded_{framework}") or idle.get("empty") or 0.0


def save_model(model: MeasuredModel, folder: Path) -> Path:
    """Write model.joblib and card.json into `folder`."""
    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump({"energy": model.energy, "duration": model.duration, "log_bounds": model.log_bounds},
                folder / "model.joblib", compress=3)
    (folder / "card.json").write_text(json.dumps(model.card, indent=1) + "\n")
    return folder


def load_model(name: str = DEFAULT_MODEL):
    """A shipped model by name, or an analytic baseline ('roofline', 'flops-tdp')."""
    if name in ANALYTIC:
        return ANALYTIC[name]()
    folder = Path(name) if Path(name).is_dir() else models_dir() / name
    if not (folder / "card.json").is_file():
        shipped = sorted(p.name for p in models_dir().iterdir() if (p / "card.json").is_file()) \
            if models_dir().is_dir() else []
        raise EnergyPredictError(f"--model: no model {name!r}; use one of {', '.join([*shipped, *ANALYTIC])}")
    card = json.loads((folder / "card.json").read_text())
    import joblib
    import sklearn

    trained = card["versions"]["scikit-learn"].split(".")[:2]
    if sklearn.__version__.split(".")[:2] != trained:
        # the phase model is plain numpy arrays inside an sklearn estimator: warn in the card, do not refuse
        card.setdefault("load_notes", []).append(
            f"fitted with scikit-learn {card['versions']['scikit-learn']}, loaded with {sklearn.__version__}")
    try:
        parts = joblib.load(folder / "model.joblib")
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise EnergyPredictError(f"--model: {folder}/model.joblib does not load here ({type(exc).__name__}: {exc}); "
                                 "refit it with 'energy-predict model fit'") from None
    return MeasuredModel(parts["energy"], parts["duration"], tuple(parts["log_bounds"]), card)


def load_default_model():
    """The measured default model when one ships, else the roofline baseline (labelled analytic)."""
    if (models_dir() / DEFAULT_MODEL / "card.json").is_file():
        return load_model(DEFAULT_MODEL)
    return RooflineEstimator()

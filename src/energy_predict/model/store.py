"""Shipped models: coefficients (JSON, never pickle) beside a model card, and the fitted-model seam over them.

A card holds what the model was trained on (run ids, a hash of the training table), its features, library
versions, held-out scores (in-domain and per kind of transfer) and valid ranges. `MeasuredModel` implements
`energy_predict.fitted.EnergyModel`: it says for each deployment what its answer rests on, and refuses where
it has nothing measured to stand on. A GPU never measured is answered from the nearest measured GPU through
both datasheets (`model/transfer.py`), with the measured leave-one-GPU-out interval widened by a stated factor.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from energy_predict.errors import EnergyPredictError
from energy_predict.fitted import MEASURED, TRANSFERRED, Basis, Phases, StepCosts, bounded_power
from energy_predict.gpus import resolve_gpu
from energy_predict.model import options
from energy_predict.model.analytic import FlopsTdpEstimator, RooflineEstimator
from energy_predict.model.features import TP_AT, cell_frame, fit_key, tp_family
from energy_predict.model.padding import padding_extra_j
from energy_predict.model.phases import PhaseCoefficients
from energy_predict.model.steps import step_costs
from energy_predict.model.transfer import DatasheetTransfer, fp8_refusal, nearest_gpu, transfer_coefficients
from energy_predict.provenance import artifacts_dir
from energy_predict.serving import KEY_FIELDS, Deployment, Serving, key_from_dict

DEFAULT_MODEL = "default"
ANALYTIC = {"roofline": RooflineEstimator, "flops-tdp": FlopsTdpEstimator}
MODEL_FILE = "model.json"
CARD_FILE = "card.json"
MANIFEST_FILE = "manifest.json"
SCHEMA_VERSION = 2
REFIT = "refit it with 'energy-predict model fit'"
MODEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_MODEL_TRANSFER_MEDIAN = 0.25  # beyond this held-out error a transfer across models is refused, not answered


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


def table_hash(table: pd.DataFrame) -> str:
    """A short content hash of a training table (cells and targets)."""
    cols = ["model", "config", "batch_size", "input_tokens", "output_tokens", "energy_j", "duration_s"]
    return hashlib.sha256(table[cols].to_csv(index=False).encode()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a stored model depends on."""
    import scipy
    import sklearn

    return {"numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "scipy": scipy.__version__}


def describe_key(key: tuple) -> str:
    """A serving key as 'framework=vllm cuda_graphs=True ...' (only the fields that are not defaults)."""
    default = Serving().key_dict()
    parts = [f"{f}={v}" for f, v in zip(KEY_FIELDS, key) if f in ("framework", "cuda_graphs") or v != default[f]]
    return " ".join(parts)


def card_configs(card: dict, entry: str = "serving_configs") -> list[tuple]:
    """Fit keys (GPU, *serving key) the card lists (stored as {gpu, serving: {fields}})."""
    return [(str(d["gpu"]), *key_from_dict(d["serving"])) for d in card["valid"][entry]]


@dataclass
class MeasuredModel:
    """Energy and duration phase models fitted on measurements, their intervals and their card."""

    energy: PhaseCoefficients
    duration: PhaseCoefficients
    log_bounds: tuple[float, float]  # in-domain 90% interval: exp(lo) .. exp(hi) x estimate
    card: dict
    kind: str = "measured"

    @property
    def name(self) -> str:
        return self.card["name"]

    # -- the card, read once (basis runs several times per prediction) ----------------------------------------
    @cached_property
    def _known(self) -> set[tuple]:
        return set(card_configs(self.card))

    @cached_property
    def _gpu_family(self) -> list[str]:
        """The GPUs the leave-one-GPU-out transfer was shown between (the only ones it may reach)."""
        return (self.card.get("transfer", {}).get("gpu") or {}).get("gpus", [])

    @cached_property
    def _measured_models(self) -> set[tuple[tuple, str]]:
        return {((str(m["gpu"]), *key_from_dict(m["serving"])), m["model"])
                for m in self.card["valid"]["measured_models"]}

    @cached_property
    def _ranges(self) -> dict[tuple, dict[str, tuple[int, int]]]:
        fields = ("batch_size", "input_tokens", "output_tokens")
        return {(str(r["gpu"]), *key_from_dict(r["serving"])): {k: tuple(r[k]) for k in fields}
                for r in self.card["valid"].get("ranges", [])}

    @cached_property
    def _transferred(self) -> dict[tuple, tuple[PhaseCoefficients, PhaseCoefficients]]:
        return {}

    @cached_property
    def _tp_laws(self) -> dict[tuple, dict]:
        """Tensor-parallel laws with a leave-one-degree-out error, by family (the fit key at degree 1)."""
        laws = (self.card.get("transfer", {}) or {}).get("tp") or []
        return {(str(law["gpu"]), *key_from_dict(law["serving"])): law for law in laws if law.get("log_bounds")}

    def _law(self, key: tuple, model: str | None = None) -> dict | None:
        """The tensor-parallel law that answers for a fit key (None where it is measured or none may).

        It answers a degree not measured, and a measured degree for a model the law was fitted on (measured at
        another degree of the family) but not measured at this one.
        """
        from energy_predict.model.tp import MAX_DEGREE

        degree = key[TP_AT]
        if degree <= 1 or degree > MAX_DEGREE:
            return None
        law = self._tp_laws.get(tp_family(key))
        if law is None or key not in self._known:
            return law
        measured_here = model is None or (key, model) in self._measured_models
        return None if measured_here or model not in law["models"] else law

    @cached_property
    def _lomo_by_key(self) -> dict[str, dict[tuple, dict]]:
        """Per transfer family (`vllm`, `vllm-moe`, ...): leave-one-model-out scores at each fit key."""
        out = {}
        for name, entry in (self.card.get("transfer", {}).get("model") or {}).items():
            out[name] = {(str(r["gpu"]), *key_from_dict(r["serving"])): r for r in entry.get("by_key", [])}
        return out

    def _never_measured(self, gpu: str) -> bool:
        """A GPU with no measurement and outside the validated sibling transfer: reached through its datasheet."""
        return gpu not in self.card["valid"]["gpus"] and gpu not in self._gpu_family

    def _model_transfer(self, key: tuple, arch) -> tuple[str, dict | None]:
        """(transfer family: `vllm`, `vllm-moe`, ...; its leave-one-model-out score at this fit key, if any)."""
        name = f"{key[1]}-moe" if arch.is_moe else key[1]  # key[1]: the framework
        return name, self._lomo_by_key.get(name, {}).get(key)

    def _answers_model(self, key: tuple, arch) -> bool:
        """Whether a fit key measured this model, or holds a transfer across models that may answer for it."""
        if (key, arch.name) in self._measured_models:
            return True
        here = self._model_transfer(key, arch)[1]
        return here is not None and here["median_ape"] <= MAX_MODEL_TRANSFER_MEDIAN

    # -- the EnergyModel seam -------------------------------------------------------------------------------
    def _source_gpu(self, dep: Deployment) -> str | None:
        """The GPU whose coefficients answer for `dep` (None where none can).

        Its own where measured in this configuration; for a GPU never measured, the measured GPU nearest to it by
        datasheet among those that measured this configuration; else a GPU the card's leave-one-GPU-out transfer
        was shown between.
        """
        key = fit_key(dep.gpu.name, dep.serving)
        if key in self._known or self._law(key) is not None:
            return dep.gpu.name
        if self._never_measured(dep.gpu.name):
            sources = [resolve_gpu(g) for g in self.card["valid"]["gpus"] if fit_key(g, dep.serving) in self._known]
            # the nearest of those that can answer for this model (measured it, or hold a transfer across models)
            sources = [g for g in sources if self._answers_model(fit_key(g.name, dep.serving), dep.arch)] or sources
            nearest = nearest_gpu(dep.gpu, sources)
            return nearest.name if nearest else None
        if dep.gpu.name not in self._gpu_family:
            return None
        sources = [g for g in self._gpu_family if g != dep.gpu.name and fit_key(g, dep.serving) in self._known]
        measured = [key[0] for key, _ in self._measured_models]
        return max(sources, key=measured.count) if sources else None

    def _datasheet(self, dep: Deployment) -> DatasheetTransfer | None:
        """The datasheet transfer that answers for `dep` (a GPU never measured), or None."""
        src = self._source_gpu(dep)
        if src is None or not self._never_measured(dep.gpu.name):
            return None
        readings = self.card.get("idle_power_w", {}).get(src, {})
        loaded = readings.get(f"loaded_{dep.serving.framework}") or readings.get("empty") or 0.0
        return DatasheetTransfer(resolve_gpu(src), dep.gpu, float(loaded), readings.get("empty"))

    def _fitted(self, dep: Deployment):
        """(energy, duration) coefficients for `dep`: the fitted ones, or transferred from the source GPU."""
        src = self._source_gpu(dep)
        law = self._law(fit_key(dep.gpu.name, dep.serving), dep.arch.name)
        if law is not None:
            return self._degree(fit_key(dep.gpu.name, dep.serving), law)
        if src is None or src == dep.gpu.name:
            return self.energy, self.duration
        cache = self._transferred
        datasheet = self._datasheet(dep)
        if datasheet is not None:  # the power map depends on the framework's loaded idle
            key = (src, dep.gpu.name, dep.serving.framework)
            if key not in cache:
                cache[key] = datasheet.coefficients(self.energy, self.duration)
            return cache[key]
        if (src, dep.gpu.name) not in cache:
            g_src = resolve_gpu(src)
            cache[(src, dep.gpu.name)] = (transfer_coefficients(self.energy, g_src, dep.gpu),
                                          transfer_coefficients(self.duration, g_src, dep.gpu))
        return cache[(src, dep.gpu.name)]

    def _degree(self, key: tuple, law: dict) -> tuple[PhaseCoefficients, PhaseCoefficients]:
        """(energy, duration) coefficients of an unmeasured degree, from its family's tensor-parallel law."""
        from energy_predict.model.tp import degree_coefficients

        cache = self._transferred
        if key not in cache:
            energy, time = degree_coefficients(law, key[TP_AT])
            cache[key] = (PhaseCoefficients({key: energy}, self.energy.scale_.to_numpy(), 1, 1),
                          PhaseCoefficients({key: time}, self.duration.scale_.to_numpy(), 1, 1))
        return cache[key]

    @cached_property
    def _options(self) -> dict:
        return self.card.get("options") or {}

    def basis(self, dep: Deployment) -> Basis:
        """The greedy configuration's basis, moved by a decoding or speculative option's rule where one is asked."""
        s = dep.serving
        base = self._greedy_basis(dep.base)
        if s == s.base:
            return base
        if s.speculative:
            return options.speculative_basis(options.speculative_option(self._options, dep, self.name), dep, base)
        return options.decoding_basis(options.decoding_option(self._options, dep, self.name), dep, base)

    def _greedy_basis(self, dep: Deployment) -> Basis:
        """Measured; transferred to an unmeasured dense model or a sibling GPU; or refused (GPU, config, MoE, TP)."""
        valid = self.card["valid"]
        src = self._source_gpu(dep)
        if self._never_measured(dep.gpu.name):
            self._check_datasheet_transfer(dep, src)
        if src is None and dep.gpu.name not in valid["gpus"]:
            raise EnergyPredictError(
                f"hardware.gpu: the model '{self.name}' was measured on {', '.join(valid['gpus'])} only, and its "
                f"transfer between GPUs is validated only among {', '.join(self._gpu_family) or 'none'}, not to "
                f"{dep.gpu.name}; use --model roofline for an analytic estimate (labelled analytic)")
        if src is None:
            raise EnergyPredictError(self._config_refusal(dep, self._known))
        key = fit_key(src, dep.serving)
        ranges = self._ranges.get(key) or {k: tuple(valid[k]) for k in ("batch_size", "input_tokens", "output_tokens")}
        measured_models = self._measured_models
        reasons, bounds, held_out = [], [tuple(self.log_bounds)], self._held_out(dep.serving.framework, "in-domain")
        datasheet = self._datasheet(dep)
        if datasheet is not None:
            gpu_t, factor = self.card["transfer"]["gpu"], datasheet.widening
            reasons.append(f"{dep.gpu.name} was never measured: transferred from {src}, the nearest measured GPU, "
                           f"through both datasheets ({datasheet.describe(dep.serving.dtype)}); this crosses a "
                           f"wider gap than {' <-> '.join(gpu_t['gpus'])}, whose leave-one-GPU-out energy error "
                           f"(median {100 * gpu_t['median_ape']:.0f}%, p90 {100 * gpu_t['p90_ape']:.0f}%) sets the "
                           f"interval, widened {datasheet.widening_reason()}")
            bounds = [(factor * gpu_t["log_bounds"][0], factor * gpu_t["log_bounds"][1])]
            held_out = {"gpu": gpu_t, "widening": factor, "source_gpu": src, "transfer": "datasheet"}
        elif src != dep.gpu.name:
            gpu_t = self.card["transfer"]["gpu"]
            reasons.append(f"{dep.serving.label} was not measured on {dep.gpu.name}: transferred from {src} "
                           f"(byte terms scaled by memory bandwidth); leave-one-GPU-out energy error, validated "
                           f"on {', '.join(sorted(gpu_t['directions']))}: median "
                           f"{100 * gpu_t['median_ape']:.0f}%, p90 {100 * gpu_t['p90_ape']:.0f}% (time: median "
                           f"{100 * gpu_t['time_median_ape']:.0f}%)")
            bounds, held_out = [tuple(gpu_t["log_bounds"])], gpu_t
        law = self._law(key, dep.arch.name) if src == dep.gpu.name else None
        if law is not None:
            if dep.arch.is_moe:
                raise EnergyPredictError(
                    f"serving.tensor_parallel: {dep.arch.name} is a mixture of experts, and the tensor-parallel law "
                    f"that would answer for degree {dep.serving.tensor_parallel} was fitted on dense models only; "
                    "use a measured degree or --model roofline")
            t = dep.serving.tensor_parallel
            top = max(law["degrees"])
            reasons.append(f"tensor parallelism {t} was not measured on {dep.gpu.name} with this configuration: "
                           f"from the tensor-parallel law fitted on degrees {', '.join(map(str, law['degrees']))} "
                           f"({', '.join(law['models'])}){' and extrapolated beyond the largest' if t > top else ''}; "
                           f"leave-one-degree-out energy error median {100 * law['median_ape']:.0f}%, p90 "
                           f"{100 * law['p90_ape']:.0f}% (time: median {100 * law['time_median_ape']:.0f}%)")
            # never narrower than a measured degree's interval; beyond the largest measured degree, widened by the
            # distance in doublings (TP8 from 1-4: x1.5), since the held-out folds extrapolated one doubling at most
            lo, hi = min(law["log_bounds"][0], self.log_bounds[0]), max(law["log_bounds"][1], self.log_bounds[1])
            if t > top:
                widen = np.log2(t) / np.log2(top)
                lo, hi = lo * widen, hi * widen
                reasons[-1] += f"; its interval widened x{widen:.2f} for the extrapolation"
            bounds, held_out = [(lo, hi)], {k: law[k] for k in ("scheme", "median_ape", "p90_ape", "coverage_90", "n")}
            # a model measured at another degree of the family is not a transfer across models
            measured_models = measured_models | {(key, m) for k, m in measured_models
                                                 if tp_family(k) == tp_family(key)}
        if (key, dep.arch.name) not in measured_models:
            family = "mixtures of experts" if dep.arch.is_moe else "dense models"
            name, here = self._model_transfer(key, dep.arch)
            transfer = self.card.get("transfer", {}).get("model", {}).get(name)
            if transfer is None:
                raise EnergyPredictError(
                    f"model: {dep.arch.name} was not measured with {dep.serving.label}, and the card has no "
                    f"held-out error for a transfer across {family} under {dep.serving.framework}; measure it "
                    "(`energy-predict calibrate`) or use --model roofline")
            moe_models = set(valid.get("moe_models", []))
            peers = sorted({m for k, m in measured_models if k == key and (m in moe_models) == dep.arch.is_moe})
            if not peers or here is None:
                one = "mixture of experts" if dep.arch.is_moe else "dense model"
                measured = (f"of the {family} only {peers[0]} was" if len(peers) == 1 else
                            f"no other {one} was" if not peers else
                            f"{' and '.join(peers)} were, but no leave-one-model-out score between them stands")
                raise EnergyPredictError(
                    f"model: {dep.arch.name} was not measured with {dep.serving.label} on {src}, and {measured}, "
                    "so no held-out error stands for a transfer across models there; measure it (`energy-predict "
                    "calibrate`), or ask for a configuration where more models were measured")
            if here["median_ape"] > MAX_MODEL_TRANSFER_MEDIAN:
                raise EnergyPredictError(
                    f"model: {dep.arch.name} was not measured with {dep.serving.label} on {src}; predicting each of "
                    f"{', '.join(here['models'])} from the others there misses by a median "
                    f"{100 * here['median_ape']:.0f}% (leave-one-model-out), too far to answer; measure it "
                    "(`energy-predict calibrate`)")
            transfer = {**transfer, **here}
            reasons.append(f"{dep.arch.name} was never measured with {dep.serving.label} on {src}: transferred from "
                           f"{', '.join(peers)} through the architecture terms; leave-one-model-out error of the "
                           f"{family} there: median {100 * transfer['median_ape']:.0f}%, p90 "
                           f"{100 * transfer['p90_ape']:.0f}%")
            bounds = bounds[1:] if src == dep.gpu.name and law is None else bounds
            bounds.append(tuple(transfer["log_bounds"]))
            held_out = transfer if src == dep.gpu.name and law is None else {"first": held_out, "model": transfer}
        extra = self.card.get("extrapolation", {}).get("log_bounds")
        if not reasons:
            return Basis(MEASURED, tuple(self.log_bounds),
                         f"{dep.arch.name} measured on {dep.gpu.name} with {dep.serving.label}", ranges,
                         held_out=held_out, extrapolation_log_bounds=tuple(extra) if extra else None)
        # two transfers at once: their log errors add (a conservative interval)
        lo, hi = sum(b[0] for b in bounds), sum(b[1] for b in bounds)
        if extra:  # beyond the measured ranges as well: the extrapolation error adds on top
            extra = (lo + extra[0] - self.log_bounds[0], hi + extra[1] - self.log_bounds[1])
        return Basis(TRANSFERRED, (lo, hi), "; ".join(reasons), ranges, held_out=held_out,
                     extrapolation_log_bounds=tuple(extra) if extra else None, idle_measured=datasheet is None)

    def phase_split(self, dep: Deployment, batch_size, input_tokens, output_tokens, cached_tokens=0):
        """(prefill J, decode J, prefill s, decode s) of greedy batches, as fitted (power not yet bounded)."""
        energy_pc, duration_pc = self._fitted(dep)
        X = cell_frame(dep.arch, dep.gpu, dep.serving, batch_size, input_tokens, output_tokens, cached_tokens)
        e, t = energy_pc.predict_phases(X), duration_pc.predict_phases(X)
        return (e["prefill_j"].to_numpy(), e["decode_j"].to_numpy(), t["prefill_j"].to_numpy(),
                t["decode_j"].to_numpy())

    def batch_phases(self, dep: Deployment, batch_size, input_tokens, output_tokens, cached_tokens=0) -> Phases:
        s, base = dep.serving, dep.base
        if s.speculative:  # the target's and the draft's greedy prefill, then the measured steps
            option = options.speculative_option(self._options, dep, self.name)
            draft = options.draft_deployment(dep)
            prefill, _, prefill_s, _ = self.phase_split(base, batch_size, input_tokens, output_tokens, cached_tokens)
            draft_j, _, draft_s, _ = self.phase_split(draft, batch_size, input_tokens, output_tokens, cached_tokens)
            prefill, prefill_s = prefill + draft_j, prefill_s + draft_s
            decode, decode_s = options.speculative_decode(option, dep, self._greedy_step_costs(base),
                                                          self._greedy_step_costs(draft), batch_size, input_tokens,
                                                          output_tokens)
        else:  # a beam of width w is a greedy batch of w x the sequences, moved by its factor
            prefill, decode, prefill_s, decode_s = self.phase_split(
                base, np.asarray(batch_size) * s.beam_width, input_tokens, output_tokens, cached_tokens)
            if s.decoding != "greedy":
                option = options.decoding_option(self._options, dep, self.name)
                decode, decode_s = decode * option["energy_factor"], decode_s * option["time_factor"]
        gpus = s.tensor_parallel
        whole = prefill + decode
        energy, duration = bounded_power(whole, prefill_s + decode_s, self.loaded_idle_w(dep) * gpus,
                                         dep.gpu.tdp_w * gpus)
        scale = np.divide(energy, whole, out=np.ones_like(energy), where=whole > 0)
        return Phases(prefill * scale, decode * scale, duration)

    def step_costs(self, dep: Deployment) -> tuple[StepCosts, StepCosts]:
        self.basis(dep)
        s = dep.serving
        if s.speculative:
            raise EnergyPredictError(
                "serving.speculative: online serving with speculative decoding is not simulated (the simulator's "
                "steps advance each sequence one token, and the measured step costs are offline batches); drop "
                "--rate for the offline estimate, or drop serving.speculative")
        energy, time = self._greedy_step_costs(dep.base)
        if s.decoding == "greedy":
            return energy, time
        option = options.decoding_option(self._options, dep, self.name)
        return _decode_scaled(energy, option["energy_factor"]), _decode_scaled(time, option["time_factor"])

    def _greedy_step_costs(self, dep: Deployment) -> tuple[StepCosts, StepCosts]:
        energy_pc, duration_pc = self._fitted(dep)
        return step_costs(energy_pc, dep), step_costs(duration_pc, dep)

    def loaded_idle_w(self, dep: Deployment) -> float:
        """Measured idle power of a GPU holding this framework's engine (empty-GPU idle where not measured).

        A GPU never measured idles as its datasheet transfer says (a published figure, else the stated rule). The
        serving options idle as the greedy configuration does (the same engine, loaded).
        """
        dep = dep.base
        datasheet = self._datasheet(dep)
        if datasheet is not None:
            return datasheet.idle_dst_w
        readings = self.card.get("idle_power_w", {})
        own, source = readings.get(dep.gpu.name, {}), readings.get(self._source_gpu(dep) or "", {})
        key = f"loaded_{dep.serving.framework}"
        # a loaded engine's idle where measured on this GPU, else on the GPU the configuration is transferred from
        # (an engine idles above an empty card: the empty reading would understate it)
        return float(own.get(key) or source.get(key) or own.get("empty") or source.get("empty") or 0.0)

    def padding_extra_j(self, dep: Deployment, batch_size, input_tokens, output_tokens) -> np.ndarray | None:
        padding = self.card.get("hf_padding")
        if dep.serving.framework != "hf" or not padding:
            return None
        rows = np.asarray(batch_size) * dep.serving.beam_width  # a beam pads each of its sequences
        return padding_extra_j(padding["coef"], dep.arch, rows, input_tokens, output_tokens)

    def configurations(self, gpu: str) -> list[Serving]:
        """The serving configurations the model was fitted on for a GPU kind (for `compare`)."""
        return [Serving.from_dict(d["serving"]) for d in self.card["valid"]["serving_configs"] if d["gpu"] == gpu]

    # -- helpers ---------------------------------------------------------------------------------------------
    def _check_datasheet_transfer(self, dep: Deployment, src: str | None) -> None:
        """Refuse, with one line, what the datasheet transfer cannot carry to a GPU never measured."""
        gpu_t = (self.card.get("transfer") or {}).get("gpu")
        if not gpu_t:
            raise EnergyPredictError(
                f"hardware.gpu: {dep.gpu.name} was never measured, and the model '{self.name}' holds no "
                "leave-one-GPU-out error to size a transfer to it; use --model roofline for an analytic estimate "
                "(labelled analytic)")
        if dep.serving.quantization == "fp8" and not dep.gpu.has_fp8:
            raise EnergyPredictError(fp8_refusal(dep.gpu))
        if dep.serving.tensor_parallel > 1:
            raise EnergyPredictError(
                f"serving.tensor_parallel: {dep.gpu.name} was never measured, and tensor parallelism is not "
                "transferred to it (its all-reduce runs over an interconnect the datasheet transfer does not "
                "model); use tensor_parallel 1 where the model fits, or --model roofline")
        if src is None:
            raise EnergyPredictError(
                f"serving: no GPU has a fitted model of {describe_key(dep.serving.key)}, so nothing transfers to "
                f"{dep.gpu.name}; fitted: " + "; ".join(f"{k[0]} {describe_key(k[1:])}" for k in self._known)
                + " (or use --model roofline)")

    def _held_out(self, framework: str, what: str) -> dict | None:
        rows = [r for r in self.card.get("held_out", []) if r["backend"] == framework]
        return {"what": what, "scores": rows} if rows else None

    def _config_refusal(self, dep: Deployment, known: set[tuple]) -> str:
        serving = dep.serving
        key = fit_key(dep.gpu.name, serving)
        few = {(str(d["gpu"]), *key_from_dict(d["serving"])): d["cells"]
               for d in self.card["valid"].get("too_few_cells", [])}
        if serving.tensor_parallel > 1 and tp_family(key) in known:
            degrees = sorted({k[TP_AT] for k in known if tp_family(k) == tp_family(key)})
            from energy_predict.model.tp import MAX_DEGREE

            why = (f"beyond one node's {MAX_DEGREE} GPUs, where the all-reduce leaves NVLink"
                   if serving.tensor_parallel > MAX_DEGREE else
                   "and fewer than three degrees are measured here, so no tensor-parallel law with a "
                   "leave-one-degree-out error stands for it (benchmarks/results/tp_transfer.md)")
            return (f"serving.tensor_parallel: tensor parallelism {serving.tensor_parallel} is not measured on "
                    f"{dep.gpu.name} (measured with this configuration: {', '.join(map(str, degrees))}) {why}; use "
                    "a measured degree where the model fits, or --model roofline for an analytic estimate")
        if key in few:
            return (f"serving: {describe_key(key[1:])} has only {few[key]} measured cells on {dep.gpu.name}, too "
                    f"few to model "
                    f"({self.card['valid']['min_cells_per_config']} needed); measure more with `energy-predict "
                    "calibrate` or use --model roofline")
        return (f"serving: no measurements for {describe_key(key[1:])} on {dep.gpu.name}; measured there: "
                + "; ".join(describe_key(k[1:]) for k in known if k[0] == dep.gpu.name)
                + " (or use --model roofline)")


def _decode_scaled(costs: StepCosts, factor: float) -> StepCosts:
    """Step costs with their decode terms times a decoding option's factor (prefill unchanged)."""
    return replace(costs, step_const=costs.step_const * factor, per_sequence=costs.per_sequence * factor,
                   per_context_token=costs.per_context_token * factor, per_expert=costs.per_expert * factor)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_model(model: MeasuredModel, folder: Path) -> Path:
    """Write model.json (coefficients), card.json and, last, manifest.json (schema version, sha256 of both)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"schema_version": SCHEMA_VERSION, "energy": model.energy.to_dict(), "duration": model.duration.to_dict(),
            "log_bounds": [float(b) for b in model.log_bounds]}
    files = {MODEL_FILE: (json.dumps(data, indent=1, allow_nan=False) + "\n").encode(),
             CARD_FILE: (json.dumps(model.card, indent=1, allow_nan=False) + "\n").encode()}
    (folder / MANIFEST_FILE).unlink(missing_ok=True)  # a half-written model never passes the check
    for file, content in files.items():
        _write_atomic(folder / file, content)
    manifest = {"schema_version": SCHEMA_VERSION, "sha256": {f: _sha256(c) for f, c in files.items()}}
    _write_atomic(folder / MANIFEST_FILE, (json.dumps(manifest, indent=1) + "\n").encode())
    return folder


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise EnergyPredictError(f"--model: cannot read {path} ({type(exc).__name__}); {REFIT}") from None


def _parse_json(path: Path, data: bytes, what: str):
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EnergyPredictError(f"--model: {path} is not a readable {what} ({type(exc).__name__}); "
                                 f"{REFIT}") from None


def read_checked(folder: Path) -> tuple[dict, dict]:
    """(model data, card) of a model folder, read only after manifest.json vouches for both files.

    Only manifest.json, model.json and card.json are opened, each once: the bytes that are hashed are the
    bytes that are parsed. Nothing else in the folder (a planted pickle, say) is ever read.
    """
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise EnergyPredictError(f"--model: {path} is missing (a model folder needs {MANIFEST_FILE} with the "
                                 f"sha256 of {MODEL_FILE} and {CARD_FILE}); {REFIT}")
    manifest = _parse_json(path, _read_bytes(path), "manifest")
    hashes = manifest.get("sha256") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION \
            or not isinstance(hashes, dict) or set(hashes) != {MODEL_FILE, CARD_FILE}:
        raise EnergyPredictError(f"--model: {path} is not a manifest of schema version {SCHEMA_VERSION} "
                                 f"(sha256 of {MODEL_FILE} and {CARD_FILE}); {REFIT}")
    out = {}
    for file, what in ((MODEL_FILE, "model file"), (CARD_FILE, "model card")):
        data = _read_bytes(folder / file)
        if _sha256(data) != hashes[file]:
            raise EnergyPredictError(f"--model: {folder / file} does not match the sha256 in {path} (edited or "
                                     f"corrupted); {REFIT}")
        out[file] = _parse_json(folder / file, data, what)
    return out[MODEL_FILE], out[CARD_FILE]


def load_model(name: str = DEFAULT_MODEL):
    """A shipped model by name (or a folder), or an analytic baseline ('roofline', 'flops-tdp')."""
    if name in ANALYTIC:
        return ANALYTIC[name]()
    folder = Path(name) if Path(name).is_dir() else models_dir() / name
    if not (folder / MANIFEST_FILE).exists() and not (folder / CARD_FILE).exists():
        shipped = sorted(p.name for p in models_dir().iterdir() if (p / MANIFEST_FILE).is_file()) \
            if models_dir().is_dir() else []
        raise EnergyPredictError(f"--model: no model {name!r} (a folder with {MANIFEST_FILE}, {CARD_FILE} and "
                                 f"{MODEL_FILE}); use one of {', '.join([*shipped, *ANALYTIC])}")
    data, card = read_checked(folder)
    try:
        if not isinstance(card, dict) or not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version must be {SCHEMA_VERSION}")
        card_configs(card)
        lo, hi = (float(b) for b in data["log_bounds"])
        return MeasuredModel(PhaseCoefficients.from_dict(data["energy"]), PhaseCoefficients.from_dict(data["duration"]),
                             (lo, hi), card)
    except (KeyError, TypeError, ValueError) as exc:
        raise EnergyPredictError(f"--model: {folder} does not hold a model this version reads ({exc}); "
                                 f"{REFIT}") from None


def load_default_model():
    """The measured default model when one ships, else the roofline baseline (labelled analytic)."""
    folder = models_dir() / DEFAULT_MODEL
    if any((folder / f).exists() for f in (MANIFEST_FILE, CARD_FILE, MODEL_FILE)):  # a broken one is an error
        return load_model(DEFAULT_MODEL)
    return RooflineEstimator()

"""What a model card's answer for a deployment rests on: `resolve(card, deployment) -> Resolution`, pure.

The card says what was measured (GPUs, serving configurations, models, ranges) and how far each transfer was shown
to carry (across GPUs, tensor-parallel degrees, models, with held-out errors). The resolver picks the coefficients
that answer for a deployment and the interval they carry, or refuses with one `Refusal`:

- `measured`: the configuration, model and GPU were measured; the in-domain interval;
- `transferred`: from a sibling GPU (leave-one-GPU-out interval), through both datasheets to a GPU never measured
  (that interval widened by a stated factor), from the tensor-parallel law to an unmeasured degree (its
  leave-one-degree-out interval), or to a model never measured there (the leave-one-model-out interval at that
  fit key, or the stated wider rule where that pool is too thin to cover itself: `measured_error.thin_pool_bounds`);
  two transfers at once add their log intervals; each transfer's interval, and the extrapolation's, is
  widened where narrower to the band of its measured p90 error (`model/measured_error.py`), a GPU never measured to
  the datasheet transfer's error against published B200 runs;
- a decoding or speculative option moves the greedy answer by its measured rule (`model/options.py`);
- an answer computed from a fit key that independent published measurements read outside its interval (a
  `measured` answer there, or a transfer starting from it) is widened, never narrowed, to span them
  (`model/agreement.py`; the bands are passed in, read by the loader).

Nothing here reads a file or touches coefficients: `MeasuredModel` (model/measured.py) answers with what it says.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from energy_predict.contracts.agreement import PublishedAgreement
from energy_predict.contracts.card import GpuTransfer, ModelCard, ModelTransfer, Ranges, TpLaw
from energy_predict.contracts.keys import FitKey
from energy_predict.contracts.scores import LogBounds
from energy_predict.errors import EnergyPredictError
from energy_predict.fitted import MEASURED, TRANSFERRED, HeldOut
from energy_predict.gpus import resolve_gpu
from energy_predict.model import options, transfer
from energy_predict.model.agreement import band_note, cover_band
from energy_predict.model.measured_error import NEVER_MEASURED_GPU, cover_measured_error, widened_note
from energy_predict.model.power_curve import PowerCurve
from energy_predict.model.resolution import Refusal, Resolution, Route
from energy_predict.model.tp import MAX_DEGREE
from energy_predict.model.transfer import DatasheetTransfer, nearest_gpu
from energy_predict.precision import dtype_refusal, format_refusal
from energy_predict.serving import Deployment

MAX_MODEL_TRANSFER_MEDIAN = 0.25  # beyond this held-out error a transfer across models is refused, not answered
ROOFLINE = "use --energy-model roofline for an analytic estimate (labelled analytic)"


@dataclass(frozen=True)
class _Card:
    """The card's lookups, by fit key."""

    card: ModelCard
    known: dict[FitKey, None]  # the fitted keys, in the card's order (a dict: ordered membership)
    measured_models: frozenset[tuple[FitKey, str]]
    ranges: dict[FitKey, Ranges]
    tp_laws: dict[FitKey, TpLaw]
    gpu_family: tuple[str, ...]

    @classmethod
    def of(cls, card: ModelCard) -> _Card:
        """The lookups of a card, built once per card (a few recent cards are kept: a card is frozen)."""
        for index in _INDEXES:
            if index.card is card:
                return index
        index = cls._build(card)
        _INDEXES.insert(0, index)
        del _INDEXES[4:]
        return index

    @classmethod
    def _build(cls, card: ModelCard) -> _Card:
        gpu = card.transfer.gpu
        return cls(card, dict.fromkeys(e.key for e in card.valid.serving_configs),
                   frozenset((e.key, e.model) for e in card.valid.measured_models),
                   {r.key: r.ranges() for r in card.valid.ranges},
                   {law.key: law for law in card.transfer.tp if law.log_bounds},
                   tuple(gpu.gpus) if gpu else ())

    def never_measured(self, gpu: str) -> bool:
        """A GPU with no measurement and outside the validated sibling transfer: reached through its datasheet."""
        return gpu not in self.card.valid.gpus and gpu not in self.gpu_family

    def law(self, key: FitKey, model: str | None = None) -> TpLaw | None:
        """The tensor-parallel law that answers for a fit key (None where it is measured or none may).

        It answers a degree not measured, and a measured degree for a model the law was fitted on (measured at
        another degree of the family) but not measured at this one.
        """
        if key.tensor_parallel <= 1 or key.tensor_parallel > MAX_DEGREE:
            return None
        law = self.tp_laws.get(key.tp_family())
        if law is None or key not in self.known:
            return law
        measured_here = model is None or (key, model) in self.measured_models
        return None if measured_here or model not in law.models else law

    def model_transfer(self, key: FitKey, is_moe: bool) -> tuple[str, ModelTransfer | None]:
        """The transfer family (`vllm`, `vllm-moe`, ...) of a fit key and its leave-one-model-out entry."""
        name = f"{key.framework}-moe" if is_moe else key.framework
        return name, self.card.transfer.model.get(name)

    def answers_model(self, key: FitKey, arch) -> bool:
        """Whether a fit key measured this model, or holds a transfer across models that may answer for it."""
        if (key, arch.name) in self.measured_models:
            return True
        _, transfer = self.model_transfer(key, arch.is_moe)
        here = transfer.at(key) if transfer else None
        return here is not None and here.median_ape <= MAX_MODEL_TRANSFER_MEDIAN

    def source_gpu(self, dep: Deployment) -> str | None:
        """The GPU whose coefficients answer for `dep` (None where none can).

        Its own where measured in this configuration; for a GPU never measured, the measured GPU nearest to it by
        datasheet among those that measured this configuration; else a GPU the card's leave-one-GPU-out transfer
        was shown between.
        """
        key = FitKey.of(dep.gpu.name, dep.serving)
        if key in self.known or self.law(key) is not None:
            return dep.gpu.name
        if self.never_measured(dep.gpu.name):
            sources = [resolve_gpu(g) for g in self.card.valid.gpus if key.on(g) in self.known]
            # the nearest of those that can answer for this model (measured it, or hold a transfer across models)
            sources = [g for g in sources if self.answers_model(key.on(g.name), dep.arch)] or sources
            nearest = nearest_gpu(dep.gpu, sources)
            return nearest.name if nearest else None
        if dep.gpu.name not in self.gpu_family:
            return None
        sources = [g for g in self.gpu_family if g != dep.gpu.name and key.on(g) in self.known]
        measured = [k.gpu for k, _ in self.measured_models]
        return max(sources, key=measured.count) if sources else None


_INDEXES: list[_Card] = []


def resolve(card: ModelCard, dep: Deployment, agreement: PublishedAgreement | None = None) -> Resolution:
    """What `card`'s answer for `dep` rests on; `Refusal` where it has nothing measured to stand on.

    `agreement`: the published-agreement bands scored against this card's model (None: none applies).
    """
    greedy = _greedy(_Card.of(card), dep.base, agreement)
    s = dep.serving
    if s == s.base:
        return greedy
    if s.speculative:
        return options.speculative_resolution(options.speculative_option(card, dep), dep, greedy)
    return options.decoding_resolution(options.decoding_option(card, dep), dep, greedy)


@dataclass(frozen=True)
class _Step:
    """One transfer on the way to an answer: why, the interval it carries, the held-out error behind it."""

    reason: str
    bounds: LogBounds
    held_out: HeldOut


def _greedy(c: _Card, dep: Deployment, agreement: PublishedAgreement | None = None) -> Resolution:
    """Measured; or transferred to another GPU, an unmeasured degree or model (each a step); or refused."""
    if refusal := dtype_refusal(dep.serving.dtype):  # every key stands for the dtype calibration ran
        raise Refusal.from_line(refusal)
    if refusal := format_refusal(dep.arch.name, dep.arch.weight_format, dep.serving.precision):  # a checkpoint's own
        raise Refusal.from_line(refusal)
    card, valid = c.card, c.card.valid
    src = c.source_gpu(dep)
    if c.never_measured(dep.gpu.name):
        _check_datasheet_transfer(c, dep, src)
    if src is None and dep.gpu.name not in valid.gpus:
        raise Refusal("hardware.gpu", f"the model '{card.name}' was measured on {', '.join(valid.gpus)} only, and "
                      f"its transfer between GPUs is validated only among {', '.join(c.gpu_family) or 'none'}, not "
                      f"to {dep.gpu.name}", ROOFLINE)
    if src is None:
        raise _config_refusal(c, dep)
    key = FitKey.of(src, dep.serving)
    ranges = c.ranges.get(key) or valid.overall()
    datasheet = _datasheet(c, dep, src)
    law = c.law(key, dep.arch.name) if src == dep.gpu.name else None
    measured_models = c.measured_models
    if law is not None:  # a model measured at another degree of the family is not a transfer across models
        measured_models |= {(key, m) for k, m in measured_models if k.tp_family() == key.tp_family()}
    steps = [step for step in (_gpu_step(c, dep, src, datasheet), _tp_step(c, dep, law),
                               _model_step(c, dep, key, src, measured_models)) if step is not None]
    route = Route(key, gpu_transfer="datasheet" if datasheet else "sibling" if src != dep.gpu.name else None,
                  datasheet=datasheet, tp_law=law,
                  model_transfer=None if (key, dep.arch.name) in measured_models else _model_family_name(key, dep))
    in_domain = tuple(card.interval.log_bounds)
    extra = _extrapolation_bounds(card)
    if not steps:
        bounds, reasons, extra, external = _span_band(
            agreement, key, in_domain, (f"{dep.arch.name} measured on {dep.gpu.name} with {dep.serving.label}",),
            extra, "this GPU and engine")
        return Resolution(MEASURED, src, route, bounds, reasons, ranges, _in_domain(card, dep.serving.framework),
                          extra, external_band=external)
    # two transfers at once: their log errors add (a conservative interval), and so do their held-out errors
    lo, hi = sum(step.bounds[0] for step in steps), sum(step.bounds[1] for step in steps)
    held_out = None
    for step in steps:
        held_out = replace(step.held_out, adds_to=held_out)
    if extra:  # beyond the measured ranges as well: the extrapolation error adds on top
        extra = (lo + extra[0] - in_domain[0], hi + extra[1] - in_domain[1])
    # a transfer from coefficients that published measurements disagree with is never narrower than their band
    bounds, reasons, extra, external = _span_band(agreement, key, (lo, hi), tuple(step.reason for step in steps),
                                                  extra, f"the GPU and engine it starts from ({src})")
    return Resolution(TRANSFERRED, src, route, bounds, reasons, ranges, held_out, extra,
                      idle_measured=datasheet is None, external_band=external)


def _span_band(agreement: PublishedAgreement | None, key: FitKey, bounds: LogBounds, reasons: tuple[str, ...],
               extra: LogBounds | None, where: str
               ) -> tuple[LogBounds, tuple[str, ...], LogBounds | None, LogBounds | None]:
    """Bounds, reasons and extrapolation bounds widened, where narrower, to span `key`'s published band.

    `key`: the fit key whose coefficients the answer is computed from. Returns them with the band (None where no
    band applies or it lies inside, and then all as they were); the extrapolation's interval is never narrower than
    the route's either.
    """
    band = agreement.band(key) if agreement is not None else None
    if band is None:
        return bounds, reasons, tuple(extra) if extra else None, None
    out, widened = cover_band(bounds, band)
    if not widened:
        return bounds, reasons, tuple(extra) if extra else None, None
    extra = cover_band(tuple(extra), band)[0] if extra else None
    return out, (*reasons, band_note(band, agreement, where)), extra, band.log_ratio


def _extrapolation_bounds(card: ModelCard) -> LogBounds | None:
    """The interval of a request beyond the measured ranges: the edge folds', never narrower than their p90."""
    if not card.extrapolation:
        return None
    return cover_measured_error(tuple(card.extrapolation.log_bounds), card.extrapolation.p90_ape)[0]


def _covered(reason: str, bounds: LogBounds, p90_ape: float | None, source: str) -> tuple[str, LogBounds]:
    """A step's reason and bounds, the bounds widened to the measured p90 error where narrower (and said so)."""
    out, widened = cover_measured_error(bounds, p90_ape)
    return (f"{reason}; {widened_note(p90_ape, source)}" if widened else reason), out


def _gpu_step(c: _Card, dep: Deployment, src: str, datasheet: DatasheetTransfer | None) -> _Step | None:
    """From the GPU that measured the configuration to the deployment's: a sibling or through both datasheets.

    A GPU never measured carries at least the datasheet transfer's error measured against published B200 runs
    (`measured_error.NEVER_MEASURED_GPU`), the only measurement of a transfer to a GPU the model never saw.
    """
    gpu_t = c.card.transfer.gpu
    if datasheet is not None:
        factor = datasheet.widening
        reason, bounds = _covered(
            f"{dep.gpu.name} was never measured: transferred from {src}, the nearest measured GPU, "
            f"through both datasheets ({datasheet.describe(dep.serving.precision)}); this crosses a wider gap "
            f"than {' <-> '.join(gpu_t.gpus)}, whose leave-one-GPU-out energy error (median "
            f"{100 * gpu_t.median_ape:.0f}%, p90 {100 * gpu_t.p90_ape:.0f}%) sets the interval, widened "
            f"{datasheet.widening_reason()}", gpu_t.widened(factor), NEVER_MEASURED_GPU.p90_ape,
            f"the datasheet transfer against {NEVER_MEASURED_GPU.n} published ML.ENERGY B200 points, each model "
            f"held out of the calibration: median {100 * NEVER_MEASURED_GPU.median_ape:.0f}%")
        held_out = _gpu_held_out(gpu_t, src, "datasheet", factor)
        return _Step(reason, bounds, replace(held_out, scores=(*held_out.scores, NEVER_MEASURED_GPU)))
    if src == dep.gpu.name:
        return None
    reason, bounds = _covered(
        f"{dep.serving.label} was not measured on {dep.gpu.name}: transferred from {src} (byte terms "
        f"scaled by memory bandwidth); leave-one-GPU-out energy error, validated on "
        f"{', '.join(sorted(gpu_t.directions))}: median {100 * gpu_t.median_ape:.0f}%, p90 "
        f"{100 * gpu_t.p90_ape:.0f}% (time: median {100 * gpu_t.time_median_ape:.0f}%)",
        tuple(gpu_t.log_bounds), gpu_t.p90_ape, "leave-one-GPU-out")
    return _Step(reason, bounds, _gpu_held_out(gpu_t, src, "sibling"))


def _tp_step(c: _Card, dep: Deployment, law: TpLaw | None) -> _Step | None:
    """From the family's tensor-parallel law to a degree (or a model at a degree) not measured."""
    if law is None:
        return None
    if dep.arch.is_moe:
        raise Refusal("serving.tensor_parallel", f"{dep.arch.name} is a mixture of experts, and the tensor-parallel "
                      f"law that would answer for degree {dep.serving.tensor_parallel} was fitted on dense models "
                      "only", "use a measured degree or --energy-model roofline")
    t, top = dep.serving.tensor_parallel, max(law.degrees)
    reason = (f"tensor parallelism {t} was not measured on {dep.gpu.name} with this configuration: from the "
              f"tensor-parallel law fitted on degrees {', '.join(map(str, law.degrees))} ({', '.join(law.models)})"
              f"{' and extrapolated beyond the largest' if t > top else ''}; leave-one-degree-out energy error median "
              f"{100 * law.median_ape:.0f}%, p90 {100 * law.p90_ape:.0f}% (time: median "
              f"{100 * law.time_median_ape:.0f}%)")
    # never narrower than a measured degree's interval; beyond the largest measured degree, widened by the distance
    # in doublings (TP8 from 1-4: x1.5), since the held-out folds extrapolated one doubling at most
    in_domain = c.card.interval.log_bounds
    reason, (lo, hi) = _covered(reason, (min(law.log_bounds[0], in_domain[0]), max(law.log_bounds[1], in_domain[1])),
                                law.p90_ape, "leave-one-degree-out")
    widen = None
    if t > top:
        widen = float(np.log2(t) / np.log2(top))
        lo, hi = lo * widen, hi * widen
        reason += f"; its interval widened x{widen:.2f} for the extrapolation"
    score = law.held_out()
    return _Step(reason, (lo, hi), HeldOut(score.scheme or "leave-one-tp-degree-out", (score,), widening=widen))


def _model_step(c: _Card, dep: Deployment, key: FitKey, src: str, measured_models) -> _Step | None:
    """From the models measured at `key` to one that was not (its family's leave-one-model-out error there)."""
    if (key, dep.arch.name) in measured_models:
        return None
    transfer, here = _model_transfer(c, dep, key, src, measured_models)
    peers = _peers(c, dep, key, measured_models)
    lo, hi = here.interval()
    thin = (f"; its pool is too thin to size its own interval, so the interval follows a stated rule "
            f"({here.interval_rule}): {np.exp(lo):.2f}-{np.exp(hi):.2f}x the estimate" if here.interval_rule else "")
    reason, bounds = _covered(
        f"{dep.arch.name} was never measured with {dep.serving.label} on {src}: transferred from "
        f"{', '.join(peers)} through the architecture terms; "
        f"leave-one-model-out error of the {_family(dep)} there: median {100 * here.median_ape:.0f}%, "
        f"p90 {100 * here.p90_ape:.0f}%{thin}{_size_note(dep, peers)}", (lo, hi),
        here.p90_ape, "leave-one-model-out")
    return _Step(reason, bounds, HeldOut(transfer.scheme or "leave-one-model-out", (here.score(),)))


def _size_note(dep: Deployment, peers: list[str]) -> str:
    """Where the model's active parameters lie outside its peers': the transfer also extrapolates in size.

    The leave-one-model-out error was scored between the peers, so it says nothing of a model smaller or larger than
    all of them; the note says so (the interval is not widened: no held-out score exists out there).
    """
    from energy_predict.architectures import known_architecture

    try:  # by name only: a peer is a card's model name, never a file in the working directory
        sizes = [known_architecture(m).active_params for m in peers]
    except (KeyError, ValueError, EnergyPredictError):
        return ""
    own = dep.arch.active_params
    if not sizes or min(sizes) <= own <= max(sizes):
        return ""
    side = "fewer" if own < min(sizes) else "more"
    return (f"; {dep.arch.name} has {own / 1e9:.2g}B active parameters, {side} than any model the error was scored "
            f"on ({min(sizes) / 1e9:.2g}-{max(sizes) / 1e9:.2g}B): the transfer also extrapolates in size, where no "
            "held-out error stands")


def _in_domain(card: ModelCard, framework: str) -> HeldOut | None:
    """The in-domain scores of a framework's cells (one per scheme), where the card holds them."""
    rows = tuple(r.score() for r in card.held_out if r.backend == framework)
    return HeldOut("in-domain", rows) if rows else None


def _gpu_held_out(gpu_t: GpuTransfer, src: str, how: str, widening: float | None = None) -> HeldOut:
    return HeldOut(gpu_t.scheme or "leave-one-gpu-out", (gpu_t.score(),), source_gpu=src, transfer=how,
                   widening=widening)


def _datasheet(c: _Card, dep: Deployment, src: str | None) -> DatasheetTransfer | None:
    """The datasheet transfer that answers for `dep` (a GPU never measured), or None."""
    if src is None or not c.never_measured(dep.gpu.name):
        return None
    readings = c.card.idle(src)
    loaded = readings.loaded(dep.serving.framework) or readings.empty or 0.0
    fitted = next((f for f in c.card.power if f.gpu == src and f.framework == dep.serving.framework), None)
    if fitted is None or not transfer.USE_POWER_CURVE:  # the TDP-ratio rule, the fractions as measured
        return DatasheetTransfer(resolve_gpu(src), dep.gpu, float(loaded), readings.empty)
    curve = PowerCurve(src, fitted.framework, fitted.idle_w, fitted.limit_w, fitted.busy, fitted.memory,
                       fitted.compute)
    return DatasheetTransfer(resolve_gpu(src), dep.gpu, float(loaded), readings.empty, curve,
                             transfer.ACHIEVED_FRACTION_CARRY, transfer.POWER_RULE,
                             transfer.ATTENTION_FRACTION_CARRY)


def _family(dep: Deployment) -> str:
    return "mixtures of experts" if dep.arch.is_moe else "dense models"


def _model_family_name(key: FitKey, dep: Deployment) -> str:
    return f"{key.framework}-moe" if dep.arch.is_moe else key.framework


def _peers(c: _Card, dep: Deployment, key: FitKey, measured_models) -> list[str]:
    """The models of the deployment's family measured at `key`: what a transfer across models starts from."""
    moe_models = set(c.card.valid.moe_models)
    return sorted({m for k, m in measured_models if k == key and (m in moe_models) == dep.arch.is_moe})


def _not_measured_on(c: _Card, dep: Deployment, src: str) -> str:
    """Where a model was not measured: the GPU asked for, and where another, the GPU a transfer to it starts from."""
    gpu = dep.gpu.name
    if src == gpu:
        return f"on {gpu}"
    how = "the nearest measured GPU" if c.never_measured(gpu) else "the sibling GPU"
    return f"on {gpu}, nor on {src} ({how} a transfer to {gpu} would start from)"


def _model_transfer(c: _Card, dep: Deployment, key: FitKey, src: str, measured_models):
    """(the family's transfer, its score at `key`) for a model not measured at `key`; Refusal where none stands.

    A refusal names the GPU asked for, and the GPU whose cells the transfer would start from where that is another.
    """
    family = _family(dep)
    where = _not_measured_on(c, dep, src)
    _, transfer = c.model_transfer(key, dep.arch.is_moe)
    if transfer is None:
        raise Refusal("model", f"{dep.arch.name} was not measured with {dep.serving.label}, and the card has no "
                      f"held-out error for a transfer across {family} under {dep.serving.framework}",
                      "measure it (`energy-predict calibrate`) or use --energy-model roofline")
    here = transfer.at(key)
    peers = _peers(c, dep, key, measured_models)
    if not peers or here is None:
        one = "mixture of experts" if dep.arch.is_moe else "dense model"
        measured = (f"of the {family} only {peers[0]} was" if len(peers) == 1 else
                    f"no other {one} was" if not peers else
                    f"{' and '.join(peers)} were, but no leave-one-model-out score between them stands")
        raise Refusal("model", f"{dep.arch.name} was not measured with {dep.serving.label} {where}, and "
                      f"{measured}" + (f" (on {src})" if src != dep.gpu.name else "") +
                      ", so no held-out error stands for a transfer across models there",
                      "measure it (`energy-predict calibrate`), or ask for a configuration where more models "
                      "were measured")
    if here.median_ape > MAX_MODEL_TRANSFER_MEDIAN:
        raise Refusal("model", f"{dep.arch.name} was not measured with {dep.serving.label} {where}; predicting "
                      f"each of {', '.join(here.models)} from the others on {src} misses by a median "
                      f"{100 * here.median_ape:.0f}% (leave-one-model-out), too far to answer",
                      "measure it (`energy-predict calibrate`)")
    return transfer, here


def _check_datasheet_transfer(c: _Card, dep: Deployment, src: str | None) -> None:
    """Refuse, with one line, what the datasheet transfer cannot carry to a GPU never measured."""
    if c.card.transfer.gpu is None:
        raise Refusal("hardware.gpu", f"{dep.gpu.name} was never measured, and the model '{c.card.name}' holds no "
                      "leave-one-GPU-out error to size a transfer to it", ROOFLINE)
    if refusal := dep.serving.precision.transfer_refusal(dep.gpu):
        raise Refusal.from_line(refusal)
    if dep.serving.tensor_parallel > 1:
        raise Refusal("serving.tensor_parallel", f"{dep.gpu.name} was never measured, and tensor parallelism is "
                      "not transferred to it (its all-reduce runs over an interconnect the datasheet transfer does "
                      "not model)", "use tensor_parallel 1 where the model fits, or --energy-model roofline")
    if src is None:
        fitted = "; ".join(f"{k.gpu} {k.describe()}" for k in c.known)
        raise Refusal("serving", f"no GPU has a fitted model of {FitKey.of('', dep.serving).describe()}, so "
                      f"nothing transfers to {dep.gpu.name}", f"fitted: {fitted} (or use --energy-model roofline)")


def _config_refusal(c: _Card, dep: Deployment) -> Refusal:
    """Why a configuration measured on none of the reachable GPUs is refused, and what was measured instead."""
    serving = dep.serving
    key = FitKey.of(dep.gpu.name, serving)
    few = {e.key: e.cells for e in c.card.valid.too_few_cells}
    if serving.tensor_parallel > 1 and key.tp_family() in c.known:
        degrees = sorted({k.tensor_parallel for k in c.known if k.tp_family() == key.tp_family()})
        why = (f"beyond one node's {MAX_DEGREE} GPUs, where the all-reduce leaves NVLink"
               if serving.tensor_parallel > MAX_DEGREE else
               "and fewer than three degrees are measured here, so no tensor-parallel law with a "
               "leave-one-degree-out error stands for it (benchmarks/results/tp_transfer.md)")
        return Refusal("serving.tensor_parallel", f"tensor parallelism {serving.tensor_parallel} is not measured "
                       f"on {dep.gpu.name} (measured with this configuration: {', '.join(map(str, degrees))}) "
                       f"{why}", "use a measured degree where the model fits, or --energy-model roofline for an "
                       "analytic estimate")
    if key in few:
        return Refusal("serving", f"{key.describe()} has only {few[key]} measured cells on {dep.gpu.name}, too few "
                       f"to model ({c.card.valid.min_cells_per_config} needed)",
                       "measure more with `energy-predict calibrate` or use --energy-model roofline")
    there = "; ".join(k.describe() for k in c.known if k.gpu == dep.gpu.name)
    return Refusal("serving", f"no measurements for {key.describe()} on {dep.gpu.name}",
                   f"measured there: {there} (or use --energy-model roofline)")

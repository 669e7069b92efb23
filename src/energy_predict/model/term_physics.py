"""The phase terms as physical quantities: the roofline floor of each rate term and what a fitted set implies.

A duration coefficient of a term that counts work is seconds per unit of that work: seconds per weight byte or KV
byte read is 1 / an achieved bandwidth, seconds per FLOP 1 / an achieved FLOP rate. An engine of `tp` GPUs does the
term's whole work, so its peak is `tp` x the datasheet peak of one GPU. Two physical limits follow:

- no term is faster than its peak (achieved fraction <= 1): the duration coefficient is at least
  1 / (tp x peak), the **roofline floor**; the fit (model/structured.py) holds every rate term at or above it, so a
  term's time is at least its share of the step's roofline bound and no per-step constant can take its work;
- the energy of that work is at least its floor time x the power of `tp` GPUs holding a loaded engine, bounded
  below by `FLOOR_POWER_W` per GPU (every loaded-idle reading measured is above it).

`term_rates` reads a fitted set back as rates and fractions for the card, and `plausibility_problems` says what is
impossible (a fraction above 1) or degenerate (zero where the work is never zero): `model fit` fails on either.

A term **pinned** at its floor (fraction within `FRACTION_TOLERANCE` of 1) is flagged on the card with its reason
(`pin_reasons`), not failed: on the shipped cells it has two causes the data cannot undo. A set measured on one model
only measures its weight reads and per-step constants (and its decode FLOPs and per-sequence constant) as a sum
(model/structured.py), and nothing recorded bounds the constants apart (no empty-step reading). A set fitted across
models of different sizes does separate them, and still puts some terms at the peak: the step time grows across
models no faster than the weight bytes read at the datasheet bandwidth, and decode FLOPs run under the weight
reads (an additive step model gives overlapped work its floor). Failing those would refuse every fit of the
shipped cells; a pin is what the data say, and the card says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energy_predict.contracts.keys import FitKey
from energy_predict.gpus import resolve_gpu
from energy_predict.model.phases import MOE, TERMS
from energy_predict.precision import precision_of

# term -> the datasheet peak its rate is a fraction of ("bandwidth": B/s, "flops": FLOP/s of the key's precision)
RATE_TERMS: dict[str, str] = {
    "step_weight_bytes": "bandwidth",
    "decode_kv_bytes": "bandwidth",
    "decode_linear_flops": "flops",
    "prefill_linear_flops": "flops",
    "prefill_attention_flops": "flops",
}
# work that every batch does (attention FLOPs of a short prompt are near zero, so a zero there is not flagged)
NEVER_ZERO = ("step_weight_bytes", "decode_kv_bytes", "decode_linear_flops", "prefill_linear_flops")
CONSTANT_TERMS = ("batch", "prefill_layers", "steps", "step_layers", "step_sequences")
# per GPU, below every loaded-engine idle reading measured (121-125 W on H100 SXM and H200 SXM, vLLM and HF)
FLOOR_POWER_W = 100.0
# a fraction this close above 1 is the floor itself, in float arithmetic
FRACTION_TOLERANCE = 1e-6
# rate terms one model's cells measure only together with a constant: their work is the same multiple of the
# constant's in every cell of one model (model/structured.py)
COLLINEAR_WITH_CONSTANTS = ("step_weight_bytes", "decode_linear_flops")


def term_peaks(key: FitKey) -> dict[str, float]:
    """Per rate term, the peak of the key's whole engine: tp x bandwidth (B/s) or tp x dense FLOP/s."""
    gpu = resolve_gpu(key.gpu)
    tp = int(key.tensor_parallel)
    peaks = {"bandwidth": tp * gpu.memory_bandwidth_bps,
             "flops": tp * precision_of(key.quantization).peak_flops(gpu)}
    return {term: peaks[kind] for term, kind in RATE_TERMS.items()}


def term_floors(key: FitKey, target: str) -> np.ndarray:
    """Lower bounds of a key's coefficients, in the order of TERMS (0 for terms without one).

    `target` "duration_s": seconds per unit of work at the peak; "energy_j": that time x `FLOOR_POWER_W` x tp.
    """
    if target not in ("duration_s", "energy_j"):
        raise ValueError("target must be duration_s or energy_j")
    power = FLOOR_POWER_W * int(key.tensor_parallel) if target == "energy_j" else 1.0
    peaks = term_peaks(key)
    return np.array([power / peaks[t] if t in peaks else 0.0 for t in TERMS])


@dataclass(frozen=True)
class TermRate:
    """One rate term of a fitted set: its achieved rate (B/s or FLOP/s; None where fitted at 0) and peak fraction."""

    term: str
    unit: str
    rate: float | None
    fraction_of_peak: float | None


@dataclass(frozen=True)
class TermReading:
    """A fitted duration set read as physics: rates per term and the per-batch and per-step constants in seconds."""

    key: FitKey
    model: str | None
    rates: tuple[TermRate, ...]
    constants_s: dict[str, float]

    def impossible(self) -> list[str]:
        """Terms faster than the datasheet peak."""
        return [r.term for r in self.rates
                if r.fraction_of_peak is not None and r.fraction_of_peak > 1 + FRACTION_TOLERANCE]

    def pinned(self) -> list[str]:
        """Terms at their roofline floor: the datasheet peak, within `FRACTION_TOLERANCE`."""
        return [r.term for r in self.rates
                if r.fraction_of_peak is not None and abs(r.fraction_of_peak - 1) <= FRACTION_TOLERANCE]

    def degenerate(self) -> list[str]:
        """Terms whose work is never zero, fitted at zero (their time went into another term)."""
        return [r.term for r in self.rates if r.rate is None and r.term in NEVER_ZERO]


def term_rates(key: FitKey, model: str | None, duration_coef: np.ndarray) -> TermReading:
    """The achieved rates and constants a duration coefficient set of `key` implies."""
    c = dict(zip(TERMS, np.asarray(duration_coef, float)))
    peaks = term_peaks(key)
    rates = []
    for term, kind in RATE_TERMS.items():
        rate = 1.0 / c[term] if c[term] > 0 else None
        rates.append(TermRate(term, "B/s" if kind == "bandwidth" else "FLOP/s", rate,
                              None if rate is None else rate / peaks[term]))
    return TermReading(key, model, tuple(rates), {t: float(c[t]) for t in CONSTANT_TERMS})


def readings(duration_coef: dict) -> list[TermReading]:
    """Every stored duration set (`PhaseCoefficients.coef_`) read as physics, in the tables' key order."""
    out = []
    for key, coef in duration_coef.items():
        config, model = key if isinstance(key[0], tuple) else (key, None)
        out.append(term_rates(FitKey.from_flat(config), model, coef))
    return out


def describe(reading: TermReading) -> str:
    """'H100-SXM-80GB framework=vllm ... (model Llama-3.1-8B)': which set a problem is in."""
    model = f" (model {reading.model})" if reading.model else ""
    return f"{reading.key.gpu} {reading.key.describe()}{model}"


def pin_reasons(reading: TermReading, models: int) -> dict[str, str]:
    """Why each pinned term of a set sits at its floor; `models`: how many models its configuration's fit spans."""
    out = {}
    own = reading.model not in (None, MOE)  # one model's own set (bounded by its configuration's constants)
    for term in reading.pinned():
        if models < 2 and term in COLLINEAR_WITH_CONSTANTS:
            out[term] = ("one model measured under this configuration: this term and the constants it is collinear "
                         "with are measured only as their sum, and no cross-model fit or empty-step reading bounds "
                         "the constants")
        elif own and term in COLLINEAR_WITH_CONSTANTS:
            out[term] = (f"its constants at most its configuration's (fitted across {models} models) leave this "
                         "term at the peak")
        else:
            across = "on this model's own cells" if own else f"across {models} model{'s' if models != 1 else ''}"
            out[term] = (f"fitted at the peak {across}: the measured time grows with this work no faster than at the "
                         "datasheet peak (the work runs under another term's, or the peak is reached)")
    return out


def plausibility_problems(found: list[TermReading]) -> tuple[list[str], list[str]]:
    """(impossible, degenerate): one line per set and term."""
    impossible = [f"{describe(r)}: {t} runs at {next(x.fraction_of_peak for x in r.rates if x.term == t):.2f}x the "
                  "datasheet peak" for r in found for t in r.impossible()]
    degenerate = [f"{describe(r)}: {t} fitted at 0 s per unit of work that is never zero" for r in found
                  for t in r.degenerate()]
    return impossible, degenerate

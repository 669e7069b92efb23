"""Numeric precisions: what each one costs in bytes and which datasheet peak its tensor cores run at.

One entry per precision, named by the serving field that asks for it: `dtype` (the number format the engine loads
the model in: bfloat16, float16) or `quantization` (weights, and on chips that have them the matrix products, in a
narrower format: fp8). A deployment's precision is its quantization where it has one, else its dtype
(`Serving.precision`). Everything that depends on a precision reads it here: weight and KV-cache bytes (memory,
FLOPs/bytes counting, the fitted byte terms), the GPU peak it computes at (the baselines, the datasheet transfer),
and whether a measured configuration may be carried to a GPU without that peak.

Adding a precision is one entry below, a calibration grid that measures it (a config with its `dtype` or
`quantization`) and a refit: its rows enter the training table by their serving key (`model/dataset.py`).

The serving key carries the quantization, not the dtype: every calibration ran `KEY_DTYPE`, so a key stands for a
configuration in that dtype. A deployment in another dtype has no measured key (the measured model refuses it with
`dtype_refusal`; the analytic baselines answer it from its entry), and calibration rows in another dtype are not
training data until the key carries a dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from energy_predict.errors import InputError
from energy_predict.gpus import GPU, PEAKS

KEY_DTYPE = "bfloat16"  # the dtype every calibration ran, hence the dtype every serving key stands for


@dataclass(frozen=True)
class Precision:
    """One precision and what it costs.

    `field`: the serving field that names it (`dtype` or `quantization`). `peak`: the GPU datasheet column of dense
    tensor FLOP/s its matrix products run at (`GPU.peak_flops`). `needs_peak`: whether a GPU without that column runs
    other kernels (weight-only ones), so that a configuration measured on a GPU with it does not carry over.
    """

    name: str
    field: Literal["dtype", "quantization"]
    weight_bytes_per_param: float
    kv_bytes_per_value: float  # each K and V element of the KV cache
    compute: str  # the number format of the matrix products, for people: "bf16", "fp16", "fp8"
    peak: str
    needs_peak: bool
    source: str  # why these figures

    def __post_init__(self) -> None:
        if self.field not in ("dtype", "quantization"):
            raise ValueError(f"{self.name}: field must be 'dtype' or 'quantization'")
        if self.peak not in PEAKS:
            raise ValueError(f"{self.name}: peak must be one of {PEAKS} (a GPU datasheet column)")
        if not (0 < self.weight_bytes_per_param <= 8 and 0 < self.kv_bytes_per_value <= 8):
            raise ValueError(f"{self.name}: bytes per weight and per KV value must be in (0, 8]")

    def peak_flops(self, gpu: GPU) -> float:
        """The dense FLOP/s this precision computes at on `gpu` (its bf16 peak where the GPU lacks the column)."""
        return gpu.peak_flops(self.peak)

    def transfer_refusal(self, gpu: GPU) -> str | None:
        """Why a configuration measured in this precision does not carry to `gpu` (None where it does)."""
        if not self.needs_peak or gpu.has_peak(self.peak):
            return None
        null = "null" if self.field == "quantization" else KEY_DTYPE
        return (f"serving.{self.field}: {gpu.name} ({gpu.generation}) has no {self.peak} tensor cores, so the "
                f"{self.name} configuration measured on Hopper does not transfer to it (vLLM would run weight-only "
                f"{self.name} kernels there, never measured); use {self.field} {null} "
                f"({PRECISIONS[KEY_DTYPE].compute}) on it, or --energy-model roofline")


PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in [
        Precision("bfloat16", "dtype", 2.0, 2.0, "bf16", "bf16", needs_peak=False,
                  source="what every calibration ran (records' dtype column)"),
        Precision("float16", "dtype", 2.0, 2.0, "fp16", "bf16", needs_peak=False,
                  source="the same bytes as bfloat16; NVIDIA's datasheets give one FP16/BF16 dense tensor figure, "
                         "so its peak is the bf16 column"),
        Precision("fp8", "quantization", 1.0, 2.0, "fp8", "fp8", needs_peak=True,
                  source="vLLM quantization='fp8': weights quantized to fp8 at load, matrix products in fp8 (W8A8) "
                         "on chips with fp8 tensor cores; the KV cache stays in the model dtype (kv_cache_dtype "
                         "'auto')"),
    ]
}


def names(field: Literal["dtype", "quantization"]) -> tuple[str, ...]:
    """The precisions a serving field may name, in table order."""
    return tuple(p.name for p in PRECISIONS.values() if p.field == field)


def check_name(field: Literal["dtype", "quantization"], name: str) -> str:
    """`name` if the table has it for `field`; ValueError naming the choices otherwise."""
    entry = PRECISIONS.get(name)
    if entry is None or entry.field != field:
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise ValueError(f"{shown!r} is not a {field} of the precision table; use one of {', '.join(names(field))}"
                         + (" or null" if field == "quantization" else ""))
    return name


def precision_of(quantization: str | None = None, dtype: str = KEY_DTYPE) -> Precision:
    """The precision of a serving configuration: its quantization where it has one, else its dtype.

    A serving key's quantization alone gives the precision of what was measured (`KEY_DTYPE`).
    """
    if quantization is not None:
        return PRECISIONS[check_name("quantization", quantization)]
    return PRECISIONS[check_name("dtype", dtype)]


def dtype_refusal(dtype: str) -> str | None:
    """Why the measured model does not answer a deployment in `dtype` (None for the dtype it was measured in)."""
    if dtype == KEY_DTYPE:
        return None
    asked, measured = PRECISIONS[check_name("dtype", dtype)], PRECISIONS[KEY_DTYPE]
    alike = (asked.weight_bytes_per_param == measured.weight_bytes_per_param and asked.peak == measured.peak
             and asked.kv_bytes_per_value == measured.kv_bytes_per_value)
    how = ("it reads the same bytes at the same datasheet peak, but its kernels were never metered" if alike else
           f"it reads {asked.weight_bytes_per_param:g} bytes per weight at the {asked.peak} peak")
    return (f"serving.dtype: {dtype} was not measured (every calibration ran {KEY_DTYPE}, and a measured "
            f"configuration stands for {KEY_DTYPE} only); {how}; use dtype {KEY_DTYPE} for the measured answer, or "
            "--energy-model roofline for an analytic one")


# ---------------------------------------------------------------- weight formats of a checkpoint (quantization_config)

@dataclass(frozen=True)
class WeightFormat:
    """A checkpoint's stored weight format (its config.json `quantization_config`), which no serving field asks for.

    `covers`: which weights it stores (`experts`: the routed experts only; `linear`: every linear layer of the decoder
    layers), the rest stay in the model dtype. `bits`: bits per weight before scales.
    """

    method: str  # quantization_config.quant_method
    covers: Literal["experts", "linear"]
    bits: int
    source: str


WEIGHT_FORMATS: dict[str, WeightFormat] = {
    f.method: f
    for f in [
        WeightFormat("fp8", "linear", 8, "DeepSeek-V3's block-wise fp8 (e4m3, one fp32 scale per weight_block_size "
                     "block); routers, norms, embeddings and the LM head stay bf16"),
        WeightFormat("mxfp4", "experts", 4, "gpt-oss: the routed experts in MXFP4 (4-bit values, one 8-bit scale per "
                     "32: 4.25 bits); attention, router, embeddings and LM head stay bf16 (modules_to_not_convert), "
                     "as vLLM's Mxfp4 method quantizes only the fused MoE layers"),
        WeightFormat("awq", "linear", 4, "AutoAWQ int4: one fp16 scale and one 4-bit zero per group_size weights"),
        WeightFormat("gptq", "linear", 4, "GPTQ int4: one fp16 scale and one 4-bit zero per group_size weights"),
    ]
}
_FORMAT_FIX = ("the formats the tool costs are quant_method fp8 (block-wise e4m3), mxfp4, awq and gptq (4 bits), "
               "and any other is refused, never counted as bfloat16")


def format_covers(method: str) -> Literal["experts", "linear"]:
    """Which weights a checkpoint format stores (`WeightFormat.covers`)."""
    return WEIGHT_FORMATS[method].covers


def _bad(key: str, problem: str) -> InputError:
    return InputError(f"config.quantization_config{'.' + key if key else ''}", problem, _FORMAT_FIX)


def _whole(qc: dict, keys: tuple[str, ...], default: int, low: int = 1) -> int:
    """The first of `keys` in `qc`, a whole number >= low (InputError naming it otherwise)."""
    for key in keys:
        value = qc.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _bad(key, f"{value!r} is not a whole number >= {low}")
        return value
    return default


def format_bytes_per_param(quantization_config: object) -> tuple[str, float]:
    """(quant_method, bytes per stored weight with its scales) of a config.json's `quantization_config`.

    InputError, in one line naming the field and what is supported, for a format the tool cannot cost.
    """
    if not isinstance(quantization_config, dict):
        raise _bad("", "not an object")
    method = quantization_config.get("quant_method")
    if method not in WEIGHT_FORMATS:
        shown = repr(method) if not isinstance(method, str) or len(method) <= 40 else repr(method[:40] + "...")
        raise _bad("quant_method", f"{shown} is not a weight format the tool can cost")
    qc = quantization_config
    if method == "fp8":
        fmt = qc.get("fmt", "e4m3")
        if fmt != "e4m3":
            raise _bad("fmt", f"{str(fmt)[:40]!r} is not the e4m3 fp8 the tool costs")
        block = qc.get("weight_block_size")
        if block is None:  # one scale per tensor: nothing per weight
            return method, 1.0
        if (not isinstance(block, list) or len(block) != 2
                or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in block)):
            raise _bad("weight_block_size", f"{str(block)[:40]} is not two positive whole numbers")
        return method, 1.0 + 4.0 / (block[0] * block[1])
    if method == "mxfp4":
        return method, 4.25 / 8
    bits = _whole(qc, ("bits", "w_bit"), 4)
    if bits != 4:
        raise _bad("bits", f"{method} with {bits} bits is not costed (4 bits only)")
    group = _whole(qc, ("group_size", "q_group_size"), 128, low=-1)
    if group == 0:
        raise _bad("group_size", "0 is not a group size (-1: one group per column)")
    # an fp16 scale and a 4-bit zero per group; -1: per output channel, negligible per weight
    return method, 0.5 + (2.5 / group if group > 0 else 0.0)


def format_refusal(arch_name: str, method: str, precision: Precision) -> str | None:
    """Why the measured model does not answer a checkpoint stored in `method` (None where it may).

    Every calibration loaded bf16 weights (or quantized them to fp8 at load): a checkpoint served in another format
    runs other kernels over other bytes. A block-wise fp8 checkpoint is served in fp8, so it is answered as the fp8
    configuration where that is asked for; the 4-bit formats were never measured.
    """
    if not method:
        return None
    fmt = WEIGHT_FORMATS[method]
    if method == "fp8":
        if precision.name == "fp8":
            return None
        return (f"serving.quantization: {arch_name}'s checkpoint stores its weights in fp8 "
                f"(quantization_config.quant_method fp8), which vLLM serves in fp8 whatever the dtype, so a measured "
                f"{precision.name} configuration would misread its bytes and kernels; use quantization fp8, or "
                "--energy-model roofline for an analytic estimate")
    which = "routed experts" if fmt.covers == "experts" else "linear layers"
    return (f"model: {arch_name}'s {which} are stored in {method} ({fmt.bits}-bit weights with scales, "
            f"quantization_config.quant_method {method}), a weight format no calibration measured (its kernels and "
            "bytes differ from every measured configuration); use --energy-model roofline for an analytic estimate, "
            "which counts those bytes")

"""GPU catalog: datasheet figures for the baselines, the model's features and the transfer to unmeasured GPUs.

Every entry cites the document its figures come from (name and year, and its address where one is well known).
FLOP/s are dense tensor-core peaks: NVIDIA's datasheets print the 2:4-sparsity figures, so dense is half of them.
Idle power is given only where a primary source publishes it; NVIDIA's datasheets give the maximum (TDP) alone, so
every entry here holds None with that reason. Idle power measured on our own GPUs (empty and with an engine loaded)
lives in the model card (`idle_power_w`), not here: the catalog is what is known of a GPU without measuring it.
"""

from __future__ import annotations

from dataclasses import dataclass

from energy_predict.errors import InputError

GENERATIONS = ("Ampere", "Ada Lovelace", "Hopper", "Blackwell")
PEAKS = ("bf16", "fp8")  # datasheet columns of dense tensor FLOP/s a precision computes at (precision.py)
NO_IDLE_FIGURE = "the datasheet gives the maximum power (TDP) only, no idle figure"


@dataclass(frozen=True)
class GPU:
    """One GPU SKU. FLOP/s are dense (no sparsity) tensor-core peaks; bytes and watts as the datasheet gives them."""

    name: str
    bf16_flops: float  # FLOP/s
    fp8_flops: float | None  # FLOP/s; None where the chip has no fp8 tensor cores
    memory_bandwidth_bps: float  # bytes/s
    memory_bytes: float
    tdp_w: float
    nvml_names: tuple[str, ...]
    source: str  # the datasheet: document name and year, and which column or figure was read
    generation: str = "Hopper"  # architecture generation (one of GENERATIONS)
    url: str | None = None  # where the datasheet is published, where a stable address is well known
    idle_w: float | None = None  # idle power of the empty card (W), only where a primary source gives it
    idle_null_reason: str | None = None  # why idle_w is None

    def __post_init__(self) -> None:
        if self.generation not in GENERATIONS:
            raise ValueError(f"{self.name}: generation must be one of {GENERATIONS}")
        if (self.idle_w is None) == (not self.idle_null_reason):
            raise ValueError(f"{self.name}: give idle_w from a primary source, or None with idle_null_reason")

    @property
    def has_fp8(self) -> bool:
        """Whether the chip has fp8 tensor cores (Ada Lovelace and later)."""
        return self.has_peak("fp8")

    def _peaks(self) -> dict[str, float | None]:
        return {"bf16": self.bf16_flops, "fp8": self.fp8_flops}

    def has_peak(self, peak: str) -> bool:
        """Whether the datasheet gives this column (`PEAKS`): the chip has tensor cores of that format."""
        if peak not in PEAKS:
            raise ValueError(f"peak must be one of {PEAKS}")
        return self._peaks()[peak] is not None

    def peak_flops(self, peak: str = "bf16") -> float:
        """Dense tensor FLOP/s of a datasheet column (`PEAKS`; a precision names its own, `Precision.peak`).

        A chip without the column runs that precision's weights through bf16 kernels (weight-only): its bf16 peak.
        """
        return self._peaks()[peak] if self.has_peak(peak) else self.bf16_flops


T = 1e12
HOPPER_DATASHEET = "https://www.nvidia.com/en-us/data-center/h100/"
H200_PAGE = "https://www.nvidia.com/en-us/data-center/h200/"
A100_DATASHEET = ("https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
                  "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf")
MEASURED_IDLE = (f"{NO_IDLE_FIGURE}; measured on the calibration machines (empty and loaded), see the model card's "
                 "idle_power_w")

CATALOG: dict[str, GPU] = {
    g.name: g
    for g in [
        GPU("H100-SXM-80GB", 989.4 * T, 1978.9 * T, 3.35e12, 85_520_809_984, 700.0,
            ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 80GB"),
            "NVIDIA H100 Tensor Core GPU datasheet (2023), H100 SXM column; memory: NVML's total on the calibration "
            "machines (81,559 MiB; the datasheet's '80GB' is binary)",
            generation="Hopper", url=HOPPER_DATASHEET, idle_null_reason=MEASURED_IDLE),
        GPU("H100-PCIe-80GB", 756.0 * T, 1513.0 * T, 2.0e12, 80e9, 350.0,
            ("NVIDIA H100 PCIe",),
            "NVIDIA H100 Tensor Core GPU datasheet (2023), H100 PCIe column (TDP 300-350 W configurable: the "
            "upper figure); memory: the datasheet's 80 GB read as decimal bytes",
            generation="Hopper", url=HOPPER_DATASHEET, idle_null_reason=NO_IDLE_FIGURE),
        GPU("H200-SXM-141GB", 989.4 * T, 1978.9 * T, 4.8e12, 150_754_820_096, 700.0,
            ("NVIDIA H200", "NVIDIA H200 141GB HBM3e"),
            "NVIDIA H200 Tensor Core GPU datasheet (2024), H200 SXM column; memory: NVML's total on the calibration "
            "machines (143,771 MiB)",
            generation="Hopper", url=H200_PAGE, idle_null_reason=MEASURED_IDLE),
        GPU("H200-NVL-141GB", 835.5 * T, 1670.5 * T, 4.8e12, 141e9, 600.0,
            ("NVIDIA H200 NVL",),
            "NVIDIA H200 Tensor Core GPU datasheet (2024), H200 NVL column (PCIe card): BF16 1,671 and FP8 3,341 "
            "TFLOPS with sparsity, 4.8 TB/s, 141 GB, TDP up to 600 W (configurable: the upper figure); memory: the "
            "datasheet's 141 GB read as decimal bytes",
            generation="Hopper", url=H200_PAGE, idle_null_reason=NO_IDLE_FIGURE),
        GPU("A100-SXM-80GB", 312.0 * T, None, 2.039e12, 80e9, 400.0,
            ("NVIDIA A100-SXM4-80GB",),
            "NVIDIA A100 Tensor Core GPU datasheet (2021), A100 80GB SXM column (no fp8: Ampere); memory: the "
            "datasheet's 80 GB read as decimal bytes",
            generation="Ampere", url=A100_DATASHEET, idle_null_reason=NO_IDLE_FIGURE),
        GPU("A100-PCIe-80GB", 312.0 * T, None, 1.935e12, 80e9, 300.0,
            ("NVIDIA A100 80GB PCIe", "NVIDIA A100-PCIE-80GB"),
            "NVIDIA A100 Tensor Core GPU datasheet (2021), A100 80GB PCIe column (no fp8: Ampere); memory: the "
            "datasheet's 80 GB read as decimal bytes",
            generation="Ampere", url=A100_DATASHEET, idle_null_reason=NO_IDLE_FIGURE),
        GPU("RTX-A6000", 154.8 * T, None, 768e9, 48e9, 300.0,
            ("NVIDIA RTX A6000",),
            "NVIDIA RTX A6000 datasheet (2021) for memory, bandwidth and power; NVIDIA Ampere GA102 GPU "
            "architecture whitepaper (2020) for dense BF16 tensor FLOP/s (no fp8: Ampere)",
            generation="Ampere", url="https://www.nvidia.com/en-us/design-visualization/rtx-a6000/",
            idle_null_reason=NO_IDLE_FIGURE),
        GPU("L40S", 362.05 * T, 733.0 * T, 864e9, 48e9, 350.0,
            ("NVIDIA L40S",),
            "NVIDIA L40S GPU datasheet (2023): dense figures (half the sparsity figures), 864 GB/s GDDR6, 350 W "
            "maximum power",
            generation="Ada Lovelace", url="https://www.nvidia.com/en-us/data-center/l40s/",
            idle_null_reason=NO_IDLE_FIGURE),
        GPU("B200", 2250.0 * T, 4500.0 * T, 7.7e12, 180e9, 1000.0,
            ("NVIDIA B200",),
            "NVIDIA HGX B200 specifications (NVIDIA Blackwell datasheet, 2025), per GPU: FP16/BF16 4.5 and FP8 9 "
            "PFLOPS with sparsity, 180 GB HBM3e, 7.7 TB/s, TDP configurable up to 1,000 W (the DGX B200 datasheet's "
            "64 TB/s per 8 GPUs would give 8 TB/s: the lower figure is kept)",
            generation="Blackwell", url="https://www.nvidia.com/en-us/data-center/hgx/",
            idle_null_reason=NO_IDLE_FIGURE),
    ]
}


def resolve_gpu(spec: str) -> GPU:
    """A catalog name (case-insensitive, '-' or ' ' alike) or an NVML device name."""
    def norm(s: str) -> str:
        return s.lower().replace(" ", "").replace("-", "").replace("_", "")

    for gpu in CATALOG.values():
        if norm(spec) in {norm(gpu.name), *(norm(n) for n in gpu.nvml_names)}:
            return gpu
    aliases = {"h100": "H100-SXM-80GB", "h200": "H200-SXM-141GB", "a100": "A100-SXM-80GB", "a6000": "RTX-A6000",
               "h200nvl": "H200-NVL-141GB"}
    if norm(spec) in aliases:
        return CATALOG[aliases[norm(spec)]]
    shown = spec if len(spec) <= 100 else spec[:100] + "..."
    raise InputError("hardware.gpu", f"unknown GPU {shown!r}", f"use one of {', '.join(CATALOG)}")

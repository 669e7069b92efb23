"""GPU catalog: datasheet figures for the baselines and the model's features."""

from __future__ import annotations

from dataclasses import dataclass

from energy_predict.errors import InputError


@dataclass(frozen=True)
class GPU:
    """One GPU SKU. FLOP/s are dense (no sparsity) tensor-core peaks."""

    name: str
    bf16_flops: float  # FLOP/s
    fp8_flops: float | None  # FLOP/s; None where the chip has no fp8 tensor cores
    memory_bandwidth_bps: float  # bytes/s
    memory_bytes: float
    tdp_w: float
    nvml_names: tuple[str, ...]
    source: str

    def peak_flops(self, dtype: str = "bfloat16") -> float:
        """Peak dense FLOP/s for a compute dtype (fp8 falls back to bf16 where unsupported)."""
        if dtype in ("fp8", "float8") and self.fp8_flops:
            return self.fp8_flops
        return self.bf16_flops


T = 1e12
CATALOG: dict[str, GPU] = {
    g.name: g
    for g in [
        GPU("H100-SXM-80GB", 989.4 * T, 1978.9 * T, 3.35e12, 85_520_809_984, 700.0,
            ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 80GB"),
            "NVIDIA H100 Tensor Core GPU datasheet (2023), SXM column; memory: NVML's total on the calibration "
            "machines (81,559 MiB; the datasheet's '80GB' is binary)"),
        GPU("H100-PCIe-80GB", 756.0 * T, 1513.0 * T, 2.0e12, 80e9, 350.0,
            ("NVIDIA H100 PCIe",),
            "NVIDIA H100 Tensor Core GPU datasheet (2023), PCIe column"),
        GPU("H200-SXM-141GB", 989.4 * T, 1978.9 * T, 4.8e12, 150_754_820_096, 700.0,
            ("NVIDIA H200", "NVIDIA H200 141GB HBM3e"),
            "NVIDIA H200 Tensor Core GPU datasheet (2024), SXM column; memory: NVML's total on the calibration "
            "machines (143,771 MiB)"),
        GPU("A100-SXM-80GB", 312.0 * T, None, 2.039e12, 80e9, 400.0,
            ("NVIDIA A100-SXM4-80GB",),
            "NVIDIA A100 Tensor Core GPU datasheet (2021), 80GB SXM column"),
        GPU("A100-PCIe-80GB", 312.0 * T, None, 1.935e12, 80e9, 300.0,
            ("NVIDIA A100 80GB PCIe", "NVIDIA A100-PCIE-80GB"),
            "NVIDIA A100 Tensor Core GPU datasheet (2021), 80GB PCIe column"),
        GPU("RTX-A6000", 154.8 * T, None, 768e9, 48e9, 300.0,
            ("NVIDIA RTX A6000",),
            "NVIDIA RTX A6000 datasheet (2021); Ampere GA102 whitepaper, dense BF16 tensor"),
        GPU("L40S", 362.05 * T, 733.0 * T, 864e9, 48e9, 350.0,
            ("NVIDIA L40S",),
            "NVIDIA L40S datasheet (2023), dense figures (half the sparsity figures)"),
        GPU("B200", 2250.0 * T, 4500.0 * T, 8.0e12, 180e9, 1000.0,
            ("NVIDIA B200",),
            "NVIDIA HGX B200 datasheet (2025), per GPU, dense figures"),
    ]
}


def resolve_gpu(spec: str) -> GPU:
    """A catalog name (case-insensitive, '-' or ' ' alike) or an NVML device name."""
    def norm(s: str) -> str:
        return s.lower().replace(" ", "").replace("-", "").replace("_", "")

    for gpu in CATALOG.values():
        if norm(spec) in {norm(gpu.name), *(norm(n) for n in gpu.nvml_names)}:
            return gpu
    aliases = {"h100": "H100-SXM-80GB", "h200": "H200-SXM-141GB", "a100": "A100-SXM-80GB", "a6000": "RTX-A6000"}
    if norm(spec) in aliases:
        return CATALOG[aliases[norm(spec)]]
    shown = spec if len(spec) <= 100 else spec[:100] + "..."
    raise InputError("hardware.gpu", f"unknown GPU {shown!r}", f"use one of {', '.join(CATALOG)}")

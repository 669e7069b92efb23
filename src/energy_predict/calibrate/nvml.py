"""The device boundary: the only module that imports pynvml (lazily), and nothing above it sees pynvml.

Every NVML error is translated here into one of two exceptions: `SensorUnavailable` (no pynvml, no driver or GPU,
or a reading this device does not support: a capability, not a fault) and `SensorError` (NVML failed on a reading
that should work). Readings are in SI units (J, W, MHz, degrees C, bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from energy_predict.contracts.records import GpuInfo

T = TypeVar("T")


class SensorUnavailable(RuntimeError):
    """No NVML, no GPU, or the asked-for reading is not supported on this device."""


class SensorError(RuntimeError):
    """NVML answered with an error for a reading that should work."""


def _nvml() -> Any:
    """The pynvml module, imported on first use (the calibrate extra's nvidia-ml-py)."""
    try:
        import pynvml
    except ImportError as exc:  # the calibrate extra is not installed
        raise SensorUnavailable(f"pynvml is not installed ({exc}); pip install 'energy-predict[calibrate]'") from None
    return pynvml


def _call(fn: Callable[..., T], *args: Any) -> T:
    """Call one NVML function, its errors translated: not supported -> SensorUnavailable, any other -> SensorError."""
    pynvml = _nvml()
    try:
        return fn(*args)
    except pynvml.NVMLError_NotSupported as exc:
        raise SensorUnavailable(str(exc)) from None
    except pynvml.NVMLError as exc:
        raise SensorError(str(exc)) from None


def init() -> None:
    """Initialise NVML (SensorUnavailable where there is no driver or GPU)."""
    pynvml = _nvml()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise SensorUnavailable(f"NVML could not start: {exc}") from None


class Device:
    """One GPU as NVML sees it (by NVML index, which is PCI bus order); readings in SI units."""

    def __init__(self, index: int) -> None:
        init()
        self.index = index
        self._p = _nvml()
        self._h = _call(self._p.nvmlDeviceGetHandleByIndex, index)

    def energy_j(self) -> float:
        """Cumulative energy counter since the driver loaded (mJ in NVML)."""
        return _call(self._p.nvmlDeviceGetTotalEnergyConsumption, self._h) / 1000.0

    def supports_energy_counter(self) -> bool:
        """Whether the cumulative energy counter can be read (Volta and newer); probed, not assumed."""
        try:
            self.energy_j()
        except (SensorUnavailable, SensorError):
            return False
        return True

    def power_w(self) -> float:
        """Power draw now (NVML: mW, averaged by the driver over a short window)."""
        return _call(self._p.nvmlDeviceGetPowerUsage, self._h) / 1000.0

    def sm_clock_mhz(self) -> float:
        return float(_call(self._p.nvmlDeviceGetClockInfo, self._h, self._p.NVML_CLOCK_SM))

    def memory_used_bytes(self) -> float:
        return float(_call(self._p.nvmlDeviceGetMemoryInfo, self._h).used)

    def temperature_c(self) -> float:
        return float(_call(self._p.nvmlDeviceGetTemperature, self._h, self._p.NVML_TEMPERATURE_GPU))

    def info(self) -> GpuInfo:
        """Name, UUID, driver, power limit and clocks, for the run's provenance; None for what NVML will not say."""

        def safe(fn: Callable[[], Any]) -> Any:
            try:
                return fn()
            except (SensorUnavailable, SensorError):
                return None

        p, h = self._p, self._h
        return GpuInfo(
            index=self.index,
            name=safe(lambda: _call(p.nvmlDeviceGetName, h)),
            uuid=safe(lambda: _call(p.nvmlDeviceGetUUID, h)),
            driver=safe(lambda: _call(p.nvmlSystemGetDriverVersion)),
            power_limit_w=safe(lambda: _call(p.nvmlDeviceGetPowerManagementLimit, h) / 1000.0),
            memory_bytes=safe(lambda: _call(p.nvmlDeviceGetMemoryInfo, h).total),
            max_sm_clock_mhz=safe(lambda: _call(p.nvmlDeviceGetMaxClockInfo, h, p.NVML_CLOCK_SM)),
            max_mem_clock_mhz=safe(lambda: _call(p.nvmlDeviceGetMaxClockInfo, h, p.NVML_CLOCK_MEM)),
        )

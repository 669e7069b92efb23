"""The device boundary: pynvml mocked with autospec; every NVML error leaves as SensorUnavailable or SensorError."""

import sys
from types import SimpleNamespace

import pytest

from energy_predict.calibrate import nvml
from energy_predict.contracts.records import GpuInfo
from tests.fakes import autospec_pynvml, nvml_error


@pytest.fixture
def pynvml(monkeypatch):
    fake = autospec_pynvml()
    fake.nvmlDeviceGetHandleByIndex.side_effect = lambda i: f"handle-{i}"
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


def test_readings_are_in_si_units_and_asked_of_the_devices_own_handle(pynvml):
    pynvml.nvmlDeviceGetTotalEnergyConsumption.return_value = 123_456  # mJ
    pynvml.nvmlDeviceGetPowerUsage.return_value = 350_500  # mW
    pynvml.nvmlDeviceGetClockInfo.return_value = 1980
    pynvml.nvmlDeviceGetTemperature.return_value = 41
    pynvml.nvmlDeviceGetMemoryInfo.return_value = SimpleNamespace(used=3 << 30, total=80 << 30)
    gpu = nvml.Device(2)
    assert gpu.energy_j() == pytest.approx(123.456) and gpu.power_w() == pytest.approx(350.5)
    assert gpu.sm_clock_mhz() == 1980.0 and gpu.temperature_c() == 41.0 and gpu.memory_used_bytes() == 3 << 30
    pynvml.nvmlInit.assert_called()
    pynvml.nvmlDeviceGetHandleByIndex.assert_called_with(2)
    pynvml.nvmlDeviceGetTotalEnergyConsumption.assert_called_with("handle-2")
    pynvml.nvmlDeviceGetClockInfo.assert_called_with("handle-2", pynvml.NVML_CLOCK_SM)
    pynvml.nvmlDeviceGetTemperature.assert_called_with("handle-2", pynvml.NVML_TEMPERATURE_GPU)


def test_an_unsupported_reading_is_unavailable_and_any_other_nvml_error_is_a_sensor_error(pynvml):
    gpu = nvml.Device(0)
    pynvml.nvmlDeviceGetTotalEnergyConsumption.side_effect = nvml_error("NVML_ERROR_NOT_SUPPORTED")
    with pytest.raises(nvml.SensorUnavailable):
        gpu.energy_j()
    assert not gpu.supports_energy_counter()  # a capability probed, not assumed
    pynvml.nvmlDeviceGetPowerUsage.side_effect = nvml_error("NVML_ERROR_GPU_IS_LOST")
    with pytest.raises(nvml.SensorError, match="GPU is lost"):
        gpu.power_w()
    pynvml.nvmlDeviceGetTotalEnergyConsumption.side_effect = nvml_error("NVML_ERROR_UNKNOWN")
    assert not gpu.supports_energy_counter()
    pynvml.nvmlDeviceGetTotalEnergyConsumption.side_effect = None
    pynvml.nvmlDeviceGetTotalEnergyConsumption.return_value = 5
    assert gpu.supports_energy_counter()


def test_no_driver_or_no_pynvml_is_sensor_unavailable_saying_what_to_do(pynvml, monkeypatch):
    pynvml.nvmlInit.side_effect = nvml_error("NVML_ERROR_DRIVER_NOT_LOADED")
    with pytest.raises(nvml.SensorUnavailable, match="NVML could not start"):
        nvml.Device(0)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # the calibrate extra is not installed
    with pytest.raises(nvml.SensorUnavailable, match=r"pip install 'energy-predict\[calibrate\]'"):
        nvml.init()


def test_a_handle_nvml_refuses_is_a_sensor_error(pynvml):
    pynvml.nvmlDeviceGetHandleByIndex.side_effect = nvml_error("NVML_ERROR_INVALID_ARGUMENT")
    with pytest.raises(nvml.SensorError):
        nvml.Device(7)


def test_info_gives_the_provenance_and_none_for_what_nvml_will_not_say(pynvml):
    pynvml.nvmlDeviceGetName.return_value = "NVIDIA H100 80GB HBM3"
    pynvml.nvmlDeviceGetUUID.side_effect = nvml_error("NVML_ERROR_NOT_SUPPORTED")
    pynvml.nvmlSystemGetDriverVersion.return_value = "580.159.04"
    pynvml.nvmlDeviceGetPowerManagementLimit.return_value = 700_000
    pynvml.nvmlDeviceGetMemoryInfo.return_value = SimpleNamespace(used=0, total=85_520_809_984)
    pynvml.nvmlDeviceGetMaxClockInfo.side_effect = lambda h, kind: {pynvml.NVML_CLOCK_SM: 1980,
                                                                   pynvml.NVML_CLOCK_MEM: 2619}[kind]
    info = nvml.Device(1).info()
    assert info == GpuInfo(index=1, name="NVIDIA H100 80GB HBM3", uuid=None, driver="580.159.04", power_limit_w=700.0,
                           memory_bytes=85_520_809_984, max_sm_clock_mhz=1980, max_mem_clock_mhz=2619)
    pynvml.nvmlDeviceGetName.side_effect = nvml_error("NVML_ERROR_GPU_IS_LOST")
    assert nvml.Device(1).info().name is None  # a lost GPU leaves the field empty, not the run

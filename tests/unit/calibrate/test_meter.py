"""The meter over pynvml mocked with autospec: the counter path, the power-sampling fallback, the degraded paths."""

import sys
import threading
import time
from types import SimpleNamespace

import pytest

from energy_predict.calibrate import meter as meter_module
from energy_predict.calibrate.meter import (
    NullMeter,
    NvmlMeter,
    Window,
    counter_energy_j,
    integrate_j,
    measure,
    measure_idle,
    measure_repeated,
    open_meter,
)
from energy_predict.contracts.records import IdlePower
from tests.fakes import autospec_pynvml, nvml_error

TICK_S = 0.01


class Gpus:
    """GPUs behind the autospec'd pynvml: each one's energy counter ticks every 10 ms at its power (W)."""

    def __init__(self, pynvml, watts):
        self.pynvml, self.watts, self.t0 = pynvml, dict(watts), time.perf_counter()
        self.offset_mj = {i: 0 for i in watts}
        pynvml.nvmlDeviceGetHandleByIndex.side_effect = lambda i: i
        pynvml.nvmlDeviceGetTotalEnergyConsumption.side_effect = self.energy_mj
        pynvml.nvmlDeviceGetPowerUsage.side_effect = lambda h: int(self.watts[h] * 1000)
        pynvml.nvmlDeviceGetClockInfo.return_value = 1980
        pynvml.nvmlDeviceGetTemperature.return_value = 40
        pynvml.nvmlDeviceGetName.return_value = "NVIDIA H100 80GB HBM3"
        pynvml.nvmlDeviceGetUUID.side_effect = lambda h: f"GPU-{h}"
        pynvml.nvmlSystemGetDriverVersion.return_value = "580"
        pynvml.nvmlDeviceGetPowerManagementLimit.return_value = 700_000
        pynvml.nvmlDeviceGetMemoryInfo.return_value = SimpleNamespace(used=0, total=80 << 30)
        pynvml.nvmlDeviceGetMaxClockInfo.return_value = 1980

    def energy_mj(self, handle):
        ticks = int((time.perf_counter() - self.t0) / TICK_S)
        return int(ticks * TICK_S * self.watts[handle] * 1000) + self.offset_mj[handle]

    def fail(self, function, code="NVML_ERROR_GPU_IS_LOST"):
        getattr(self.pynvml, function).side_effect = nvml_error(code)


@pytest.fixture
def pynvml(monkeypatch):
    fake = autospec_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(meter_module, "SAMPLE_PERIOD_S", 0.01)  # a sampler fills short windows
    return fake


def sleep(seconds):
    return lambda: time.sleep(seconds)


def samplers():
    return [t for t in threading.enumerate() if isinstance(t, meter_module._Sampler)]


def test_the_counter_sums_every_gpu_keeps_each_and_cross_checks_one_window_in_three(pynvml):
    Gpus(pynvml, {0: 100.0, 1: 300.0})
    meter = NvmlMeter([0, 1])
    readings = [measure(meter, sleep(0.2)) for _ in range(4)]
    assert [r.cross_checked for r in readings] == [True, False, False, True]
    for r in readings:
        assert r.sensor == "nvml-energy-counter" and r.null_reason is None
        assert r.energy_j / r.duration_s == pytest.approx(400, rel=0.25)
        assert sum(r.gpu_energy_j) == pytest.approx(r.energy_j)
        assert r.gpu_energy_j[1] == pytest.approx(3 * r.gpu_energy_j[0], rel=0.15)  # reads a tick apart at most
        assert (r.sampled_energy_j is not None) == r.cross_checked
    assert readings[1].sm_clock_mhz == 1980.0 and readings[1].temperature_c == 40.0  # read once, after the window
    info = meter.describe()
    assert info.sensor == "nvml-energy-counter" and info.power_sampling == "every 3 windows"
    assert [g.uuid for g in info.gpus] == ["GPU-0", "GPU-1"] and info.gpus[0].power_limit_w == 700.0


def test_an_unsupported_counter_falls_back_to_sampling_power_in_every_window(pynvml):
    gpus = Gpus(pynvml, {0: 250.0})
    gpus.fail("nvmlDeviceGetTotalEnergyConsumption", "NVML_ERROR_NOT_SUPPORTED")
    meter = NvmlMeter([0])
    assert not meter.counter_ok
    info = meter.describe()
    assert info.sensor == "nvml-power-sampling" and info.power_sampling == "every window"
    for r in [measure(meter, sleep(0.15)) for _ in range(2)]:
        assert r.sensor == "nvml-power-sampling" and r.cross_checked and r.gpu_energy_j is None
        # from the samples (a loaded CPU can hold a sample past the window's end: the bound leaves room for that)
        assert r.energy_j == r.sampled_energy_j and 0 < r.energy_j <= 1.5 * 250 * r.duration_s
        assert r.mean_power_w == 250.0 and r.max_power_w == 250.0


def test_a_counter_reset_gives_the_sampled_energy_or_none_with_the_reason_never_a_wrong_number(pynvml):
    gpus = Gpus(pynvml, {0: 200.0})
    meter = NvmlMeter([0], cross_check_every=2)

    def reset():  # the driver resets the counter while the work runs
        time.sleep(0.1)
        gpus.offset_mj[0] -= 10**9

    sampled = measure(meter, reset)  # window 1: a sampler ran beside the work
    assert sampled.sensor == "nvml-power-sampling" and sampled.energy_j == sampled.sampled_energy_j is not None
    bare = measure(meter, reset)  # window 2: no sampler
    assert bare.energy_j is None and bare.sensor == "none" and "backwards (reset)" in bare.null_reason
    assert bare.duration_s > 0.09


def test_a_sampler_that_fails_and_no_counter_give_none_with_a_reason(pynvml):
    gpus = Gpus(pynvml, {0: 200.0})
    gpus.fail("nvmlDeviceGetTotalEnergyConsumption", "NVML_ERROR_NOT_SUPPORTED")
    gpus.fail("nvmlDeviceGetPowerUsage")  # the sampler's first read fails: it stops with no samples
    r = measure(NvmlMeter([0]), sleep(0.05))
    assert r.energy_j is None and r.sensor == "none" and r.null_reason.startswith("neither the energy counter")
    assert r.mean_power_w is None and r.cross_checked


def test_a_counter_that_stops_answering_mid_window_gives_none_and_clock_and_temperature_may_be_missing(pynvml):
    gpus = Gpus(pynvml, {0: 200.0})
    meter = NvmlMeter([0], cross_check_every=1000)
    measure(meter, sleep(0.0))  # the one cross-checked window
    gpus.fail("nvmlDeviceGetClockInfo")

    def lose_the_counter():
        gpus.fail("nvmlDeviceGetTotalEnergyConsumption")

    r = measure(meter, lose_the_counter)
    assert r.energy_j is None and r.sensor == "none" and r.null_reason and not r.cross_checked
    assert r.sm_clock_mhz is None and r.temperature_c is None


def test_a_window_whose_work_raises_stops_its_sampler_and_gives_no_reading(pynvml):
    Gpus(pynvml, {0: 200.0})
    meter = NvmlMeter([0])
    with pytest.raises(RuntimeError, match="kernel exploded"):
        with meter.window() as window:
            assert samplers()  # the first window is a cross-check
            raise RuntimeError("kernel exploded")
    assert not samplers()
    with pytest.raises(RuntimeError, match="still open"):
        window.reading  # noqa: B018


def test_sync_is_given_at_construction_and_a_synced_meter_shares_the_gpus_and_the_schedule(pynvml):
    Gpus(pynvml, {0: 100.0})
    calls = []
    meter = NvmlMeter([0], sync=lambda: calls.append("meter"))
    engine = meter.synced(lambda: calls.append("engine"))
    assert engine is not meter and engine.devices is meter.devices
    first = measure(meter, sleep(0.0))
    second, third, fourth = (measure(engine, sleep(0.0)) for _ in range(3))
    assert calls == ["meter", "meter"] + ["engine"] * 6  # each window syncs at both edges, with its own call
    assert [r.cross_checked for r in (first, second, third, fourth)] == [True, False, False, True]


def test_no_nvml_opens_a_null_meter_that_times_windows_and_says_why(pynvml):
    pynvml.nvmlInit.side_effect = nvml_error("NVML_ERROR_LIBRARY_NOT_FOUND")
    meter = open_meter([0])
    assert isinstance(meter, NullMeter) and meter.synced(lambda: None) is meter
    info = meter.describe()
    assert info.sensor == "none" and info.null_reason.startswith("no GPU energy sensor: NVML could not start")
    r = measure(meter, sleep(0.01))
    assert r.energy_j is None and r.duration_s >= 0.01 and r.null_reason == info.null_reason
    assert measure_idle(meter, 0.01) == IdlePower(None, None)


def test_idle_power_is_the_window_mean_summed_and_per_gpu(pynvml):
    Gpus(pynvml, {0: 100.0, 1: 200.0})
    idle = measure_idle(open_meter([0, 1]), 0.2)
    assert idle.total_w == pytest.approx(300, rel=0.2) and idle.total_w == pytest.approx(sum(idle.per_gpu_w))
    assert idle.per_gpu_w[1] == pytest.approx(2 * idle.per_gpu_w[0], rel=0.15)


def test_repeated_work_fills_the_window():
    window = measure_repeated(NullMeter(""), lambda: 7, 0.01)
    assert window.reading.duration_s >= 0.01 and window.repeats > 1 and set(window.results) == {7}


def test_a_window_says_so_when_read_before_it_closes_and_the_schedule_needs_a_period():
    with pytest.raises(RuntimeError, match="still open"):
        Window().reading  # noqa: B018
    with pytest.raises(ValueError, match="cross_check_every"):
        NvmlMeter([], cross_check_every=0)


def edge(t, *counters):
    return meter_module._Edge(t, tuple(counters) if counters else None)


def test_the_tail_past_the_work_is_taken_off_at_the_sampled_or_the_windows_own_power():
    # 10 s window, work ends at 9 s: 1 s of tail at the samples after the work (100 W), or at the mean (1000/10 W)
    sampled = [(8.5, 500.0, 0, 0), (9.5, 100.0, 0, 0)]
    energy, reason, per_gpu = counter_energy_j(edge(0.0, 300.0, 700.0), 9.0, edge(10.0, 600.0, 1400.0), sampled)
    assert energy == pytest.approx(900.0) and reason is None and per_gpu == pytest.approx((270.0, 630.0))
    assert counter_energy_j(edge(0.0, 0.0), 9.0, edge(10.0, 1000.0), None)[0] == pytest.approx(900.0)
    only_work = [(8.5, 500.0, 0, 0)]  # no sample after the work: the last one's power
    assert counter_energy_j(edge(0.0, 0.0), 9.0, edge(10.0, 1000.0), only_work)[0] == pytest.approx(500.0)
    assert counter_energy_j(edge(0.0, 0.0), 0.0, edge(0.0, 0.0), None) == (0.0, None, (0.0,))
    assert counter_energy_j(edge(0.0, 50.0), 9.0, edge(10.0, 10.0), None)[:2] == (
        None, "energy counter went backwards (reset) during the window")
    assert counter_energy_j(edge(0.0), 9.0, edge(10.0, 5.0), None) == (None, None, None)


def test_power_samples_integrate_by_the_trapezoid_rule():
    assert integrate_j([(0.0, 100.0, 0, 0)]) is None
    assert integrate_j([(0.0, 100.0, 0, 0), (1.0, 300.0, 0, 0), (3.0, 300.0, 0, 0)]) == pytest.approx(800.0)

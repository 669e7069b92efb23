"""Energy meters: one interface, `start()` then `stop() -> Reading`.

The NVML energy counter is the primary sensor. A background thread sampling power (and clock and temperature)
shares the GIL with an in-process engine and slows launch-bound loops (HF eager at batch 1: +12% time in an A/B),
so where the counter works the sampler runs only in every `cross_check_every`-th window, as a cross-check, and the
reading says whether it ran (`cross_checked`); the other windows have nothing beside the work. Where the counter is
unsupported the sampler is the sensor and runs in every window. Where no sensor exists the reading's energy is
None with a reason, never a made-up number.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from energy_predict.calibrate import nvml

SAMPLE_PERIOD_S = 0.1  # 10 Hz, power only: the sampler shares the GIL with in-process engines (see run caveats)
CROSS_CHECK_EVERY = 3  # with a working counter, sample power in the first window and every third after it


@dataclass(frozen=True)
class Reading:
    """One measurement window, all GPUs summed. Joules, seconds, watts; None where not measured."""

    energy_j: float | None
    duration_s: float
    sensor: str  # "nvml-energy-counter", "nvml-power-sampling" or "none"
    null_reason: str | None = None
    sampled_energy_j: float | None = None  # power samples integrated: the cross-check
    mean_power_w: float | None = None
    max_power_w: float | None = None
    sm_clock_mhz: float | None = None
    temperature_c: float | None = None
    gpu_energy_j: tuple[float, ...] | None = None  # per metered GPU, in the meter's order (counter only)
    cross_checked: bool = False  # whether a power sampler ran beside the work in this window


class NullMeter:
    """Times windows; has no energy sensor (CPU runs, machines without NVML)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> Reading:
        return Reading(None, time.perf_counter() - self._t0, "none", null_reason=self.reason)

    def describe(self) -> dict:
        return {"sensor": "none", "null_reason": self.reason, "gpus": []}


class _Sampler(threading.Thread):
    def __init__(self, devices: Sequence[nvml.Device]) -> None:
        super().__init__(daemon=True)
        self.devices = devices
        self.samples: list[tuple[float, float, float, float]] = []  # t, W (sum), MHz (mean), C (max)
        self._stop_event = threading.Event()

    def run(self) -> None:
        clock, temp, k = float("nan"), float("nan"), 0
        while not self._stop_event.is_set():
            try:
                power = sum(d.power_w() for d in self.devices)
                if k % 10 == 0:  # clock and temperature change slowly: read them once a second
                    clock = sum(d.sm_clock_mhz() for d in self.devices) / len(self.devices)
                    temp = max(d.temperature_c() for d in self.devices)
            except (nvml.SensorUnavailable, nvml.SensorError):
                return
            self.samples.append((time.perf_counter(), power, clock, temp))
            k += 1
            self._stop_event.wait(SAMPLE_PERIOD_S)

    def finish(self) -> list[tuple[float, float, float, float]]:
        self._stop_event.set()
        self.join()
        return self.samples


def _integrate(samples: list[tuple[float, float, float, float]]) -> float | None:
    if len(samples) < 2:
        return None
    return sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(samples, samples[1:]))


class NvmlMeter:
    """Energy of the chosen GPUs (summed) from NVML's cumulative counter, with power sampling beside it."""

    def __init__(self, gpu_indices: Sequence[int], sync: Callable[[], None] | None = None,
                 cross_check_every: int = CROSS_CHECK_EVERY) -> None:
        if cross_check_every < 1:
            raise ValueError("cross_check_every must be >= 1")
        self.cross_check_every = cross_check_every
        self._windows = 0
        self.devices = [nvml.Device(i) for i in gpu_indices]
        self.sync = sync or (lambda: None)
        self.counter_ok = True
        try:
            for d in self.devices:
                d.energy_j()
        except (nvml.SensorUnavailable, nvml.SensorError):
            self.counter_ok = False
        self._start: tuple[float, list[float] | None] = (0.0, None)
        self._sampler: _Sampler | None = None

    def describe(self) -> dict:
        sensor = "nvml-energy-counter" if self.counter_ok else "nvml-power-sampling"
        return {"sensor": sensor, "gpus": [d.info() for d in self.devices],
                "power_sampling": f"every {self.cross_check_every} windows" if self.counter_ok else "every window"}

    def _counters(self) -> list[float] | None:
        if not self.counter_ok:
            return None
        try:
            return [d.energy_j() for d in self.devices]
        except (nvml.SensorUnavailable, nvml.SensorError):
            return None

    def _wait_for_tick(self, timeout_s: float = 0.3) -> tuple[float, list[float] | None]:
        """Poll until the counter moves; return that moment and the counters.

        NVML's counter only changes about ten times a second. Opening and closing a window on a change
        removes up to a tick (~0.1 s of energy) of error at each edge.
        """
        first = self._counters()
        if first is None:
            return time.perf_counter(), None
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            now = self._counters()
            if now is None:
                return time.perf_counter(), None
            if sum(now) != sum(first):
                return time.perf_counter(), now
            time.sleep(0.001)
        return time.perf_counter(), first

    def start(self) -> None:
        """Synchronise the device, then open the window on a counter tick (a sampler beside it only when due)."""
        self.sync()
        due = not self.counter_ok or self._windows % self.cross_check_every == 0
        self._windows += 1
        self._sampler = _Sampler(self.devices) if due else None
        if self._sampler is not None:
            self._sampler.start()
        self._start = self._wait_for_tick()

    def stop(self) -> Reading:
        """Close the window: sync, wait for the next tick, subtract the sampled energy of that short tail."""
        self.sync()
        t1 = time.perf_counter()
        t_tick, end_counters = self._wait_for_tick()
        cross_checked = self._sampler is not None
        samples = self._sampler.finish() if self._sampler else []
        self._sampler = None
        t0, start_counters = self._start
        work = [s for s in samples if s[0] <= t1]
        tail = [s for s in samples if s[0] >= t1]
        if samples:
            tail_w = sum(s[1] for s in tail) / len(tail) if tail else (work[-1][1] if work else 0.0)
        elif start_counters is not None and end_counters is not None and t_tick > t0:
            tail_w = (sum(end_counters) - sum(start_counters)) / (t_tick - t0)  # the window's own mean power
        else:
            tail_w = 0.0
        tail_j = (t_tick - t1) * tail_w
        sampled = _integrate(work)
        powers = [s[1] for s in work]
        energy, sensor, reason, per_gpu = None, "nvml-energy-counter", None, None
        if start_counters is not None and end_counters is not None:
            deltas = [b - a for a, b in zip(start_counters, end_counters)]
            if all(d >= 0 for d in deltas):
                energy = max(sum(deltas) - tail_j, 0.0)
                # one window over all GPUs; the tail past the work is shared out in proportion to each GPU's energy
                total = sum(deltas)
                per_gpu = tuple(d * energy / total if total > 0 else 0.0 for d in deltas)
            else:
                reason = "energy counter went backwards (reset) during the window"
        if energy is None:
            sensor = "nvml-power-sampling"
            energy = sampled
            if energy is None:
                sensor, reason = "none", reason or "neither the energy counter nor power sampling gave a reading"
        clock, temp = _at_end(self.devices) if not work else (None, None)
        return Reading(
            energy_j=energy, duration_s=t1 - t0, sensor=sensor, null_reason=reason if energy is None else None,
            sampled_energy_j=sampled,
            mean_power_w=sum(powers) / len(powers) if powers else (energy / (t1 - t0) if energy and t1 > t0 else None),
            max_power_w=max(powers) if powers else None,
            sm_clock_mhz=sum(s[2] for s in work) / len(work) if work else clock,
            temperature_c=max(s[3] for s in work) if work else temp,
            gpu_energy_j=per_gpu,
            cross_checked=cross_checked,
        )


def _at_end(devices: Sequence[nvml.Device]) -> tuple[float | None, float | None]:
    """SM clock (mean) and temperature (max) read once after the window, for windows without a sampler."""
    try:
        return (sum(d.sm_clock_mhz() for d in devices) / len(devices), max(d.temperature_c() for d in devices))
    except (nvml.SensorUnavailable, nvml.SensorError):
        return None, None


def open_meter(gpu_indices: Sequence[int], sync: Callable[[], None] | None = None):
    """An NvmlMeter for the GPUs, or a NullMeter saying why there is none."""
    try:
        return NvmlMeter(gpu_indices, sync)
    except nvml.SensorUnavailable as exc:
        return NullMeter(f"no GPU energy sensor: {exc}")


def measure_idle(meter, seconds: float = 3.0) -> tuple[float | None, list[float] | None]:
    """Mean power over `seconds` of doing nothing: all metered GPUs summed, and per GPU (None without a sensor)."""
    meter.start()
    time.sleep(seconds)
    r = meter.stop()
    if r.energy_j is None or r.duration_s <= 0:
        return None, None
    per_gpu = [e / r.duration_s for e in r.gpu_energy_j] if r.gpu_energy_j is not None else None
    return r.energy_j / r.duration_s, per_gpu


def measure_idle_w(meter, seconds: float = 3.0) -> float | None:
    """Mean power over `seconds` of doing nothing, all metered GPUs summed (None without a sensor)."""
    return measure_idle(meter, seconds)[0]


@dataclass(frozen=True)
class Window:
    """A reading over `repeats` back-to-back runs of the same work, and what each run returned."""

    reading: Reading
    repeats: int
    results: tuple = ()


def measure_repeated(meter, run_once: Callable[[], object], min_window_s: float) -> Window:
    """Repeat `run_once` inside one window until the window spans `min_window_s`.

    The NVML counter ticks about ten times a second, so a 0.1 s window reads 0 J or a whole tick:
    repeating the work until the window spans ~2 s keeps that error near 1%. `run_once` must return
    only when its work is done (generate calls do).
    """
    results = []
    meter.start()
    t0 = time.perf_counter()
    while True:
        results.append(run_once())
        if time.perf_counter() - t0 >= min_window_s:
            break
    return Window(meter.stop(), len(results), tuple(results))

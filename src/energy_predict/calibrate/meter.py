"""Energy meters: one protocol whose measurement window is a context manager.

    with meter.window() as window:
        run()
    window.reading  # a Reading: energy_j (None + null_reason where not measured), duration_s, ...

A meter is configured when it is made: its GPUs and the call that waits for queued device work
(`backend.synchronize`) at each edge of a window. `meter.synced(sync)` is the same meter (GPUs, window count)
with another such call, for the engine loaded after the meter was made.

The NVML energy counter is the primary sensor. A background thread sampling power (and clock and temperature)
shares the GIL with an in-process engine and slows launch-bound loops (HF eager at batch 1: +12% time in an A/B),
so where the counter works the sampler runs only in every `cross_check_every`-th window, as a cross-check, and the
reading says whether it ran (`cross_checked`); the other windows have nothing beside the work. Where the counter is
unsupported the sampler is the sensor and runs in every window. A counter that goes backwards (a driver reset) or
stops answering gives the sampled energy where a sampler ran, else None with the reason: never a made-up number.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

from energy_predict.calibrate import nvml
from energy_predict.contracts.records import IdlePower, MeterInfo

SAMPLE_PERIOD_S = 0.1  # 10 Hz, power only: the sampler shares the GIL with in-process engines (see run caveats)
CROSS_CHECK_EVERY = 3  # with a working counter, sample power in the first window and every third after it
TICK_TIMEOUT_S = 0.3  # the counter ticks about every 0.1 s; one that has not moved in 0.3 s is read as it is


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


class Window:
    """An open measurement window; its `reading` once the `with` block has closed it."""

    def __init__(self) -> None:
        self._reading: Reading | None = None

    @property
    def reading(self) -> Reading:
        if self._reading is None:
            raise RuntimeError("the window is still open (or its work raised): read it after the with block")
        return self._reading

    def close(self, reading: Reading) -> None:
        """Set the reading (the meter does this as the window closes)."""
        self._reading = reading


class Meter(Protocol):
    """What the sweep and the replays need of a meter."""

    def window(self) -> AbstractContextManager[Window]:
        """A measurement window around the `with` block's work."""

    def describe(self) -> MeterInfo:
        """The sensor and GPUs, for the run's provenance."""

    def synced(self, sync: Callable[[], None]) -> Meter:
        """The same meter, waiting for queued device work with `sync` at each edge of a window."""


def _no_sync() -> None:
    """Nothing queued to wait for (no engine loaded yet)."""


class NullMeter:
    """Times windows; has no energy sensor (CPU runs, machines without NVML)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    @contextmanager
    def window(self) -> Iterator[Window]:
        handle, t0 = Window(), time.perf_counter()
        yield handle
        handle.close(Reading(None, time.perf_counter() - t0, "none", null_reason=self.reason))

    def describe(self) -> MeterInfo:
        return MeterInfo(sensor="none", null_reason=self.reason, gpus=[])

    def synced(self, sync: Callable[[], None]) -> NullMeter:
        return self  # nothing to synchronise a clock with: the work's own call returns when it is done


Sample = tuple[float, float, float, float]  # t (perf_counter s), W (summed), MHz (mean), C (max)


class _Sampler(threading.Thread):
    """Polls the GPUs' power at SAMPLE_PERIOD_S until finished; stops early (fewer samples) if NVML fails."""

    def __init__(self, devices: Sequence[nvml.Device]) -> None:
        super().__init__(daemon=True)
        self.devices = devices
        self.samples: list[Sample] = []
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

    def finish(self) -> list[Sample]:
        self._stop_event.set()
        self.join()
        return self.samples


def integrate_j(samples: Sequence[Sample]) -> float | None:
    """Energy (J) of power samples by the trapezoid rule; None for fewer than two samples."""
    if len(samples) < 2:
        return None
    return sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(samples, samples[1:]))


class _Schedule:
    """Which windows get a power sampler: shared by a meter and its `synced` copies."""

    def __init__(self, every: int) -> None:
        self.every, self.windows = every, 0

    def due(self) -> bool:
        due = self.windows % self.every == 0
        self.windows += 1
        return due


@dataclass(frozen=True)
class _Edge:
    """One edge of a window: when the counter ticked (or the wait ended) and the counters then."""

    t: float
    counters: tuple[float, ...] | None


class NvmlMeter:
    """Energy of the chosen GPUs (summed) from NVML's cumulative counter, with power sampling beside it."""

    def __init__(self, gpu_indices: Sequence[int], sync: Callable[[], None] = _no_sync,
                 cross_check_every: int = CROSS_CHECK_EVERY) -> None:
        if cross_check_every < 1:
            raise ValueError("cross_check_every must be >= 1")
        self.cross_check_every = cross_check_every
        self.devices = [nvml.Device(i) for i in gpu_indices]
        self.counter_ok = all(d.supports_energy_counter() for d in self.devices)
        self._sync = sync
        self._schedule = _Schedule(cross_check_every)

    def synced(self, sync: Callable[[], None]) -> NvmlMeter:
        twin = copy.copy(self)  # the same devices and window schedule
        twin._sync = sync
        return twin

    def describe(self) -> MeterInfo:
        if self.counter_ok:
            sensor, sampling = "nvml-energy-counter", f"every {self.cross_check_every} windows"
        else:
            sensor, sampling = "nvml-power-sampling", "every window"
        return MeterInfo(sensor=sensor, gpus=[d.info() for d in self.devices], power_sampling=sampling)

    def _counters(self) -> tuple[float, ...] | None:
        if not self.counter_ok:
            return None
        try:
            return tuple(d.energy_j() for d in self.devices)
        except (nvml.SensorUnavailable, nvml.SensorError):
            return None

    def _wait_for_tick(self, timeout_s: float = TICK_TIMEOUT_S) -> _Edge:
        """Poll until the counter moves; that moment and the counters then.

        NVML's counter only changes about ten times a second. Opening and closing a window on a change
        removes up to a tick (~0.1 s of energy) of error at each edge.
        """
        first = self._counters()
        if first is None:
            return _Edge(time.perf_counter(), None)
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            now = self._counters()
            if now is None:
                return _Edge(time.perf_counter(), None)
            if sum(now) != sum(first):
                return _Edge(time.perf_counter(), now)
            time.sleep(0.001)
        return _Edge(time.perf_counter(), first)

    @contextmanager
    def window(self) -> Iterator[Window]:
        """Sync, open on a counter tick (a sampler beside the work only when due); close: sync, wait for a tick.

        A window whose work raises stops its sampler and gives no reading.
        """
        self._sync()
        sampler = _Sampler(self.devices) if not self.counter_ok or self._schedule.due() else None
        if sampler is not None:
            sampler.start()
        handle = Window()
        try:
            start = self._wait_for_tick()
            yield handle
        except BaseException:
            if sampler is not None:
                sampler.finish()
            raise
        self._sync()
        t1 = time.perf_counter()
        end = self._wait_for_tick()
        samples = sampler.finish() if sampler is not None else None
        handle.close(self._reading(start, t1, end, samples))

    def _reading(self, start: _Edge, t1: float, end: _Edge, samples: list[Sample] | None) -> Reading:
        """The window's reading: the counter's delta less the tail past the work (t1..end.t), or the samples'."""
        work = [s for s in samples or [] if s[0] <= t1]
        energy, reason, per_gpu = counter_energy_j(start, t1, end, samples)
        sensor = "nvml-energy-counter"
        sampled = integrate_j(work)
        if energy is None:
            sensor, energy = "nvml-power-sampling", sampled
            if energy is None:
                sensor, reason = "none", reason or "neither the energy counter nor power sampling gave a reading"
        powers = [s[1] for s in work]
        duration = t1 - start.t
        clock, temp = _at_end(self.devices) if not work else (None, None)
        return Reading(
            energy_j=energy, duration_s=duration, sensor=sensor, null_reason=reason if energy is None else None,
            sampled_energy_j=sampled,
            mean_power_w=sum(powers) / len(powers) if powers else (energy / duration if energy and duration > 0
                                                                     else None),
            max_power_w=max(powers) if powers else None,
            sm_clock_mhz=sum(s[2] for s in work) / len(work) if work else clock,
            temperature_c=max(s[3] for s in work) if work else temp,
            gpu_energy_j=per_gpu,
            cross_checked=samples is not None,
        )


def counter_energy_j(start: _Edge, t1: float, end: _Edge, samples: list[Sample] | None
                     ) -> tuple[float | None, str | None, tuple[float, ...] | None]:
    """(energy J, why None, per GPU J) of the work between start.t and t1, from the counters at the two ticks.

    The window closes on the tick after the work ends, so the energy of that short tail (t1 .. end.t) is taken
    off: at the sampled power after t1 where a sampler ran, else at the window's own mean power. A counter that
    went backwards (a reset) gives None and the reason. The tail is shared out over the GPUs in proportion to
    each one's energy.
    """
    if start.counters is None or end.counters is None:
        return None, None, None
    deltas = [b - a for a, b in zip(start.counters, end.counters)]
    if any(d < 0 for d in deltas):
        return None, "energy counter went backwards (reset) during the window", None
    if samples:
        work = [s for s in samples if s[0] <= t1]
        tail = [s for s in samples if s[0] >= t1]
        tail_w = sum(s[1] for s in tail) / len(tail) if tail else (work[-1][1] if work else 0.0)
    elif end.t > start.t:
        tail_w = sum(deltas) / (end.t - start.t)
    else:
        tail_w = 0.0
    total = sum(deltas)
    energy = max(total - (end.t - t1) * tail_w, 0.0)
    return energy, None, tuple(d * energy / total if total > 0 else 0.0 for d in deltas)


def _at_end(devices: Sequence[nvml.Device]) -> tuple[float | None, float | None]:
    """SM clock (mean) and temperature (max) read once after the window, for windows without a sampler."""
    try:
        return (sum(d.sm_clock_mhz() for d in devices) / len(devices), max(d.temperature_c() for d in devices))
    except (nvml.SensorUnavailable, nvml.SensorError):
        return None, None


def open_meter(gpu_indices: Sequence[int], sync: Callable[[], None] = _no_sync) -> Meter:
    """An NvmlMeter for the GPUs, or a NullMeter saying why there is none."""
    try:
        return NvmlMeter(gpu_indices, sync)
    except nvml.SensorUnavailable as exc:
        return NullMeter(f"no GPU energy sensor: {exc}")


def measure(meter: Meter, run: Callable[[], object]) -> Reading:
    """One window around one call of `run`."""
    with meter.window() as window:
        run()
    return window.reading


def measure_idle(meter: Meter, seconds: float = 3.0) -> IdlePower:
    """Mean power over `seconds` of doing nothing: all metered GPUs summed, and per GPU (None without a sensor)."""
    r = measure(meter, lambda: time.sleep(seconds))
    if r.energy_j is None or r.duration_s <= 0:
        return IdlePower(None, None)
    per_gpu = tuple(e / r.duration_s for e in r.gpu_energy_j) if r.gpu_energy_j is not None else None
    return IdlePower(r.energy_j / r.duration_s, per_gpu)


@dataclass(frozen=True)
class Repeated:
    """A reading over `repeats` back-to-back runs of the same work, and what each run returned."""

    reading: Reading
    repeats: int
    results: tuple = ()


def measure_repeated(meter: Meter, run_once: Callable[[], object], min_window_s: float) -> Repeated:
    """Repeat `run_once` inside one window until the window spans `min_window_s`.

    The NVML counter ticks about ten times a second, so a 0.1 s window reads 0 J or a whole tick:
    repeating the work until the window spans ~2 s keeps that error near 1%. `run_once` must return
    only when its work is done (generate calls do).
    """
    results = []
    with meter.window() as window:
        t0 = time.perf_counter()
        while True:
            results.append(run_once())
            if time.perf_counter() - t0 >= min_window_s:
                break
    return Repeated(window.reading, len(results), tuple(results))

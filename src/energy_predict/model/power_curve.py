"""Mean power of a step as a model (issue 25, item 2): between loaded idle and the power limit, from its shares.

A step of duration T that reads `bytes` from memory and computes `flops` uses the GPU's memory at the share
m = bytes / (BW T) of its datasheet bandwidth and its tensor cores at the share c = flops / (R T) of their dense
peak (the step's achieved bandwidth and FLOP fractions, both in [0, 1] by the roofline floors of
model/term_physics.py). Its mean power per GPU is

    P = idle + (limit - idle) x min(1, busy + memory x m + compute x c)

`busy` is the share of the idle..limit range a GPU draws while it runs work that streams neither memory nor tensor
cores at peak (launches, the scheduler's gaps, small kernels), `memory` the share it would draw at the full
datasheet bandwidth, `compute` the share at the full datasheet FLOP rate. A compute share above 1 is physical:
no H100 or H200 holds its datasheet FLOP rate inside its power limit (it clocks down), which is why the range is
capped at the limit. The energy of the step is then linear in its work:

    E = (idle + range x busy) T + (range x memory / BW) bytes + (range x compute / R) flops

so `memory` and `compute` are also an energy per byte read (J/B) and per FLOP (J/FLOP) on that GPU.

Fitted per measured GPU and framework on the calibration cells (`fit_power_curves`, through `energy-predict model
fit`); model/transfer.py carries a curve to a GPU never measured (its own idle..limit range and its own peaks).
Numpy only, pure functions; the fit uses scipy (fitting is not on the prediction path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Physical ranges of the fitted shares: `busy` and `memory` are at most the whole range (a GPU reading memory at
# its datasheet bandwidth alone stays inside its limit); `compute` at most 3x it (the datasheet FLOP rate at the
# measured H100/H200 energy per FLOP would need ~1.5-1.7x the range; 3x leaves room, beyond it is no physics).
SHARE_BOUNDS = {"busy": (0.0, 1.0), "memory": (0.0, 1.0), "compute": (0.0, 3.0)}
MIN_CELLS = 8  # fewer cells of a (GPU, framework) than this fit no curve


@dataclass(frozen=True)
class PowerCurve:
    """One GPU's (and framework's) mean power as a function of the step's memory and compute shares.

    Watts are per GPU; `idle_w` is the loaded-engine idle, `limit_w` the power limit (the catalog's TDP).
    """

    gpu: str
    framework: str
    idle_w: float
    limit_w: float
    busy: float  # share of the idle..limit range while busy, at zero memory and compute share
    memory: float  # share at the full datasheet memory bandwidth
    compute: float  # share at the full datasheet dense FLOP rate of the compute dtype

    def __post_init__(self) -> None:
        if not 0 <= self.idle_w < self.limit_w:
            raise ValueError(f"idle_w must lie in [0, limit_w), got {self.idle_w!r} (limit {self.limit_w!r})")
        for name, (lo, hi) in SHARE_BOUNDS.items():
            if not lo <= getattr(self, name) <= hi:
                raise ValueError(f"{name} must lie in [{lo}, {hi}], got {getattr(self, name)!r}")

    @property
    def range_w(self) -> float:
        """The idle..limit range (W)."""
        return self.limit_w - self.idle_w

    def power_w(self, memory_share, compute_share) -> np.ndarray:
        """Mean power per GPU (W) of steps at these shares: within [idle, limit] for shares in [0, 1]."""
        m = np.clip(np.asarray(memory_share, float), 0.0, 1.0)
        c = np.clip(np.asarray(compute_share, float), 0.0, 1.0)
        return self.idle_w + self.range_w * np.minimum(1.0, self.busy + self.memory * m + self.compute * c)

    def joules_per_byte(self, bandwidth_bps: float) -> float:
        """Energy above the busy power per byte read at a bandwidth (J/B): range x memory / BW."""
        return self.range_w * self.memory / bandwidth_bps

    def joules_per_flop(self, flops_per_s: float) -> float:
        """Energy above the busy power per FLOP at a dense FLOP rate (J/FLOP): range x compute / R."""
        return self.range_w * self.compute / flops_per_s

    def on(self, gpu: str, idle_w: float, limit_w: float) -> PowerCurve:
        """The same shares between another GPU's idle and limit (the rule for a GPU never measured)."""
        return PowerCurve(gpu, self.framework, idle_w, limit_w, self.busy, self.memory, self.compute)


def step_shares(bytes_read, flops, duration_s, bandwidth_bps, flops_per_s) -> tuple[np.ndarray, np.ndarray]:
    """(memory share, compute share) of steps: bytes / (BW T) and flops / (R T), each of the engine's peaks."""
    t = np.asarray(duration_s, float)
    if np.any(t <= 0):
        raise ValueError("duration_s must be positive")
    return (np.asarray(bytes_read, float) / (np.asarray(bandwidth_bps, float) * t),
            np.asarray(flops, float) / (np.asarray(flops_per_s, float) * t))


def fit_shares(range_share, memory_share, compute_share) -> tuple[float, float, float]:
    """(busy, memory, compute) by bounded least squares of the measured share of the range on the step's shares.

    `range_share`: (P - idle) / (limit - idle) per cell, measured. Bounds: `SHARE_BOUNDS`.
    """
    from scipy.optimize import lsq_linear

    y = np.asarray(range_share, float)
    a = np.column_stack([np.ones_like(y), np.asarray(memory_share, float), np.asarray(compute_share, float)])
    lo, hi = zip(*(SHARE_BOUNDS[k] for k in ("busy", "memory", "compute")))
    busy, memory, compute = lsq_linear(a, y, bounds=(lo, hi)).x
    return float(busy), float(memory), float(compute)

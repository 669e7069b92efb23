"""Request arrival times: Poisson or gamma inter-arrivals at a rate, seeded (replays and the simulator share it)."""

from __future__ import annotations

import numpy as np


def poisson_arrivals(n: int, rate_per_s: float, seed: int = 0, cv: float = 1.0) -> np.ndarray:
    """Arrival times of n requests: Poisson (cv = 1) or gamma inter-arrivals with that coefficient of variation."""
    if n < 1 or not np.isfinite(rate_per_s) or rate_per_s <= 0 or not np.isfinite(cv) or cv <= 0:
        raise ValueError("n must be >= 1, rate_per_s and cv finite and > 0")
    rng = np.random.default_rng(seed)
    if cv == 1.0:
        gaps = rng.exponential(1.0 / rate_per_s, n)
    else:
        shape = 1.0 / cv**2
        gaps = rng.gamma(shape, 1.0 / (rate_per_s * shape), n)
    return np.cumsum(gaps) - gaps[0]

"""Follow-up grids: the cells a grid still lacks in the measured runs, and the cells measured too noisily.

A follow-up grid lists one block per cell, missing cells first (in the original grid's order), then noisy
cells, noisiest first, so a lease that ends early has done the most useful part.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from energy_predict.calibrate.grid import Grid, ServingConfig, expand_grid
from energy_predict.datasets import cell_stats

KEY = ["model", "config", "batch_size", "input_tokens", "output_tokens"]


def follow_up_grid(name: str, grids: list[Grid], records: pd.DataFrame, noisy_cv: float = 0.03,
                   first: Iterable[tuple] = (), missing: bool = True, noisy: bool = True,
                   extra_configs: Iterable[ServingConfig] = ()) -> dict:
    """A grid (as a dict) for what `records` lacks of `grids`, and for its cells with CV above `noisy_cv`.

    `first` cells come before all others; `extra_configs` define configs that only `first` cells use.
    """
    stats = cell_stats(records)
    done = {tuple(r) for r in stats[KEY].values}
    worst_first = stats[stats.cv > noisy_cv].sort_values("cv", ascending=False)
    lacking = [c.key for g in grids for c in expand_grid(g) if c.key not in done] if missing else []
    spread = [tuple(r) for r in worst_first[KEY].values] if noisy else []
    cells = list(dict.fromkeys([*first, *lacking, *spread]))
    configs = {c.name: c.model_dump() for g in [*grids, None] for c in (g.configs if g else extra_configs)}
    used = sorted({c[1] for c in cells})
    return {**grids[0].model_dump(), "name": name, "models": list(dict.fromkeys(m for g in grids for m in g.models)),
            "configs": [configs[c] for c in used],
            "blocks": [{"batch_sizes": [c[2]], "input_tokens": [c[3]], "output_tokens": [c[4]], "models": [c[0]],
                        "configs": [c[1]]} for c in cells]}

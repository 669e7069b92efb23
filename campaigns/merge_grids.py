"""Merge grid files into one campaign grid: one run, one `energy-predict calibrate GRID --out DIR --ray`.

    python campaigns/merge_grids.py OUT.json NAME GRID[@CONFIG,...] ...

`GRID@a,b` keeps only configs a and b of that grid (as `--only-config` did). Each block keeps its grid's
models, configs and token limit (`max_tokens_in_batch` per block), so the campaign measures exactly the
cells the grids measure; a cell in two grids is measured once.
"""

import json
import sys
from pathlib import Path

from energy_predict.calibrate.grid import expand_grid, load_grid, merge_grids, select


def part(spec: str):
    path, _, configs = spec.partition("@")
    grid = load_grid(path)
    if not configs:
        return grid
    keep = configs.split(",")
    return select(grid.model_copy(update={"configs": [c for c in grid.configs if c.name in keep]}))


def main() -> None:
    out, name, *specs = sys.argv[1:]
    grids = [part(s) for s in specs]
    campaign = merge_grids(name, grids)
    Path(out).write_text(json.dumps(campaign.model_dump(exclude_none=True, exclude_defaults=True), indent=1) + "\n")
    cells = expand_grid(campaign)
    engines = len({(c.model, c.config) for c in cells})
    print(f"wrote {out}: {len(cells)} cells, {engines} engine configurations, from {len(grids)} grids")


if __name__ == "__main__":
    main()

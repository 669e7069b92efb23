"""Follow-up grids: the cells a grid still lacks first, then the noisy ones, noisiest first."""

import pandas as pd

from energy_predict.calibrate.followup import follow_up_grid
from energy_predict.calibrate.grid import ServingConfig, expand_grid, parse_grid


def test_a_follow_up_lists_missing_cells_then_noisy_ones_and_only_the_configs_they_use():
    grid = parse_grid({"name": "g", "models": ["Llama-3.2-1B"],
                       "configs": [{"name": "a", "backend": "hf"}, {"name": "b", "backend": "vllm"}],
                       "blocks": [{"batch_sizes": [1, 2], "input_tokens": [8], "output_tokens": [1],
                                   "configs": ["a"]}]})
    rows = [{"model": "Llama-3.2-1B", "config": "a", "batch_size": 1, "input_tokens": 8, "output_tokens": 1,
             "status": "ok", "energy_j": e, "duration_s": 1.0} for e in (10.0, 20.0)]
    follow = follow_up_grid("next", [grid], pd.DataFrame(rows), first=[("Llama-3.2-1B", "c", 4, 8, 1)],
                            extra_configs=[ServingConfig(name="c", backend="hf")])
    cells = [(b["configs"][0], b["batch_sizes"][0]) for b in follow["blocks"]]
    assert cells == [("c", 4), ("a", 2), ("a", 1)]  # first, missing, then noisy (CV 0.47)
    assert [c["name"] for c in follow["configs"]] == ["a", "c"] and follow["name"] == "next"
    assert [c.batch_size for c in expand_grid(parse_grid(follow))] == [2, 1, 4]
    assert follow_up_grid("none", [grid], pd.DataFrame(rows), missing=False, noisy=False)["blocks"] == []

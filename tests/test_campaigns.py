"""Campaign grids (issue 18): each measures exactly the cells of the grids its shell scripts ran, in one run."""

import pytest

from energy_predict.calibrate.grid import expand_grid, load_grid, merge_grids, parse_grid, select
from energy_predict.errors import InputError
from tests.conftest import REPO

CAMPAIGNS = REPO / "campaigns"
SOURCES = {  # campaign -> the grids its per-GPU scripts ran (GRID@CONFIG: only that config, as --only-config did)
    "h100-x4": ["hf-8b-eager.json", "hf-mixed.json", "vllm-8b-graphs.json", "vllm-8b-fp8.json",
                "vllm-8b-eager.json", "vllm-1b-graphs.json"],
    "next": ["hf.json", "vllm.json"],
    "h100-x1": ["hf-missing.json", "vllm-8b-fp8.json", "vllm-8b-graphs.json", "vllm-1b-graphs.json", "hf-noisy.json"],
    "h100-x2-tp": ["tp2.json@vllm-graphs-tp2-noarfusion", "tp1-a.json", "tp1-b.json", "tp2-70b-fp8.json"],
}


def cells(folder, spec):
    path, _, config = spec.partition("@")
    grid = load_grid(CAMPAIGNS / folder / path)
    return {c.key for c in expand_grid(select(grid, config) if config else grid)}


@pytest.mark.parametrize("campaign", sorted(SOURCES))
def test_a_campaign_grid_measures_exactly_its_grids_cells(campaign):
    merged = expand_grid(load_grid(CAMPAIGNS / campaign / "campaign.json"))
    expected = set().union(*(cells(campaign, s) for s in SOURCES[campaign]))
    assert {c.key for c in merged} == expected and len(merged) == len(expected)


def grid(name, **overrides):
    data = {"name": name, "models": ["Llama-3.2-1B"], "configs": [{"name": "a", "backend": "hf"}],
            "blocks": [{"batch_sizes": [1, 64], "input_tokens": [512], "output_tokens": [1]}]}
    return parse_grid({**data, **overrides})


def test_merge_keeps_each_grids_token_limit_and_refuses_what_differs():
    small = grid("small", max_tokens_in_batch=1000)
    big = grid("big", configs=[{"name": "b", "backend": "vllm"}])
    merged = expand_grid(merge_grids("both", [small, big]))
    assert [(c.config, c.batch_size) for c in merged] == [("a", 1), ("b", 1), ("b", 64)]
    with pytest.raises(InputError, match="repetitions"):
        merge_grids("x", [small, grid("other", repetitions=5)])
    with pytest.raises(InputError, match="two configs named 'a'"):
        merge_grids("x", [small, grid("other", configs=[{"name": "a", "backend": "vllm"}])])

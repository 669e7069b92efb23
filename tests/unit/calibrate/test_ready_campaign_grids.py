"""Campaigns written but not yet run (issue 30's multi-GPU grids): their make_grids.py writes the committed grids
byte for byte, each grid is valid, every model resolves (registry names and config.json paths) and stays under the
grid size bound, so a lease that comes finds them ready."""

import importlib.util

import pytest

from energy_predict.calibrate import grid_builders as gb
from energy_predict.calibrate import preflight
from energy_predict.calibrate.grid import expand_grid, parse_grid
from tests.conftest import REPO

READY = ["next-multi-gpu"]


def _recipe(campaign: str):
    path = REPO / "campaigns" / campaign / "make_grids.py"
    spec = importlib.util.spec_from_file_location(f"make_grids_{campaign}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.grids


@pytest.mark.parametrize("campaign", READY)
def test_ready_campaign_grids_are_committed_valid_and_resolvable(campaign, monkeypatch):
    monkeypatch.chdir(REPO)  # config.json paths in the grids are relative to the repository root
    grids = _recipe(campaign)()
    folder = REPO / "campaigns" / campaign
    assert sorted(grids) == sorted(p.stem for p in folder.glob("*.json"))
    for name, g in grids.items():
        assert gb.grid_text(g) == (folder / f"{name}.json").read_text(), name
        parsed = parse_grid(g)
        preflight.check_models(parsed)
        preflight.check_grid_size(parsed)
        assert expand_grid(parsed), name

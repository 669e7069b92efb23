"""Campaigns as data (issues 18, 24): one folder per lease, indexed, each README naming the runs, replays and commit
its lease produced; merged grids measure exactly the cells of the grids their scripts ran; only the scripts a lease
ran (history, listed in its README) reach into /tmp or another folder's code."""

import json
import re

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
# configs the merged grid names as their runs were imported (campaigns/h100-x2-tp/import.py's RENAME)
IMPORTED_AS = {"h100-x2-tp": {"vllm-graphs": "vllm-graphs-tp1"}}
AS_RUN = "## Scripts as the lease ran them"


def cells(folder, spec):
    path, _, config = spec.partition("@")
    grid = load_grid(CAMPAIGNS / folder / path)
    rename = IMPORTED_AS.get(folder, {})
    return {(m, rename.get(c, c), *shape)
            for m, c, *shape in (c.key for c in expand_grid(select(grid, config) if config else grid))}


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


def provenance():
    """(kind, campaign folder, name, commit) of every committed run and replay, from its lease record."""
    out = []
    for path in sorted((REPO / "artifacts" / "calibration").glob("*/run.json")):
        lease = json.loads(path.read_text())["lease"]
        out.append(("run", lease["campaign"].rstrip("/").split("/")[-1], path.parent.name, lease.get("commit")))
    for path in sorted((REPO / "artifacts" / "replays").glob("*/*.json")):
        lease = json.loads(path.read_text())["lease"]
        out.append(("replays", lease["campaign"].rstrip("/").split("/")[-1], path.parent.name, lease.get("commit")))
    return out


def lease_folders():
    return sorted(p.name for p in CAMPAIGNS.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def test_every_lease_has_a_folder_with_a_readme_and_the_index_links_it():
    index = (CAMPAIGNS / "README.md").read_text()
    named = {campaign for _, campaign, _, _ in provenance()}
    assert named <= set(lease_folders())
    for folder in lease_folders():
        assert (CAMPAIGNS / folder / "README.md").is_file(), folder
        assert f"]({folder}/README.md)" in index, folder


def test_a_leases_readme_names_its_runs_replays_and_commit():
    for kind, campaign, name, commit in provenance():
        readme = (CAMPAIGNS / campaign / "README.md").read_text()
        assert name in readme, (campaign, kind, name)
        assert commit is None or commit[:7] in readme, (campaign, name, commit)


def test_only_the_scripts_a_lease_ran_reach_into_tmp_or_another_folders_code():
    reaching = re.compile(r"sys\.path\.insert|(?<![\w.])/tmp/")
    for path in sorted(CAMPAIGNS.rglob("*")):
        if path.suffix not in (".py", ".sh") or "logs" in path.parts or not reaching.search(path.read_text()):
            continue
        folder = path.relative_to(CAMPAIGNS).parts[0]
        assert path.parent != CAMPAIGNS, f"{path.name} is a tool, not a lease's history"
        readme = (CAMPAIGNS / folder / "README.md").read_text()
        history = readme.split(AS_RUN, 1)[1].split("\n## ", 1)[0] if AS_RUN in readme else ""
        assert f"`{path.name}`" in history, f"{folder}/{path.name} is not listed as as-run history"

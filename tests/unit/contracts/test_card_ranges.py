"""A card edited and re-hashed is checked for sense, not only integrity (issue 29, item 3): one line, exit 2."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from energy_predict.cli import app

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "artifacts" / "models" / "default"
PROFILE = REPO / "examples" / "code_gen.json"


def _rehashed(tmp_path: Path, change) -> Path:
    """A copy of the shipped model whose card.json is edited by `change` and whose manifest is updated to match."""
    folder = tmp_path / "m"
    shutil.copytree(SHIPPED, folder)
    card = json.loads((folder / "card.json").read_text())
    change(card)
    (folder / "card.json").write_text(json.dumps(card, indent=1) + "\n")  # NaN is written as NaN on purpose
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in manifest["sha256"]:
        manifest["sha256"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _set(path: str, value):
    def change(card):
        *parents, last = path.split(".")
        node = card
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[int(last) if isinstance(node, list) else last] = value
    return change


GPU = "H100-SXM-80GB"
CASES = {
    "interval-nan": (_set("interval.log_bounds", [float("nan"), 0.1]), "interval"),
    "interval-inverted": (_set("interval.log_bounds", [0.2, -0.2]), "interval"),
    "interval-excludes-estimate": (_set("interval.log_bounds", [0.1, 0.3]), "interval"),
    "interval-huge": (_set("interval.log_bounds", [-1e308, 1e308]), "interval"),
    "idle-negative": (_set(f"idle_power_w.{GPU}.loaded_vllm", -5.0), "idle_power_w"),
    "idle-above-tdp": (_set(f"idle_power_w.{GPU}.loaded_vllm", 4140.0), "idle_power_w"),
    "idle-nan": (_set(f"idle_power_w.{GPU}.empty", float("nan")), "idle_power_w"),
    "decoding-factor-negative": (_set("options.decoding.0.energy_factor", -1.0), "options"),
    "decoding-factor-string": (_set("options.decoding.0.energy_factor", "2"), "options"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_rehashed_card_out_of_its_physical_range_is_refused_in_one_line(tmp_path, case):
    change, field = CASES[case]
    folder = _rehashed(tmp_path, change)
    result = CliRunner().invoke(app, ["--profile", str(PROFILE), "--energy-model", str(folder), "--json"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --energy-model") and field in lines[0], lines
    assert "Traceback" not in result.output and "nan" not in result.output.lower().split("error")[0]


def test_the_shipped_card_is_in_range(tmp_path):
    folder = _rehashed(tmp_path, lambda card: None)
    result = CliRunner().invoke(app, ["--profile", str(PROFILE), "--energy-model", str(folder), "--json"])
    assert result.exit_code == 0, result.output


def test_a_rehashed_model_without_the_coefficients_its_card_lists_is_refused_in_one_line(tmp_path):
    folder = _rehashed(tmp_path, lambda card: None)
    data = json.loads((folder / "model.json").read_text())
    data["energy"]["coefficients"] = []  # was a KeyError traceback at the first prediction
    (folder / "model.json").write_text(json.dumps(data, indent=1) + "\n")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sha256"]["model.json"] = hashlib.sha256((folder / "model.json").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(app, ["--profile", str(PROFILE), "--energy-model", str(folder)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "model.json: no coefficients for" in lines[0]

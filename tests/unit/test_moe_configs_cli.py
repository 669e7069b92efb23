"""Issue 26, item 3: a profile naming a served mixture of experts' config.json is answered (transferred, with the
card's leave-one-MoE-out error) or refused in one line with exit 2 and the exact reason."""

import json

import pytest
from typer.testing import CliRunner

from energy_predict.cli import app
from tests.conftest import REPO, write_profile

CONFIGS = REPO / "tests" / "data" / "configs"
SHIPPED_CARD = REPO / "artifacts" / "models" / "default" / "card.json"
runner = CliRunner()


def _run(tmp_path, name, *extra, **changes):
    profile = write_profile(tmp_path, model=str(CONFIGS / name), **changes)
    return runner.invoke(app, ["--profile", str(profile), "--json", *extra])


def _moe_transfer_at_h100() -> dict:
    card = json.loads(SHIPPED_CARD.read_text())
    return next(k for k in card["transfer"]["model"]["vllm-moe"]["by_key"]
                if k["gpu"] == "H100-SXM-80GB" and k["serving"]["tensor_parallel"] == 1
                and k["serving"]["quantization"] is None and k["serving"]["cuda_graphs"])


def test_a_served_moe_that_fits_is_transferred_with_the_leave_one_moe_out_error(tmp_path):
    result = _run(tmp_path, "DeepSeek-V2-Lite")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    basis = report["basis"]
    # the transfer starts from mixtures of experts without latent attention, and says so
    assert any(note.startswith("model: no fitted mixture of experts has latent attention") for note in report["notes"])
    transfer = _moe_transfer_at_h100()
    assert basis["kind"] == "transferred"
    assert "leave-one-model-out error of the mixtures of experts" in basis["reason"]
    assert basis["held_out"]["scores"][0]["median_ape"] == pytest.approx(transfer["median_ape"])


def test_a_config_json_of_a_measured_shipped_id_is_that_measured_model(tmp_path):
    """Qwen1.5-MoE-A2.7B was measured on the H100 by its Hugging Face id (2026-12-07): a config.json of the same
    shape, whatever its folder is called, is answered from those cells."""
    report = json.loads(_run(tmp_path, "Qwen1.5-MoE-A2.7B").output)
    assert report["basis"]["kind"] in ("measured", "extrapolated")
    assert "Qwen/Qwen1.5-MoE-A2.7B measured" in report["basis"]["reason"]
    assert not any("latent attention" in note for note in report["notes"])


@pytest.mark.parametrize(("name", "changes", "extra", "line"), [
    ("DeepSeek-V3", {}, (), "serving.quantization: deepseek-ai/DeepSeek-V3's checkpoint stores its weights in fp8"),
    ("DeepSeek-V3", {"serving__quantization": "fp8"}, ("--energy-model", "roofline"),
     "hardware: deepseek-ai/DeepSeek-V3 needs 625 GiB of weights per GPU at tensor_parallel 1, more than the 68 GiB a "
     "H100-SXM-80GB can give an engine; use tensor_parallel 16"),
    ("Qwen2-57B-A14B", {}, (), "hardware: Qwen2-57B-A14B needs 107 GiB of weights per GPU at tensor_parallel 1"),
    ("Llama-4-Scout-17B-16E", {}, (),
     "hardware: Llama-4-Scout-17B-16E needs 201 GiB of weights per GPU at tensor_parallel 1"),
    ("Llama-4-Scout-17B-16E", {"serving__tensor_parallel": 4, "hardware__count": 4}, (),
     "model: Llama-4-Scout-17B-16E was not measured with vllm graphs tp4 on H100-SXM-80GB, and no other mixture of "
     "experts was"),
    ("gpt-oss-120b", {}, (), "model: openai/gpt-oss-120b's routed experts are stored in mxfp4"),
    ("gpt-oss-20b", {}, (), "model: openai/gpt-oss-20b's routed experts are stored in mxfp4"),
])
def test_a_served_moe_is_refused_in_one_line_with_the_reason(tmp_path, name, changes, extra, line):
    # a config.json of a shipped id's shape is named by that id (DeepSeek-V3, gpt-oss), whatever its folder is called
    result = _run(tmp_path, name, *extra, **changes)
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"error: {line}"), message


@pytest.mark.parametrize("name", ["gpt-oss-120b", "gpt-oss-20b"])
def test_gpt_oss_fits_one_h100_by_its_mxfp4_bytes_and_the_analytic_model_answers(tmp_path, name):
    result = _run(tmp_path, name, "--energy-model", "roofline")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["basis"]["kind"] == "analytic"
    assert any("128-token window" in note for note in report["notes"])

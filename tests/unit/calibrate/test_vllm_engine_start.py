"""What a vLLM engine needs from this process before it starts (no vLLM here: the pieces that run before it)."""

import json
import os
import sys
import types
from pathlib import Path

import pytest

from energy_predict.architectures import resolve_architecture
from energy_predict.calibrate import preflight
from energy_predict.calibrate.backends.vllm import write_model_dir
from energy_predict.errors import InputError


def test_a_hugging_face_id_s_model_folder_is_one_folder_holding_its_own_config(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    arch = resolve_architecture("moonshotai/Moonlight-16B-A3B-Instruct")
    folder = Path(write_model_dir(arch, 2096))
    assert folder.parent == tmp_path and "/" not in folder.name  # the id's '/' made a path into a missing folder
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "deepseek_v3" and config["kv_lora_rank"] == 512  # its own, not a family's
    assert config["max_position_embeddings"] == 8192


def test_the_gpu_check_asks_torch_through_nvml_and_leaves_the_environment_as_it_was(monkeypatch):
    seen = []
    cuda = types.SimpleNamespace(is_available=lambda: seen.append(os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK"))
                                 or True)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    monkeypatch.delenv("PYTORCH_NVML_BASED_CUDA_CHECK", raising=False)
    preflight.check_gpu(None)
    # the driver's own check creates a CUDA context, and vLLM's forked engine core then cannot start
    assert seen == ["1"] and "PYTORCH_NVML_BASED_CUDA_CHECK" not in os.environ


def test_router_overrides_change_only_how_experts_are_picked(tmp_path, monkeypatch):
    from energy_predict.calibrate.grid import parse_grid

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    arch = resolve_architecture("moonshotai/Moonlight-16B-A3B-Instruct")
    softmax = {"scoring_func": "softmax", "topk_method": "greedy"}
    config = json.loads((Path(write_model_dir(arch, 2096, softmax)) / "config.json").read_text())
    plain = json.loads((Path(write_model_dir(arch, 2096)) / "config.json").read_text())
    assert config == {**plain, **softmax} and plain["scoring_func"] == "sigmoid"
    grid = {"name": "g", "models": ["moonshotai/Moonlight-16B-A3B-Instruct"],
            "configs": [{"name": "c", "framework": "vllm", "engine": {"router_overrides": {"hidden_size": 1}}}],
            "blocks": [{"batch_sizes": [1], "input_tokens": [8], "output_tokens": [1]}]}
    with pytest.raises(InputError, match="router_overrides"):  # a shape field is refused: it would build another model
        parse_grid(grid)

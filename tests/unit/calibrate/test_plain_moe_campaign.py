"""One more plain mixture of experts (issue 26, item 3): Granite-3.1-1B-A400M's shipped config and its grid."""

import importlib.util

from energy_predict.architectures import REGISTRY, calibration_config, resolve_architecture
from energy_predict.calibrate import grid_builders as gb
from energy_predict.calibrate import preflight
from energy_predict.calibrate.grid import expand_grid, load_grid, parse_grid
from tests.conftest import REPO

GRANITE = "ibm-granite/granite-3.1-1b-a400m-instruct"
FOLDER = REPO / "campaigns" / "next-plain-moe"


def test_granite_is_a_plain_moe_of_a_shape_not_measured():
    arch = resolve_architecture(GRANITE)
    assert arch.name == GRANITE and not arch.note
    assert (arch.num_experts, arch.experts_per_token, arch.shared_expert_size, arch.dense_layers,
            arch.kv_lora_rank) == (32, 8, 0, 0, 0)
    measured = {(REGISTRY[m].num_experts, REGISTRY[m].experts_per_token)
                for m in ("Mixtral-8x7B", "OLMoE-1B-7B", "Qwen3-30B-A3B")} | {(60, 4)}  # + Qwen1.5-MoE-A2.7B
    assert (32, 8) not in measured
    assert 1.3e9 < arch.total_params < 1.4e9  # the 1B-A400M: 1.33B parameters


def test_the_grid_is_committed_valid_resolvable_and_at_the_qwen15_moe_cells(monkeypatch):
    monkeypatch.chdir(REPO)
    path = FOLDER / "make_grids.py"
    spec = importlib.util.spec_from_file_location("make_grids_next_plain_moe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grids = module.grids()
    assert sorted(grids) == sorted(p.stem for p in FOLDER.glob("*.json"))
    g = grids["moe-granite-1b"]
    assert gb.grid_text(g) == (FOLDER / "moe-granite-1b.json").read_text()
    parsed = parse_grid(g)
    preflight.check_models(parsed)
    preflight.check_grid_size(parsed)
    qwen = load_grid(REPO / "campaigns" / "2026-12-07-h100-batch-moe" / "moe-qwen15.json")
    assert sorted(k[1:] for k in (c.key for c in expand_grid(parsed))) == sorted(
        k[1:] for k in (c.key for c in expand_grid(qwen)))


def test_calibration_builds_granite_from_its_own_config():
    """A plain MoE of no registry family is built from its shipped config.json, never as a dense Llama."""
    config = calibration_config(resolve_architecture(GRANITE))
    assert (config["model_type"], config["num_local_experts"], config["num_experts_per_tok"]) == ("granitemoe", 32, 8)


def test_a_family_named_by_prefix_is_written_only_for_its_own_kind_of_model(tmp_path):
    """A dense shape named Qwen3-* was written as Qwen3MoeForCausalLM with no num_experts (the class's defaults, 128
    experts, would have been built); a mixture of experts named Llama-* as a dense Llama that ignores num_experts."""
    import json

    import pytest

    from energy_predict.architectures import scaled, to_hf_config
    from energy_predict.calibrate.grid import Grid
    from energy_predict.errors import InputError

    dense_qwen3 = scaled(REGISTRY["Qwen3-30B-A3B"], name="Qwen3-4B", num_experts=0, experts_per_token=0)
    moe_llama = scaled(REGISTRY["Llama-3.2-1B"], name="Llama-MoE", num_experts=8, experts_per_token=2)
    for arch, kind in ((dense_qwen3, "a dense model"), (moe_llama, "a mixture of experts")):
        with pytest.raises(ValueError, match=kind):
            to_hf_config(arch)
        with pytest.raises(ValueError):
            calibration_config(arch)
    assert to_hf_config(REGISTRY["Qwen3-30B-A3B"])["architectures"] == ["Qwen3MoeForCausalLM"]
    assert to_hf_config(REGISTRY["Llama-3.2-1B"])["architectures"] == ["LlamaForCausalLM"]
    # calibrate refuses such a model before a GPU is held, naming the field
    folder = tmp_path / "Qwen3-4B"
    folder.mkdir()
    config = {**to_hf_config(REGISTRY["Qwen3-30B-A3B"]), "model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"]}
    for key in ("num_experts", "num_experts_per_tok", "moe_intermediate_size"):
        config.pop(key)
    (folder / "config.json").write_text(json.dumps(config))
    grid = Grid.model_validate({"name": "t", "models": [str(folder)], "configs": [{"name": "v", "framework": "vllm"}],
                                "blocks": [{"batch_sizes": [1], "input_tokens": [128], "output_tokens": [8]}]})
    with pytest.raises(InputError, match="cannot be built with random weights for vllm"):
        preflight.check_models(grid)
    # a registry model and a shipped id's plain MoE (built from its own config.json) pass
    preflight.check_models(Grid.model_validate({
        "name": "ok", "models": ["Llama-3.2-1B", GRANITE], "configs": [{"name": "v", "framework": "vllm"}],
        "blocks": [{"batch_sizes": [1], "input_tokens": [128], "output_tokens": [8]}]}))

import json

import pytest

from energy_predict.architectures import REGISTRY, from_hf_config, resolve_architecture, to_hf_config
from energy_predict.errors import InputError
from tests.conftest import tiny_llama_config

# Published totals (model cards / safetensors metadata).
PUBLISHED = {
    "Llama-3.1-8B": 8.03e9, "Llama-3.1-70B": 70.6e9, "Llama-3.2-1B": 1.24e9, "Llama-3.2-3B": 3.21e9,
    "Qwen2.5-7B": 7.61e9, "Qwen2.5-32B": 32.8e9, "Mistral-7B-v0.3": 7.25e9, "OLMoE-1B-7B": 6.92e9,
    "OLMo-1B": 1.18e9, "OLMo-7B": 6.89e9, "Qwen3-30B-A3B": 30.5e9, "Mixtral-8x7B": 46.7e9,
}
# Published active parameters of the mixtures of experts (model cards; OLMoE: "1B active" of its paper).
ACTIVE = {"OLMoE-1B-7B": 1.28e9, "Qwen3-30B-A3B": 3.3e9, "Mixtral-8x7B": 12.9e9}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_matches_published_total(name):
    assert REGISTRY[name].total_params == pytest.approx(PUBLISHED[name], rel=0.01)


@pytest.mark.parametrize("name", sorted(ACTIVE))
def test_moe_active_parameters(name):
    assert REGISTRY[name].active_params == pytest.approx(ACTIVE[name], rel=0.02)
    assert REGISTRY["Llama-3.1-8B"].active_params == REGISTRY["Llama-3.1-8B"].total_params


@pytest.mark.slow
def test_config_round_trip_and_real_parameter_count():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = tiny_llama_config()
    arch = from_hf_config(config, name="tiny")
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(**config))
    assert arch.total_params == sum(p.numel() for p in model.parameters())
    rebuilt = from_hf_config(to_hf_config(arch), name="tiny")
    assert rebuilt == arch


def test_resolve_from_config_file(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(tiny_llama_config()))
    assert resolve_architecture(str(tmp_path)).num_kv_heads == 2
    assert resolve_architecture("llama-3.1-8b").name == "Llama-3.1-8B"


def test_unknown_model_names_the_field():
    with pytest.raises(InputError, match=r"^model: unknown model 'GPT-9'.*use one of"):
        resolve_architecture("GPT-9")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_registry_model_builds_in_transformers_from_its_config_with_its_parameter_count(name):
    """The config.json a backend writes for random-weight calibration is a real one of the model's family."""
    transformers = pytest.importorskip("transformers")
    config = to_hf_config(REGISTRY[name])
    assert from_hf_config(config, name=name) == REGISTRY[name]
    small = {**config, "num_hidden_layers": 1}  # one layer: the same family and widths, built in seconds on CPU
    hf = transformers.AutoConfig.for_model(**small)
    assert type(hf).__name__.lower().startswith(config["model_type"].replace("_", ""))
    with __import__("torch").device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf)
    one_layer = sum(p.numel() for p in model.parameters())
    arch = from_hf_config(small, name=name)
    assert one_layer == pytest.approx(arch.total_params, rel=0.002)

"""A config.json's model is its shape, not its folder's name (issue 29, item 2)."""

import json

import pytest

from energy_predict.architectures import REGISTRY, resolve_architecture, scaled, to_hf_config
from energy_predict.errors import EnergyPredictError
from energy_predict.gpus import CATALOG
from energy_predict.model.store import load_default_model
from energy_predict.serving import Deployment, Serving, Speculation


def _config(folder, arch):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(to_hf_config(arch)))
    return str(folder / "config.json")


def test_a_registry_shape_in_any_folder_is_that_model(tmp_path):
    assert resolve_architecture(_config(tmp_path / "anything", REGISTRY["Llama-3.1-8B"])) is REGISTRY["Llama-3.1-8B"]


@pytest.mark.parametrize(("folder", "shape"), [
    ("Llama-3.1-8B", scaled(REGISTRY["Llama-3.1-8B"], num_layers=2)),
    ("qwen2.5-7b", scaled(REGISTRY["Qwen2.5-7B"], hidden_size=1024, intermediate_size=2048)),
    ("OLMoE-1B-7B", REGISTRY["Llama-3.2-1B"]),  # a dense config under a mixture's name: it is Llama-3.2-1B
])
def test_a_name_that_disagrees_with_the_shape_never_borrows_that_models_measurements(tmp_path, folder, shape):
    arch = resolve_architecture(_config(tmp_path / folder, shape))
    if arch in REGISTRY.values():
        assert arch == shape and arch.name != folder  # the shape wins: it is the registry model of that shape
        return
    assert arch.name.lower() not in {k.lower() for k in REGISTRY}
    assert folder.lower() in arch.note.lower() and "not" in arch.note
    basis = load_default_model().basis(Deployment(arch, CATALOG["H100-SXM-80GB"], Serving()))
    assert basis.kind != "measured"


def test_a_draft_of_another_shape_named_as_the_measured_draft_is_not_the_measured_draft(tmp_path):
    draft = _config(tmp_path / "Llama-3.2-1B", scaled(REGISTRY["Llama-3.2-1B"], num_layers=2))
    serving = Serving(speculative=Speculation(draft, 4, 0.7))
    dep = Deployment(REGISTRY["Llama-3.1-8B"], CATALOG["H100-SXM-80GB"], serving)
    with pytest.raises(EnergyPredictError, match=r"^serving.speculative: .*Llama-3.2-1B \(config.json\) draft"):
        load_default_model().basis(dep)

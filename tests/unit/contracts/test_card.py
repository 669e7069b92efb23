"""The typed contracts between the stages: the model card and fit keys, validated on read, written back as read."""

import json

import pytest

from energy_predict.contracts.card import ModelCard
from energy_predict.contracts.keys import FitKey
from energy_predict.serving import Serving
from tests.conftest import REPO

SHIPPED = REPO / "artifacts" / "models" / "default"


def test_the_card_type_reads_and_writes_the_shipped_card_byte_for_byte():
    shipped = (SHIPPED / "card.json").read_bytes()
    card = ModelCard.model_validate_json(shipped)
    for read in (card, ModelCard.model_validate(json.loads(shipped))):  # from bytes, and from parsed JSON
        assert (json.dumps(read.to_json(), indent=1, allow_nan=False) + "\n").encode() == shipped  # as saved
    assert card.valid.gpus == ["H100-SXM-80GB", "H200-SXM-141GB"] and card.transfer.gpu.scheme == "leave-one-gpu-out"


def test_the_card_type_refuses_an_unknown_field():
    card = json.loads((SHIPPED / "card.json").read_text())
    card["transfer"]["gpu"]["median_ape_typo"] = 0.1
    with pytest.raises(ValueError, match="median_ape_typo"):
        ModelCard.model_validate(card)


def test_a_fit_key_reads_its_fields_by_name_and_knows_its_tensor_parallel_family():
    key = FitKey.of("H100-SXM-80GB", Serving("vllm", quantization="fp8", tensor_parallel=4))
    assert (key.framework, key.quantization, key.tensor_parallel) == ("vllm", "fp8", 4)
    assert key.tp_family() == FitKey.of("H100-SXM-80GB", Serving("vllm", quantization="fp8"))
    assert FitKey.from_flat(key.flat) == key and FitKey.from_json(key.gpu, key.serving_json()) == key
    assert key.on("H200-SXM-141GB").serving == key.serving

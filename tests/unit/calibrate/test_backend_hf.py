"""The HF backend on a tiny Llama on the CPU: cells, a replay's padded batch, the out-of-memory path."""

import json

import pytest

from energy_predict.architectures import resolve_architecture
from energy_predict.calibrate.backends.base import CellInfeasible, Request, make_backend
from energy_predict.calibrate.grid import Cell, ServingConfig
from tests.conftest import tiny_llama_config

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "config.json"
    path.write_text(json.dumps(tiny_llama_config()))
    hf = make_backend("hf", "cpu")
    hf.load(resolve_architecture(str(path)), ServingConfig(name="hf-eager", backend="hf"))
    yield hf
    hf.close()


def test_a_cell_generates_exactly_o_tokens_and_its_options_reach_generate(backend):
    assert backend.prepare(Cell("tiny", "hf-eager", 2, 8, 3))() == 3
    kwargs = backend._generate_kwargs(Cell("tiny", "hf-eager", 1, 8, 4))
    assert kwargs["min_new_tokens"] == kwargs["max_new_tokens"] == 4 and kwargs["disable_compile"] is True
    backend.reconfigure(ServingConfig(name="s", backend="hf", decoding="sampling", compile=True))
    kwargs = backend._generate_kwargs(Cell("tiny", "s", 1, 8, 4))
    assert kwargs["do_sample"] is True and kwargs["cache_implementation"] == "static"
    backend.reconfigure(ServingConfig(name="b", backend="hf", decoding="beam", beam_width=4))
    assert backend._generate_kwargs(Cell("tiny", "b", 1, 8, 4))["num_beams"] == 4
    backend.reconfigure(ServingConfig(name="hf-eager", backend="hf"))


def test_a_replay_batch_is_left_padded_to_its_longest_prompt_and_run_for_its_longest_output(backend, monkeypatch):
    seen = {}
    generate = backend.model.generate

    def spy(**kwargs):
        seen.update(kwargs)
        return generate(**kwargs)

    monkeypatch.setattr(backend.model, "generate", spy)
    backend.prepare_batch([Request((5, 6, 7), 2), Request((9,), 4)])()
    assert seen["input_ids"].tolist() == [[5, 6, 7], [0, 0, 9]] and seen["attention_mask"].tolist() == [[1, 1, 1],
                                                                                                         [0, 0, 1]]
    assert seen["max_new_tokens"] == seen["min_new_tokens"] == 4 and seen["do_sample"] is False
    with pytest.raises(NotImplementedError, match="vllm"):
        backend.prepare_serve([Request((1,), 1)], [0.0])


def test_out_of_memory_is_an_infeasible_cell(backend, monkeypatch):
    def oom(**kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80 GiB\nmore")

    monkeypatch.setattr(backend.model, "generate", oom)
    with pytest.raises(CellInfeasible, match="out of memory: CUDA out of memory. Tried to allocate 80 GiB$"):
        backend.prepare(Cell("tiny", "hf-eager", 1, 8, 1))()


def test_versions_and_sync_on_the_cpu(backend):
    backend.synchronize()
    assert backend.versions()["device"] == "cpu" and backend.versions()["torch"] == torch.__version__
    with pytest.raises(ValueError, match="unknown backend"):
        make_backend("tgi")

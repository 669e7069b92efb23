"""The vLLM backend's engine paths against a fake `vllm` module (vLLM itself runs only on GPU machines)."""

import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from energy_predict.architectures import REGISTRY
from energy_predict.calibrate.backends.base import CellInfeasible, Request, make_backend
from energy_predict.calibrate.backends.vllm import VLLMBackend
from energy_predict.calibrate.grid import Cell, ServingConfig


class Engine:
    """vLLM's LLMEngine as the online loop uses it: a request finishes after as many steps as its tokens."""

    def __init__(self, log):
        self.log, self.left = log, {}

    def add_request(self, request_id, prompt, params):
        self.log.append(("add", len(prompt["prompt_token_ids"]), params.kwargs["max_tokens"]))
        self.left[request_id] = params.kwargs["max_tokens"]

    def has_unfinished_requests(self):
        return bool(self.left)

    def step(self):
        self.left = {r: n - 1 for r, n in self.left.items() if n > 1}


class LLM:
    instances: list = []

    def __init__(self, **kwargs):
        self.kwargs, self.log, self.fail, self.metrics, self.reset_ok = kwargs, [], None, [], True
        self.llm_engine = SimpleNamespace(engine_core=SimpleNamespace(shutdown=lambda: self.log.append("shutdown")))
        self.engine = Engine(self.log)
        self.llm_engine.add_request = self.engine.add_request
        self.llm_engine.has_unfinished_requests = self.engine.has_unfinished_requests
        self.llm_engine.step = self.engine.step
        LLM.instances.append(self)

    def generate(self, prompts, params, use_tqdm=True):
        if self.fail:
            raise self.fail
        params = params if isinstance(params, list) else [params] * len(prompts)
        self.log.append(("generate", [len(p["prompt_token_ids"]) for p in prompts],
                         [p.kwargs["max_tokens"] for p in params]))
        return [SimpleNamespace(outputs=[SimpleNamespace(token_ids=[1] * p.kwargs["max_tokens"])]) for p in params]

    def get_metrics(self):
        return self.metrics

    def reset_prefix_cache(self):
        return self.reset_ok


class SamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


@pytest.fixture
def vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM, module.SamplingParams, module.__version__ = LLM, SamplingParams, "0.26.0-fake"
    monkeypatch.setitem(sys.modules, "vllm", module)
    LLM.instances = []
    return module


def loaded(config=None, **fields):
    backend = make_backend("vllm")
    backend.load(REGISTRY["Llama-3.2-1B"], config or ServingConfig(name="v", backend="vllm", **fields))
    return backend, LLM.instances[-1]


def test_load_builds_the_engine_on_a_config_json_with_dummy_weights_and_a_draft_beside_it(vllm):
    pytest.importorskip("torch", reason="versions() reads torch's, which a real vllm always brings")
    backend, llm = loaded(max_model_len=4096, speculative_model="Llama-3.2-1B", num_speculative_tokens=4)
    kw = llm.kwargs
    assert kw["load_format"] == "dummy" and kw["max_model_len"] == 4096 and backend.max_model_len == 4096
    config = json.loads((Path(kw["model"]) / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and Path(kw["speculative_config"]["model"]).is_dir()
    assert backend.versions()["vllm"] == "0.26.0-fake" and isinstance(backend, VLLMBackend)


def test_a_cell_runs_its_batch_for_exactly_o_tokens_and_one_too_long_or_out_of_memory_is_infeasible(vllm):
    backend, llm = loaded(decoding="sampling")
    assert backend.prepare(Cell("m", "v", 3, 16, 5))() == 5
    (event,) = [e for e in llm.log if e[0] == "generate"]
    assert event == ("generate", [16, 16, 16], [5, 5, 5])
    with pytest.raises(CellInfeasible, match="max_model_len"):
        backend.prepare(Cell("m", "v", 1, 16384, 8))
    llm.fail = RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
    with pytest.raises(CellInfeasible, match="out of memory"):
        backend.prepare(Cell("m", "v", 1, 8, 1))()
    llm.fail = RuntimeError("engine dead")
    with pytest.raises(RuntimeError, match="engine dead"):
        backend.prepare(Cell("m", "v", 1, 8, 1))()


def test_prefix_hit_cells_send_a_new_suffix_each_run(vllm):
    backend, llm = loaded(enable_prefix_caching=True, prefix_hit_rate=0.5)
    run = backend.prepare(Cell("m", "v", 2, 16, 1))
    run(), run()
    assert [e[1] for e in llm.log if e[0] == "generate"] == [[16, 16], [16, 16]]


def test_a_replay_batch_and_a_served_stream_go_through_the_backend(vllm):
    backend, llm = loaded()
    requests = [Request((5, 6, 7), 2), Request((8,), 3)]
    backend.prepare_batch(requests)()
    assert llm.log[-1] == ("generate", [3, 1], [2, 3])
    llm.log.clear()
    backend.prepare_serve(requests, [0.02, 0.0])()  # the second request arrives first
    adds = [e for e in llm.log if e[0] == "add"]
    assert adds == [("add", 1, 3), ("add", 3, 2)] and not llm.engine.left


def test_counters_need_stat_logging_and_the_cache_reset_must_take(vllm):
    quiet, _ = loaded()
    assert quiet.counters() is None and "stat logging is off" in quiet.prefix_cache_counters()["null_reason"]
    logging, llm = loaded(log_stats=True, enable_prefix_caching=True)
    llm.metrics = [SimpleNamespace(name="vllm:prefix_cache_queries", value=100),
                   SimpleNamespace(name="vllm:prefix_cache_hits", value=40)]
    assert logging.counters() == {"queries_tokens": 100, "hits_tokens": 40}
    assert logging.prefix_cache_counters() == {"queries_tokens": 100, "hits_tokens": 40, "null_reason": None}
    logging.reset_prefix_cache()
    llm.reset_ok = False
    with pytest.raises(RuntimeError, match="did not empty its prefix cache"):
        logging.reset_prefix_cache()


def test_reconfigure_keeps_the_engine_and_close_shuts_it_down(vllm):
    backend, llm = loaded()
    backend.reconfigure(ServingConfig(name="w", backend="vllm", decoding="sampling"))
    assert backend.config.name == "w" and backend.llm is llm
    backend.synchronize()  # nothing to wait for, and no CUDA touched
    backend.close()
    assert "shutdown" in llm.log and backend.llm is None

from types import SimpleNamespace

import pytest

from energy_predict.architectures import REGISTRY
from energy_predict.calibrate.backends.vllm import engine_kwargs, generated_tokens, make_prompts, write_model_dir
from energy_predict.calibrate.grid import Cell, ServingConfig


def test_engine_kwargs_map_serving_options():
    config = ServingConfig(name="v", backend="vllm", cuda_graphs=True, quantization="fp8", max_num_seqs=512,
                           max_num_batched_tokens=8192, enable_chunked_prefill=True, tensor_parallel_size=2)
    kw = engine_kwargs(config, "/tmp/m", 9000)
    assert kw["load_format"] == "dummy" and kw["skip_tokenizer_init"] is True
    assert kw["enforce_eager"] is False and kw["quantization"] == "fp8" and kw["max_num_seqs"] == 512
    assert kw["enable_prefix_caching"] is False  # repetitions must not reuse the prefill
    assert kw["max_num_batched_tokens"] == 8192 and kw["tensor_parallel_size"] == 2 and kw["max_model_len"] == 9000
    eager = engine_kwargs(ServingConfig(name="e", backend="vllm"), "/tmp/m", 100)
    assert eager["enforce_eager"] is True and "quantization" not in eager


def test_prompts_are_token_ids_of_the_cell_shape():
    prompts = make_prompts(Cell("m", "c", 3, 17, 5), vocab_size=1000)
    assert len(prompts) == 3 and all(len(p["prompt_token_ids"]) == 17 for p in prompts)
    assert all(3 <= t < 999 for p in prompts for t in p["prompt_token_ids"])
    assert prompts[0] != prompts[1]  # distinct: no shared prefix between requests


def test_generated_tokens_parse_request_outputs():
    outs = [SimpleNamespace(outputs=[SimpleNamespace(token_ids=[1] * n)]) for n in (4, 4, 3)]
    assert generated_tokens(outs) == [4, 4, 3]


def test_model_dir_holds_a_loadable_config(tmp_path):
    import json
    from pathlib import Path

    folder = write_model_dir(REGISTRY["Llama-3.1-8B"], 9000)
    config = json.loads((Path(folder) / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_key_value_heads"] == 8


def test_engine_needs_vllm():
    pytest.importorskip("vllm", reason="vLLM is not installed on this machine (GPU machine only)")


def test_stat_logging_follows_the_config_and_prefix_counters_are_read_from_get_metrics():
    from energy_predict.calibrate.backends.vllm import prefix_counters

    quiet, logging = (ServingConfig(name="v", backend="vllm", log_stats=s) for s in (False, True))
    assert engine_kwargs(quiet, "/m", 100)["disable_log_stats"] is True  # LLM's own default
    assert engine_kwargs(logging, "/m", 100)["disable_log_stats"] is False
    metrics = [SimpleNamespace(name="vllm:prefix_cache_queries", labels={"engine": "0"}, value=300),
               SimpleNamespace(name="vllm:prefix_cache_queries", labels={"engine": "1"}, value=100),
               SimpleNamespace(name="vllm:prefix_cache_hits", labels={"engine": "0"}, value=120),
               SimpleNamespace(name="vllm:num_requests_running", labels={}, value=3)]
    assert prefix_counters(metrics) == {"queries_tokens": 400, "hits_tokens": 120, "null_reason": None}
    missing = prefix_counters(metrics[:2])
    assert missing["hits_tokens"] is None and "vllm:prefix_cache" in missing["null_reason"]

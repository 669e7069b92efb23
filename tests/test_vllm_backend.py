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


def test_speculative_engine_kwargs_draft_and_synthetic_rates():
    from energy_predict.calibrate.backends.vllm import speculative_config

    natural = ServingConfig(name="s", backend="vllm", speculative_model="Llama-3.2-1B", num_speculative_tokens=4)
    kw = engine_kwargs(natural, "/tmp/m", 900, draft_dir="/tmp/draft")
    assert kw["speculative_config"] == {"model": "/tmp/draft", "method": "draft_model", "num_speculative_tokens": 4}
    synthetic = ServingConfig(name="s", backend="vllm", speculative_model="Llama-3.2-1B", num_speculative_tokens=4,
                              synthetic_acceptance=0.5)
    spec = speculative_config(synthetic, "/tmp/draft")
    assert spec["rejection_sample_method"] == "synthetic"
    # vLLM's rates are unconditional per position: all of the first i+1 tokens accepted
    assert spec["synthetic_acceptance_rates"] == [0.5, 0.25, 0.125, 0.0625]
    assert "speculative_config" not in engine_kwargs(ServingConfig(name="v", backend="vllm"), "/tmp/m", 900)


def test_shared_prefix_prompts_share_the_prefix_and_renew_the_rest():
    from energy_predict.calibrate.backends.vllm import shared_prefix_prompts

    prompts = shared_prefix_prompts(Cell("m", "c", 4, 200, 8), vocab_size=1000, hit_rate=0.75)
    first, second = prompts(0), prompts(1)
    ids = [p["prompt_token_ids"] for p in first]
    assert all(len(p) == 200 for p in ids) and all(3 <= t < 999 for p in ids for t in p)
    assert all(p[:150] == ids[0][:150] for p in ids)  # one prefix for the batch: 75% of each prompt
    assert len({tuple(p[150:]) for p in ids}) == 4  # the rest differs between requests
    assert [p["prompt_token_ids"][:150] for p in second] == [p[:150] for p in ids]  # and between runs only the rest
    assert all(a["prompt_token_ids"][150:] != b["prompt_token_ids"][150:] for a, b in zip(first, second))
    none = shared_prefix_prompts(Cell("m", "c", 2, 64, 8), 1000, 0.0)(0)
    assert none[0]["prompt_token_ids"][:16] != none[1]["prompt_token_ids"][:16]


def test_engine_counters_sum_the_prefix_and_speculative_counters():
    from energy_predict.calibrate.backends.vllm import engine_counters

    metrics = [SimpleNamespace(name="vllm:spec_decode_num_drafts", value=10),
               SimpleNamespace(name="vllm:spec_decode_num_draft_tokens", value=40),
               SimpleNamespace(name="vllm:spec_decode_num_accepted_tokens", value=12),
               SimpleNamespace(name="vllm:spec_decode_num_accepted_tokens", value=3),  # a second engine
               SimpleNamespace(name="vllm:prefix_cache_hits", value=512),
               SimpleNamespace(name="vllm:num_requests_running", value=2)]
    assert engine_counters(metrics) == {"drafts": 10, "draft_tokens": 40, "accepted_tokens": 15, "hits_tokens": 512}


@pytest.mark.parametrize("config, field", [
    ({"backend": "vllm", "speculative_model": "Llama-3.2-1B"}, "num_speculative_tokens"),
    ({"backend": "vllm", "num_speculative_tokens": 4}, "num_speculative_tokens"),
    ({"backend": "vllm", "synthetic_acceptance": 0.5}, "synthetic_acceptance"),
    ({"backend": "vllm", "prefix_hit_rate": 0.5}, "prefix_hit_rate"),
    ({"backend": "vllm", "decoding": "beam", "beam_width": 4}, "decoding"),
    ({"backend": "hf", "prefix_hit_rate": 0.5, "enable_prefix_caching": True}, "backend"),
])
def test_grid_refuses_options_that_do_not_go_together(config, field):
    from energy_predict.calibrate.grid import parse_grid
    from energy_predict.errors import InputError

    grid = {"name": "g", "models": ["Llama-3.2-1B"], "configs": [{"name": "c", **config}],
            "blocks": [{"batch_sizes": [1], "input_tokens": [8], "output_tokens": [1]}]}
    with pytest.raises(InputError, match=field):
        parse_grid(grid)

"""Issue 26, item 3: the mixtures of experts people serve are read right from their public config.json, or refused.

The configs under tests/data/configs/ hold the cost fields of the published config.json files (README there).
"""

import json

import pytest

from energy_predict import flops
from energy_predict.architectures import REGISTRY, from_hf_config, resolve_architecture, to_hf_config
from energy_predict.errors import InputError
from energy_predict.gpus import resolve_gpu
from energy_predict.memory import kv_token_capacity, usable_bytes_per_gpu, weight_bytes_per_gpu
from energy_predict.precision import format_refusal, precision_of
from energy_predict.serving import Deployment, Serving
from tests.conftest import REPO

CONFIGS = REPO / "tests" / "data" / "configs"
GIB = 2**30


def _config(name: str) -> dict:
    return json.loads((CONFIGS / name / "config.json").read_text())


def _arch(name: str):
    return resolve_architecture(str(CONFIGS / name))


# (total B, active B, whether the publisher counts the input embedding as active): Qwen and Meta count both
# embeddings; DeepSeek and OpenAI count the LM head but not the embedding lookup (no multiply)
PUBLISHED = {
    "DeepSeek-V3": (671, 37, False),
    "DeepSeek-V2-Lite": (15.7, 2.4, False),
    "Qwen1.5-MoE-A2.7B": (14.3, 2.7, True),
    "Qwen2-57B-A14B": (57, 14, True),
    "Llama-4-Scout-17B-16E": (109, 17, True),  # 109B includes the vision encoder, which is not costed (~1%)
    "gpt-oss-120b": (117, 5.1, False),
    "gpt-oss-20b": (21, 3.6, False),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_total_and_active_parameters(name):
    total_b, active_b, counts_embedding = PUBLISHED[name]
    arch = _arch(name)
    assert arch.total_params / 1e9 == pytest.approx(total_b, rel=0.03)
    active = arch.active_params - (0 if counts_embedding else arch.embedding_params)
    assert active / 1e9 == pytest.approx(active_b, rel=0.03)


def test_deepseek_latent_attention_projections_and_kv_cache():
    v3, lite = _arch("DeepSeek-V3"), _arch("DeepSeek-V2-Lite")
    # q_a, q_b, kv_a (latent + rope key), kv_b (nope keys and values of every head), o
    assert v3.attention_matmul_params == 1536 * 7168 + 128 * 192 * 1536 + 7168 * (512 + 64) + 128 * 256 * 512 \
        + 128 * 128 * 7168 == 187_105_280
    assert lite.attention_matmul_params == 2048 * 16 * 192 + 2048 * 576 + 16 * 256 * 512 + 16 * 128 * 2048
    # the cache keeps one latent (512) and one rope key (64) per token and layer, not K and V of 128 heads
    assert v3.kv_bytes_per_token(2.0) == 61 * 576 * 2
    assert lite.kv_bytes_per_token(2.0) == 27 * 576 * 2
    # a prefill scores 192 wide and reads 128-wide values; vLLM's decode works in the latent
    assert flops.attention_flops(v3, 1.0) == 61 * 2 * 128 * (192 + 128)
    assert flops.attention_flops(v3, 1.0, decode=True) == 61 * 2 * 128 * (2 * 512 + 64)


def test_dense_then_moe_layouts_and_shared_experts():
    v3, lite, scout, qwen = (_arch(n) for n in ("DeepSeek-V3", "DeepSeek-V2-Lite", "Llama-4-Scout-17B-16E",
                                                 "Qwen1.5-MoE-A2.7B"))
    assert (v3.dense_layers, v3.moe_layers, v3.dense_intermediate_size, v3.shared_expert_size) == (3, 58, 18432, 2048)
    assert (lite.dense_layers, lite.moe_layers, lite.shared_expert_size) == (1, 26, 2 * 1408)
    assert (scout.dense_layers, scout.shared_expert_size, scout.intermediate_size) == (0, 8192, 8192)
    assert (qwen.dense_layers, qwen.shared_expert_size, qwen.intermediate_size) == (0, 5632, 1408)
    # one token passes its routed experts, the shared experts and every dense MLP
    assert flops.matmul_params_per_token(lite) == 27 * lite.attention_matmul_params + 26 * (
        6 * lite.expert_params + lite.router_params + 3 * 2048 * 2816) + 3 * 2048 * 10944


def test_interleaved_and_mlp_only_layers_follow_the_families_rules():
    maverick_like = _config("Llama-4-Scout-17B-16E")
    text = {k: v for k, v in maverick_like["text_config"].items() if k != "moe_layers"}
    arch = from_hf_config({**maverick_like, "text_config": {**text, "interleave_moe_layer_step": 2}})
    # every second layer is MoE (1, 3, ...), the others a dense MLP of intermediate_size_mlp
    assert (arch.moe_layers, arch.dense_layers, arch.dense_intermediate_size) == (24, 24, 16384)
    qwen = from_hf_config({**_config("Qwen1.5-MoE-A2.7B"), "decoder_sparse_step": 2, "mlp_only_layers": [1]})
    assert (qwen.moe_layers, qwen.dense_intermediate_size) == (11, 5632)  # layers 3, 5, ..., 23
    freq = from_hf_config({**_config("DeepSeek-V2-Lite"), "moe_layer_freq": 2})
    assert freq.moe_layers == 13  # layers 2, 4, ..., 26


def test_a_multimodal_config_is_read_from_its_text_part_and_says_so():
    scout = _arch("Llama-4-Scout-17B-16E")
    assert (scout.hidden_size, scout.num_layers, scout.num_experts, scout.experts_per_token) == (5120, 48, 16, 1)
    assert "text_config" in scout.note and "vision encoder" in scout.note


def test_checkpoint_formats_count_their_own_bytes():
    oss120, oss20, v3 = _arch("gpt-oss-120b"), _arch("gpt-oss-20b"), _arch("DeepSeek-V3")
    # MXFP4 experts (4.25 bits), the rest bf16: OpenAI's model card gives checkpoints of 60.8 and 12.8 GiB
    assert oss120.weight_bytes(2.0) / GIB == pytest.approx(60.8, rel=0.02)
    assert oss20.weight_bytes(2.0) / GIB == pytest.approx(12.8, rel=0.02)
    assert oss120.weight_bytes(2.0) < oss120.total_params * 0.6  # not 218 GiB of bf16
    # block-wise fp8: one byte per linear weight and one fp32 scale per 128 x 128 block
    assert v3.weight_bytes(2.0) / v3.total_params == pytest.approx(1.0, abs=0.01)
    dep = Deployment(oss120, resolve_gpu("H100-SXM-80GB"), Serving(framework="vllm", cuda_graphs=True))
    assert weight_bytes_per_gpu(dep) / GIB == pytest.approx(60.8, rel=0.02)
    # the routed experts a decode step reads are MXFP4 too
    assert flops.weight_bytes(oss120, 2.0, 1) < flops.weight_bytes(oss120, 2.0, 1e6) == pytest.approx(
        oss120.weight_bytes(2.0))


@pytest.mark.parametrize(("qc", "per_param"), [
    ({"quant_method": "awq", "bits": 4, "group_size": 128}, 0.5 + 2.5 / 128),
    ({"quant_method": "gptq", "bits": 4, "group_size": 64}, 0.5 + 2.5 / 64),
    ({"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}, 1 + 4 / 128**2),
    ({"quant_method": "mxfp4"}, 4.25 / 8),
])
def test_supported_weight_formats(qc, per_param):
    arch = from_hf_config({**_config("Qwen1.5-MoE-A2.7B"), "quantization_config": qc})
    assert arch.format_bytes_per_param == pytest.approx(per_param)


@pytest.mark.parametrize(("qc", "field"), [
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, "quant_method"),
    ({"quant_method": "compressed-tensors"}, "quant_method"),
    ({"quant_method": "gptq", "bits": 8}, "bits"),
    ({"quant_method": "fp8", "fmt": "e5m2"}, "fmt"),
    ("fp8", ""),
])
def test_a_weight_format_the_tool_cannot_cost_is_refused_not_read_as_bf16(qc, field):
    with pytest.raises(InputError) as error:
        from_hf_config({**_config("Qwen1.5-MoE-A2.7B"), "quantization_config": qc})
    assert error.value.field == "config.quantization_config" + (f".{field}" if field else "")
    assert "fp8 (block-wise e4m3), mxfp4, awq and gptq" in str(error.value) and "\n" not in str(error.value)


def test_the_measured_model_refuses_a_format_it_never_measured():
    bf16, fp8 = precision_of(None), precision_of("fp8")
    assert format_refusal("gpt-oss-20b", "mxfp4", bf16).startswith("model: gpt-oss-20b's routed experts are stored "
                                                                   "in mxfp4")
    assert format_refusal("DeepSeek-V3", "fp8", bf16).startswith("serving.quantization: ")
    assert format_refusal("DeepSeek-V3", "fp8", fp8) is None
    assert format_refusal("Llama-3.1-8B", "", bf16) is None


def test_a_latent_cache_is_whole_on_every_gpu_of_the_group():
    lite = _arch("DeepSeek-V2-Lite")
    one, two = (Deployment(lite, resolve_gpu("H100-SXM-80GB"), Serving(framework="vllm", tensor_parallel=t),
                           gpu_count=t) for t in (1, 2))
    per_token = lite.kv_bytes_per_token(2.0)
    for dep, tp in ((one, 1), (two, 2)):
        # each GPU of the group holds its share of the weights and every token's whole latent
        assert kv_token_capacity(dep) == (usable_bytes_per_gpu(dep) - lite.weight_bytes(2.0) / tp) // per_token


def test_hybrid_linear_attention_is_refused():
    config = {**_config("gpt-oss-20b"), "layer_types": ["linear_attention", "full_attention"] * 12}
    with pytest.raises(InputError, match=r"^config\.layer_types: layers of kind linear_attention are not modelled"):
        from_hf_config(config)


def test_latent_attention_needs_its_dimensions():
    config = {**to_hf_config(REGISTRY["OLMoE-1B-7B"]), "kv_lora_rank": 512}
    with pytest.raises(InputError, match=r"^config\.qk_rope_head_dim: missing"):
        from_hf_config(config)


def test_a_shared_expert_is_counted_not_dropped():
    plain = REGISTRY["OLMoE-1B-7B"]
    shared = from_hf_config({**to_hf_config(plain), "shared_expert_intermediate_size": 5632}, name="OLMoE-1B-7B")
    assert shared != plain
    assert shared.total_params - plain.total_params == 16 * 3 * 2048 * 5632
    with pytest.raises(ValueError, match="shared_expert_size"):
        to_hf_config(shared)


@pytest.mark.parametrize("name", ["DeepSeek-V3", "DeepSeek-V2-Lite", "Qwen2-57B-A14B", "Llama-4-Scout-17B-16E",
                                  "gpt-oss-20b"])
def test_parameter_count_matches_transformers_built_from_the_same_config(name):
    """The counts equal those of the transformers model the config builds (a few layers, on the meta device)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = _config(name)
    config.pop("quantization_config", None)  # stored format, not shape
    if "text_config" in config:
        config = {**config["text_config"], "tie_word_embeddings": False}
    layers = 4 if name == "DeepSeek-V3" else 2  # V3: 3 dense layers then MoE
    config = {**config, "num_hidden_layers": layers}
    config.pop("moe_layers", None)
    if "layer_types" in config:
        config["layer_types"] = config["layer_types"][:layers]
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**config))
    counted = sum(p.numel() for p in model.parameters())
    # gpt-oss's expert and attention biases and sinks are left out (0.02%)
    assert from_hf_config(config, name=name).total_params == pytest.approx(counted, rel=3e-4)

import numpy as np
import pytest

from energy_predict import flops
from energy_predict.architectures import REGISTRY, from_hf_config
from tests.conftest import tiny_llama_config


def _counted(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.fixture(scope="module")
def tiny():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = tiny_llama_config()
    torch.manual_seed(0)
    # eager attention: explicit matmuls the counter sees (its CPU SDPA kernel is not counted)
    model = transformers.AutoModelForCausalLM.from_config(
        transformers.LlamaConfig(**config), attn_implementation="eager").eval()
    return torch, model, from_hf_config(config, name="tiny")


@pytest.mark.slow
def test_prefill_flops_match_torch_flop_counter(tiny):
    torch, model, arch = tiny
    ids = torch.randint(3, 1000, (1, 200))
    with torch.no_grad():
        counted = _counted(lambda: model(ids, logits_to_keep=1))
    # eager attention multiplies the full score matrix and masks it afterwards: causal=False
    assert flops.prefill_flops(arch, 200, causal=False) == pytest.approx(counted, rel=0.02)


@pytest.mark.slow
def test_decode_step_flops_match_torch_flop_counter(tiny):
    torch, model, arch = tiny
    ids = torch.randint(3, 1000, (1, 300))
    with torch.no_grad():
        cache = model(ids, use_cache=True).past_key_values
        step = torch.randint(3, 1000, (1, 1))
        counted = _counted(lambda: model(step, past_key_values=cache, use_cache=True))
    assert flops.decode_step_flops(arch, 301) == pytest.approx(counted, rel=0.02)


def test_decode_flops_is_the_sum_of_its_steps():
    arch = REGISTRY["Llama-3.1-8B"]
    i, o = 512, 128
    steps = sum(flops.decode_step_flops(arch, i + t) for t in range(1, o))
    assert flops.decode_flops(arch, i, o) == pytest.approx(steps, rel=1e-12)
    assert flops.decode_flops(arch, i, 1) == 0


def test_flops_grow_as_expected():
    arch = REGISTRY["Llama-3.1-8B"]
    # ~2 x (non-embedding) params per token, plus a quadratic attention term
    layer_params = arch.total_params - 2 * arch.embedding_params
    assert flops.prefill_flops(arch, 1000) / 1000 == pytest.approx(2 * layer_params, rel=0.02)
    assert flops.prefill_flops(arch, 8192) / 8192 > flops.prefill_flops(arch, 1024) / 1024
    with pytest.raises(ValueError):
        flops.prefill_flops(arch, -1)


def test_moe_uses_active_experts_and_gqa_shrinks_kv():
    olmoe = REGISTRY["OLMoE-1B-7B"]
    per_token = flops.decode_step_flops(olmoe, 1) - flops.lm_head_flops(olmoe)
    assert per_token < 2 * olmoe.total_params / 3  # far fewer than all 64 experts
    assert olmoe.kv_bytes_per_token() > REGISTRY["Llama-3.2-1B"].kv_bytes_per_token()
    # a batch of one touches top-k experts; a large batch touches nearly all
    assert flops.weight_bytes(olmoe, 2, 1) < flops.weight_bytes(olmoe, 2, 256) <= olmoe.total_params * 2
    assert np.isclose(flops.weight_bytes(olmoe, 2, 4096), olmoe.total_params * 2, rtol=1e-3)

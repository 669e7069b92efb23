from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_traces() -> Path:
    path = SHARED / "data" / "traces"
    if not path.is_dir():
        pytest.skip("../shared/data/traces is not beside this checkout")
    return path


def tiny_llama_config(**overrides) -> dict:
    """A small but non-degenerate Llama (GQA, untied head) for CPU tests."""
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
        "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 32,
        "intermediate_size": 512, "vocab_size": 1024, "tie_word_embeddings": False,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
        "bos_token_id": 1, "eos_token_id": 2,
    }
    config.update(overrides)
    return config

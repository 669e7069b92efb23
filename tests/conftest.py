import json
from pathlib import Path

import pytest
import typer.main
import typer.testing

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EXAMPLES = REPO / "examples"


_COMMANDS: dict = {}


def _command_built_once(app):
    """The click command of a typer app, built on the first call only.

    Typer's CliRunner rebuilds the whole command tree from the app's signatures at every `invoke`, about a third
    of an in-process CLI test's CPU; a real `energy-predict` builds it once per process, as the tests now do too.
    Commands look their library functions up when they run, so a test's monkeypatching still takes effect.
    """
    if app not in _COMMANDS:
        _COMMANDS[app] = typer.main.get_command(app)
    return _COMMANDS[app]


if hasattr(typer.testing, "_get_command"):  # where a typer version names it otherwise, tests only run slower
    typer.testing._get_command = _command_built_once


@pytest.fixture(scope="session")
def refit(tmp_path_factory) -> Path:
    """The default model fitted again from the checkout's committed inputs, saved the way `model fit` saves it.

    One fit (~25 s of CPU) shared by every test that needs it; such tests are marked slow.
    """
    from energy_predict.model import fit, inputs, persistence

    fitted = fit.fit_model(inputs.read_fit_inputs(commit="commit", created="time"), name="default")
    return persistence.save_model(fitted, tmp_path_factory.mktemp("refit") / "default")


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


def write_profile(tmp_path: Path, file_name: str = "p", **changes) -> Path:
    """examples/code_gen.json with fields changed (`serving__tensor_parallel=2`: a double underscore goes one level
    down), written to tmp_path/<file_name>.json."""
    data = json.loads((EXAMPLES / "code_gen.json").read_text())
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        node = data
        for p in path:
            node = node[p]
        node[key] = value
    path = tmp_path / f"{file_name}.json"
    path.write_text(json.dumps(data))
    return path

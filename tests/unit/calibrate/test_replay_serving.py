"""`replay --serving FILE`: a grid's config replaces the one built from flags, reaches the engine, names the records."""

import json

import pytest
from fakes import FakeBackend, TickingMeter
from typer.testing import CliRunner

from energy_predict.calibrate.replay import plan_replays, run_replays
from energy_predict.cli import app
from energy_predict.predict.replays import load_replays

FP8 = {"name": "fp8", "framework": "vllm", "quantization": "fp8", "max_batch": 64}
SPEC = {"name": "spec-k4", "backend": "vllm", "cuda_graphs": True, "max_num_seqs": 256,
        "speculative_model": "Llama-3.2-1B", "num_speculative_tokens": 4, "synthetic_acceptance": 0.7}


def azure(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("input_tokens,output_tokens,arrival_s\n" + "".join(f"{100 + k},{5 + k},{k}\n" for k in range(8)))
    return trace


class LoadingBackend(FakeBackend):
    """A fake engine that keeps the config it was loaded with."""

    name = "vllm"

    def load(self, arch, config) -> None:
        self.arch, self.config = arch, config


def replay_with(tmp_path, config: dict) -> tuple[LoadingBackend, list[dict]]:
    from energy_predict.calibrate.grid import load_serving_config

    path = tmp_path / f"{config['name']}.json"
    path.write_text(json.dumps(config))
    plan = plan_replays(azure(tmp_path), backend_name="vllm", model="Llama-3.1-8B", n=8, seed=0,
                        modes=["offline", "online"], rates=[2.0], batch_size=4, cuda_graphs=False, repetitions=1,
                        max_input=None, max_output=64, serving=load_serving_config(path))
    engine = LoadingBackend()
    run_replays(plan, tmp_path / "out", gpus=(0,), backend_factory=lambda name: engine, meter_factory=TickingMeter,
                idle_s=0.0)
    return engine, [r for r in load_replays(tmp_path / "out") if config["name"] in r["name"]]


def test_the_files_config_reaches_the_engine_and_names_the_records(tmp_path):
    engine, records = replay_with(tmp_path, FP8)
    c = engine.config
    assert c.name == "fp8" and c.quantization == "fp8" and c.max_batch == 64
    assert c.cuda_graphs  # the file's (default true), not the --eager given to plan_replays
    assert c.engine.max_model_len == 8192 + 64 + 16  # from the sample, as without --serving
    assert c.max_num_batched_tokens == 8192 and c.engine.enable_chunked_prefill  # explicit, so the record says it
    assert sorted(r["name"] for r in records) == ["vllm-t-fp8-offline", "vllm-t-fp8-online-2"]
    # the offline replay warms the engine (then one measured run); the online one after it needs no warm-up of its own
    assert engine.served == [("batch", 8), ("batch", 8), ("serve", 8)]
    assert all(r.get("engine_warmup") is None for r in records)
    for r in records:
        assert r["config"]["quantization"] == "fp8" and r["config"]["max_batch"] == 64


def test_a_speculative_config_in_the_grids_former_spelling_reaches_the_engine(tmp_path):
    engine, records = replay_with(tmp_path, SPEC)
    spec = engine.config.speculative
    assert (spec.draft, spec.draft_tokens, spec.synthetic_acceptance) == ("Llama-3.2-1B", 4, 0.7)
    assert engine.config.engine.log_stats  # its acceptance counters need vLLM's stat loggers
    assert {r["name"] for r in records} == {"vllm-t-spec-k4-offline", "vllm-t-spec-k4-online-2"}
    assert records[0]["config"]["speculative"]["synthetic_acceptance"] == 0.7


def test_two_configs_share_one_out_folder(tmp_path):
    replay_with(tmp_path, FP8)
    replay_with(tmp_path, {"name": "default", "framework": "vllm"})
    names = sorted(r["name"] for r in load_replays(tmp_path / "out"))
    assert names == ["vllm-t-default-offline", "vllm-t-default-online-2", "vllm-t-fp8-offline", "vllm-t-fp8-online-2"]


@pytest.mark.parametrize("content, args, field", [
    (None, [], "--serving"),  # no file
    ("{not json", [], "--serving"),
    ("[1, 2]", [], "--serving"),
    (json.dumps({"name": "x", "framework": "vllm", "quantization": "fp3"}), [], "--serving.quantization"),
    (json.dumps({"name": "x", "framework": "vllm", "max_batch": 0}), [], "--serving.max_batch"),
    (json.dumps({"name": "x", "framework": "vllm", "warp": 9}), [], "--serving.warp"),
    (json.dumps({"name": "a/b", "framework": "vllm"}), [], "--serving.name"),
    (json.dumps({"framework": "vllm"}), [], "--serving.name"),
    (json.dumps({"name": "x", "framework": "hf"}), [], "--serving"),  # --backend vllm (the default)
    (json.dumps(FP8), ["--eager"], "--serving"),
    (json.dumps(FP8), ["--tp", "2"], "--serving"),
    (json.dumps(FP8), ["--prefix-caching"], "--serving"),
])
def test_a_bad_serving_file_or_a_conflicting_flag_is_one_line_and_exit_2(tmp_path, content, args, field):
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(app, ["replay", str(azure(tmp_path)), "--out", str(tmp_path / "out"),
                                      "--serving", str(path), *args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and f"{field}:" in lines[0], lines
    if args:  # the refusal names both the file's option and the flag
        assert args[0] in lines[0]
    assert not (tmp_path / "out").exists()


def test_the_cli_replays_the_files_config(tmp_path, monkeypatch):
    """The command line end to end, with the GPU checks and the engine faked."""
    import energy_predict.calibrate.preflight as preflight
    import energy_predict.calibrate.replay as replay

    engine = LoadingBackend()
    real = replay.run_replays
    monkeypatch.setattr(preflight, "check_installed", lambda names: None)
    monkeypatch.setattr(preflight, "check_gpu", lambda *a: None)
    monkeypatch.setattr(replay, "run_replays", lambda plan, out, **kw: real(
        plan, out, gpus=(0,), backend_factory=lambda name: engine, meter_factory=TickingMeter, idle_s=0.0))
    path = tmp_path / "fp8.json"
    path.write_text(json.dumps(FP8))
    result = CliRunner().invoke(app, ["replay", str(azure(tmp_path)), "--out", str(tmp_path / "out"), "--serving",
                                      str(path), "--modes", "online", "--rates", "2", "--n", "8", "--repetitions",
                                      "1"])
    assert result.exit_code == 0, result.output
    assert engine.config.quantization == "fp8" and engine.config.max_batch == 64
    (record,) = load_replays(tmp_path / "out")
    assert record["name"] == "vllm-t-fp8-online-2"
    # online alone: the fresh engine serves the requests once offline, unmeasured, then the measured online run
    assert engine.served == [("batch", 8), ("serve", 8)] and record["engine_warmup"] == "offline"

"""Issue 24, item 1: one serving spec (profile, grid, records, card, replays), one translator from a record, one
precision table, training rows chosen by their key; and `serving.dtype` refused by the measured model, not answered
as bfloat16."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from energy_predict import precision
from energy_predict.architectures import REGISTRY
from energy_predict.baselines import roofline_batch
from energy_predict.calibrate.backends.vllm import engine_kwargs
from energy_predict.calibrate.grid import ServingConfig, parse_grid
from energy_predict.cli import app
from energy_predict.gpus import CATALOG
from energy_predict.memory import weight_bytes_per_gpu
from energy_predict.model.analytic import RooflineEstimator
from energy_predict.model.dataset import not_training, training_table
from energy_predict.model.phases import phase_terms
from energy_predict.precision import PRECISIONS, Precision
from energy_predict.profile import Serving as ProfileServing
from energy_predict.profile import parse_profile
from energy_predict.serving import KEY_FIELDS, Deployment, Serving, deployment_from_profile
from energy_predict.serving_spec import ServingSpec, config_of_record, serving_of_record
from tests.conftest import EXAMPLES, REPO, write_profile

runner = CliRunner()
LLAMA8 = REGISTRY["Llama-3.1-8B"]
H100, A100 = CATALOG["H100-SXM-80GB"], CATALOG["A100-SXM-80GB"]
CARD = json.loads((REPO / "artifacts" / "models" / "default" / "card.json").read_text())


def grid_of(*configs) -> dict:
    return {"name": "g", "models": ["Llama-3.2-1B"], "configs": list(configs),
            "blocks": [{"batch_sizes": [1], "input_tokens": [8], "output_tokens": [1]}]}


# -- one spec --------------------------------------------------------------------------------------------------------
def test_the_profile_and_the_grid_spell_the_serving_spec_alike():
    shared = set(ServingSpec.model_fields)
    assert shared <= set(ProfileServing.model_fields) and shared <= set(ServingConfig.model_fields)
    profile = ProfileServing.model_validate({"framework": "vllm", "tensor_parallel": 2, "max_batch": 64,
                                             "quantization": "fp8", "prefix_caching": True})
    grid = parse_grid(grid_of({"name": "c", "framework": "vllm", "tensor_parallel": 2, "max_batch": 64,
                               "quantization": "fp8", "prefix_caching": True})).configs[0]
    assert profile.to_serving() == grid.serving
    assert ServingSpec().cuda_graphs and ServingConfig(name="c").cuda_graphs  # one default: CUDA graphs on


def test_a_grid_in_the_former_spelling_parses_to_the_same_config_and_keeps_its_defaults():
    former = {"name": "c", "backend": "vllm", "max_num_seqs": 512, "enable_prefix_caching": True,
              "tensor_parallel_size": 2, "gpu_memory_utilization": 0.95, "log_stats": True, "beam_width": 1,
              "speculative_model": "Llama-3.2-1B", "num_speculative_tokens": 4, "synthetic_acceptance": 0.6}
    current = {"name": "c", "framework": "vllm", "cuda_graphs": False, "max_batch": 512, "prefix_caching": True,
               "tensor_parallel": 2, "engine": {"gpu_memory_utilization": 0.95, "log_stats": True},
               "speculative": {"draft": "Llama-3.2-1B", "draft_tokens": 4, "synthetic_acceptance": 0.6}}
    a, b = (parse_grid(grid_of(c)).configs[0] for c in (former, current))
    assert a == b and a.model_dump() == b.model_dump()
    # the former format's vLLM default was eager: a grid that relied on it still measures eager
    assert not ServingConfig(name="e", backend="vllm").cuda_graphs
    assert engine_kwargs(ServingConfig(name="e", backend="vllm"), "/m", 100)["enforce_eager"] is True
    assert engine_kwargs(ServingConfig(name="g", framework="vllm"), "/m", 100)["enforce_eager"] is False


def test_every_committed_campaign_grid_still_parses():
    grids = [p for p in sorted((REPO / "campaigns").rglob("*.json"))
             if isinstance(data := json.loads(p.read_text()), dict) and "configs" in data and "blocks" in data]
    assert len(grids) > 20
    for path in grids:
        parse_grid(json.loads(path.read_text()))


def test_engine_knobs_stay_out_of_the_serving_identity():
    plain = ServingConfig(name="a", framework="vllm")
    tuned = ServingConfig(name="b", framework="vllm", engine={
        "gpu_memory_utilization": 0.95, "max_model_len": 4096, "log_stats": True, "disable_custom_all_reduce": True,
        "compilation_config": {"pass_config": {"fuse_allreduce_rms": False}}})
    assert plain.serving == tuned.serving and plain.engine_fields() != tuned.engine_fields()


# -- one translator --------------------------------------------------------------------------------------------------
def test_a_record_row_with_nan_none_and_none_strings_becomes_its_serving():
    row = pd.Series({"run_id": "r", "config": "vllm-graphs-fp8", "backend": "vllm", "cuda_graphs": np.bool_(True),
                     "compile": False, "quantization": "fp8", "tensor_parallel": np.float64(2.0), "decoding": None,
                     "beam_width": np.float64(1.0), "max_num_seqs": np.int64(512), "dtype": "bfloat16",
                     "speculative_model": np.nan, "num_speculative_tokens": np.nan, "prefix_caching": np.nan,
                     "attn_implementation": "sdpa", "energy_j": 12.5, "gpu": "NVIDIA H100 80GB HBM3"})
    assert serving_of_record(row) == Serving(quantization="fp8", tensor_parallel=2, max_batch=512)
    assert serving_of_record({**row.to_dict(), "quantization": "none"}).quantization is None
    old = {"backend": "hf", "tensor_parallel": np.nan, "cuda_graphs": False, "decoding": "beam", "beam_width": 4.0}
    assert serving_of_record(old) == Serving(framework="hf", decoding="beam", beam_width=4)
    spec = serving_of_record({"backend": "vllm", "cuda_graphs": True, "speculative_model": "Llama-3.2-1B",
                              "num_speculative_tokens": 4.0, "synthetic_acceptance": np.nan})
    assert spec.key_dict()["speculative"] == "Llama-3.2-1B" and spec.base == Serving()


def test_a_config_round_trips_through_the_records_it_writes():
    config = ServingConfig(name="c", framework="vllm", quantization="fp8", max_batch=128, tensor_parallel=2,
                           engine={"gpu_memory_utilization": 0.95},
                           speculative={"draft": "Llama-3.2-1B", "draft_tokens": 3})
    assert config_of_record({**config.model_dump(), "versions": {"vllm": "x"}}) == config


def test_the_cards_stored_keys_are_what_serving_keys_serialise_to():
    stored = [d["serving"] for entry in ("serving_configs", "too_few_cells", "measured_models", "ranges")
              for d in CARD["valid"][entry]]
    stored += [o["serving"] for o in CARD["options"]["speculative"]]
    stored += [s for o in CARD["options"]["decoding"] for s in o["servings"]]
    assert stored
    for d in stored:
        assert list(d) == list(KEY_FIELDS)
        record = {f: d[f] for f in ("framework", "cuda_graphs", "compile", "quantization", "tensor_parallel",
                                    "decoding")}
        if d["speculative"]:
            record.update(speculative_model=d["speculative"], num_speculative_tokens=4)
        else:
            assert json.dumps(Serving.from_dict(d).key_dict()) == json.dumps(d)
        assert json.dumps(serving_of_record(record).key_dict()) == json.dumps(d)


# -- training rows by key --------------------------------------------------------------------------------------------
def test_the_training_rule_reads_what_ran_not_the_name():
    def config(**fields):
        return ServingConfig(name="any-name", **fields)

    assert not_training(config(framework="vllm")) is None
    assert not_training(config(framework="vllm", engine={"gpu_memory_utilization": 0.95,
                                                         "compilation_config": {"pass_config": {}}})) is None
    assert "option" in not_training(config(framework="vllm", decoding="sampling"))
    assert "option" in not_training(config(framework="hf", decoding="beam", beam_width=4))
    assert "option" in not_training(config(framework="vllm", speculative={"draft": "Llama-3.2-1B", "draft_tokens": 4}))
    assert "eager attention" in not_training(config(framework="hf", engine={"attn_implementation": "eager"}))
    assert "prefix caching" in not_training(config(framework="vllm", prefix_caching=True))
    assert "token budget" in not_training(config(framework="vllm", max_num_batched_tokens=1024))
    assert "float16" in not_training(config(framework="vllm", dtype="float16"))


# -- a new precision is one entry ------------------------------------------------------------------------------------
INT8 = Precision("int8", "quantization", 1.0, 2.0, "int8 weights, bf16 products", "bf16", needs_peak=False,
                 source="a test entry: weight-only int8")


@pytest.fixture
def int8(monkeypatch):
    monkeypatch.setitem(PRECISIONS, "int8", INT8)
    return INT8


def _run(root, name, config: dict, quantization="none", dtype="bfloat16"):
    folder = root / name
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"started": name, "configs": {config["name"]: config}}))
    rows = [{"run_id": name, "backend": "vllm", "config": config["name"], "model": "Llama-3.2-1B",
             "gpu": "NVIDIA H100 80GB HBM3", "batch_size": b, "input_tokens": i, "output_tokens": 16,
             "repetition": 0, "status": "ok", "energy_j": 1.0 + b * i / 1e3, "duration_s": 0.1, "cuda_graphs": True,
             "quantization": quantization, "dtype": dtype, "tensor_parallel": 1, "gpu_count": 1,
             "timestamp": "2026-12-07T00:00:00+00:00"}
            for b in (1, 4) for i in (64, 256)]
    pd.DataFrame(rows).to_parquet(folder / "records.parquet")


def test_a_new_precision_is_one_table_entry(int8, tmp_path):
    # the profile and the serving value
    data = json.loads((EXAMPLES / "code_gen.json").read_text())
    data["serving"]["quantization"] = "int8"
    dep = deployment_from_profile(parse_profile(data))
    assert dep.serving.precision is int8 and dep.serving.key_dict()["quantization"] == "int8"
    # the grid, and the engine it loads
    config = parse_grid(grid_of({"name": "vllm-int8", "framework": "vllm", "quantization": "int8"})).configs[0]
    assert engine_kwargs(config, "/m", 100)["quantization"] == "int8"
    # memory: one byte per weight
    assert weight_bytes_per_gpu(dep) == pytest.approx(LLAMA8.total_params * 1.0)
    # baselines: its bytes at its peak (bf16 here: what fp8 runs at on an A100, weight-only, one byte too)
    ours = roofline_batch(LLAMA8, A100, 1, 512, 128, int8)
    fp8_on_a100 = roofline_batch(LLAMA8, A100, 1, 512, 128, PRECISIONS["fp8"])
    assert ours.energy_j == pytest.approx(fp8_on_a100.energy_j)
    assert ours.energy_j < roofline_batch(LLAMA8, A100, 1, 512, 128).energy_j
    analytic = RooflineEstimator().batch_phases(dep, np.array([1]), 512, 128)
    assert analytic.energy_j[0] == pytest.approx(roofline_batch(LLAMA8, dep.gpu, 1, 512, 128, int8).energy_j)
    # training rows: a run measuring it enters the table by its key, whatever its config is called
    _run(tmp_path, "run-int8", {"name": "whatever-name", "backend": "vllm", "cuda_graphs": True,
                                "quantization": "int8"}, quantization="int8")
    _run(tmp_path, "run-bf16", {"name": "vllm-graphs", "backend": "vllm", "cuda_graphs": True})
    _run(tmp_path, "run-fp16", {"name": "vllm-graphs-fp16", "backend": "vllm", "cuda_graphs": True,
                                "dtype": "float16"}, dtype="float16")
    table = training_table(tmp_path)
    assert sorted(table["config"].unique()) == ["vllm-graphs", "whatever-name"]
    mine = table[table["config"] == "whatever-name"]
    assert set(mine["quantization"]) == {"int8"} and set(mine["precision"]) == {"int8"}
    terms = phase_terms(table)
    weights = terms.groupby(table["precision"])["step_weight_bytes"].sum()
    assert weights["int8"] == pytest.approx(weights["bfloat16"] / 2)


def test_a_precision_needing_tensor_cores_a_gpu_lacks_does_not_transfer_to_it():
    assert "no fp8 tensor cores" in PRECISIONS["fp8"].transfer_refusal(A100)
    assert PRECISIONS["fp8"].transfer_refusal(H100) is None
    fp8 = PRECISIONS["fp8"]
    assert fp8.peak_flops(A100) == A100.bf16_flops and fp8.peak_flops(H100) == H100.fp8_flops
    with pytest.raises(ValueError, match="precision table"):
        Serving(quantization="int4")


# -- dtype: refused by the measured model, answered analytically -----------------------------------------------------
def test_a_float16_profile_is_refused_by_the_measured_model_in_one_line_naming_the_field(tmp_path):
    path = write_profile(tmp_path, serving__dtype="float16")
    result = runner.invoke(app, ["--profile", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.startswith("error: serving.dtype: float16 was not measured")
    assert "bfloat16" in text and "--energy-model roofline" in text


def test_a_float16_profile_is_answered_by_the_roofline_at_its_own_precision(tmp_path):
    runs = {}
    for dtype in ("bfloat16", "float16"):
        (tmp_path / dtype).mkdir()
        path = write_profile(tmp_path / dtype, serving__dtype=dtype)
        result = runner.invoke(app, ["--profile", str(path), "--energy-model", "roofline", "--json"])
        assert result.exit_code == 0, result.output
        runs[dtype] = json.loads(result.output)
    assert runs["float16"]["basis"]["kind"] == "analytic"
    # the same bytes at the same datasheet peak on every catalog GPU: the same analytic answer
    assert runs["float16"]["energy_kwh"] == runs["bfloat16"]["energy_kwh"]
    assert precision.dtype_refusal("bfloat16") is None
    assert Deployment(LLAMA8, H100, Serving(dtype="float16")).serving.label == "vllm graphs float16"

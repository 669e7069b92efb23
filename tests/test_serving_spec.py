"""Issue 24: one precision table, and `serving.dtype` refused by the measured model, not answered as bfloat16."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from energy_predict import precision
from energy_predict.architectures import REGISTRY
from energy_predict.baselines import roofline_batch
from energy_predict.cli import app
from energy_predict.gpus import CATALOG
from energy_predict.memory import weight_bytes_per_gpu
from energy_predict.model.analytic import RooflineEstimator
from energy_predict.precision import PRECISIONS, Precision
from energy_predict.serving import Deployment, Serving
from tests.conftest import write_profile

runner = CliRunner()
LLAMA8 = REGISTRY["Llama-3.1-8B"]
H100, A100 = CATALOG["H100-SXM-80GB"], CATALOG["A100-SXM-80GB"]

INT8 = Precision("int8", "quantization", 1.0, 2.0, "int8 weights, bf16 products", "bf16", needs_peak=False,
                 source="a test entry: weight-only int8")


@pytest.fixture
def int8(monkeypatch):
    monkeypatch.setitem(PRECISIONS, "int8", INT8)
    return INT8


def test_a_new_precision_entry_reaches_memory_and_the_baselines(int8):
    dep = Deployment(LLAMA8, H100, Serving(quantization="int8"))
    assert dep.serving.precision is int8
    assert weight_bytes_per_gpu(dep) == pytest.approx(LLAMA8.total_params * 1.0)
    ours = roofline_batch(LLAMA8, A100, 1, 512, 128, int8)
    fp8_on_a100 = roofline_batch(LLAMA8, A100, 1, 512, 128, PRECISIONS["fp8"])
    assert ours.energy_j == pytest.approx(fp8_on_a100.energy_j)
    assert ours.energy_j < roofline_batch(LLAMA8, A100, 1, 512, 128).energy_j
    analytic = RooflineEstimator().batch_phases(dep, np.array([1]), 512, 128)
    assert analytic.energy_j[0] == pytest.approx(roofline_batch(LLAMA8, dep.gpu, 1, 512, 128, int8).energy_j)


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
    assert "bfloat16" in text and "--model roofline" in text


def test_a_float16_profile_is_answered_by_the_roofline_at_its_own_precision(tmp_path):
    runs = {}
    for dtype in ("bfloat16", "float16"):
        (tmp_path / dtype).mkdir()
        path = write_profile(tmp_path / dtype, serving__dtype=dtype)
        result = runner.invoke(app, ["--profile", str(path), "--model", "roofline", "--json"])
        assert result.exit_code == 0, result.output
        runs[dtype] = json.loads(result.output)
    assert runs["float16"]["basis"]["kind"] == "analytic"
    # the same bytes at the same datasheet peak on every catalog GPU: the same analytic answer
    assert runs["float16"]["energy_kwh"] == runs["bfloat16"]["energy_kwh"]
    assert precision.dtype_refusal("bfloat16") is None
    assert Deployment(LLAMA8, H100, Serving(dtype="float16")).serving.label == "vllm graphs float16"

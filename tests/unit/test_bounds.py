"""Work is bounded up front and nonsense is refused (issue 29, items 4 and 11): one line, exit 2, in seconds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energy_predict.errors import InputError
from energy_predict.profile import parse_profile
from energy_predict.workload import workload_from_profile

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "examples" / "code_gen.json"


def _workload(change):
    data = json.loads(PROFILE.read_text())
    change(data["workload"])
    return workload_from_profile(parse_profile(data))


@pytest.mark.parametrize(("change", "problem"), [
    (lambda w: w.update(requests=5e-324), "less than one"),  # a subnormal count divided by zero
    (lambda w: (w.pop("requests"), w.update(rate_per_s=1e-9)), "less than one"),  # a period shorter than a request
    (lambda w: (w.pop("requests"), w.update(rate_per_s=1e6, period_s=1e10)), "more than 1e\\+15"),
    (lambda w: (w.pop("requests"), w.pop("rate_per_s"),
                w["tokens"].update(counts=[[c * 1e12 for c in row] for row in w["tokens"]["counts"]])),
     "more than 1e\\+15"),  # every count under the cap, their sum above it
])
def test_a_workload_holds_between_one_request_and_the_cap(change, problem):
    with pytest.raises(InputError, match=f"^workload.*{problem}"):
        _workload(change)


def test_an_integer_too_large_for_a_float_in_a_config_is_one_line(tmp_path):
    from energy_predict.architectures import REGISTRY, resolve_architecture, to_hf_config

    config = to_hf_config(REGISTRY["Llama-3.2-1B"])
    config["vocab_size"] = 10**400
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="config.vocab_size: a number of 401 digits is outside"):
        resolve_architecture(str(tmp_path / "config.json"))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "energy_predict", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO / "src")})


@pytest.mark.parametrize(("args", "field"), [
    (["compare", "--profile", str(PROFILE), "--batch-caps", ",".join(str(i) for i in range(1, 10001))],
     "--batch-caps"),
    (["compare", "--profile", str(PROFILE), "--gpu-kinds", "H200-SXM-141GB,NOPE"], "--gpu-kinds"),
    (["sweep-rate", "--profile", str(PROFILE), "--max-gpus", "64"], "--max-gpus"),
    (["sweep-rate", "--profile", str(PROFILE), "--rates", ",".join(str(i) for i in range(1, 50))], "--rates"),
])
def test_runaway_work_is_refused_before_it_starts(args, field):
    result = _cli(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {field}: ") and result.stderr.count("\n") == 1


def test_the_default_sweep_fits_its_own_bound_on_every_shipped_example():
    """`sweep-rate -p examples/conversation.json` refused its own default (4 GPU counts x 7 rates: 1.23M requests,
    over the 1.2M bound): without --max-gpus the sweep now tries as many GPU counts as the bound allows, at most 4."""
    from dataclasses import replace

    from energy_predict import cli
    from energy_predict.predict.run import load_case

    for name, expected in (("conversation", 3), ("code_gen", 4)):
        case = load_case(REPO / "examples" / f"{name}.json")
        w, dep = case.workload, case.dep
        rates = [round(w.rate_per_s * f, 4) for f in (0.1, 0.25, 0.5, 1, 2, 4, 8)]
        gpus = cli._default_sweep_gpus(w, dep, rates)
        assert gpus == expected
        cli._check_sweep_work(w, dep, rates, gpus)  # within the bound: no refusal
        if gpus < cli.DEFAULT_SWEEP_GPUS:
            with pytest.raises(InputError, match="--max-gpus"):
                cli._check_sweep_work(w, dep, rates, gpus + 1)
    tp2 = replace(dep, serving=replace(dep.serving, tensor_parallel=2), gpu_count=2)
    assert cli._default_sweep_gpus(w, tp2, rates) % 2 == 0

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from energy_predict.architectures import REGISTRY
from energy_predict.cli import app
from energy_predict.fitted import StepCosts
from energy_predict.gpus import CATALOG
from energy_predict.model.store import load_default_model
from energy_predict.predict.online import Engine, poisson_arrivals, simulate
from energy_predict.serving import Deployment, Serving
from tests.conftest import REPO

LLAMA8, H100 = REGISTRY["Llama-3.1-8B"], CATALOG["H100-SXM-80GB"]
DEP = Deployment(LLAMA8, H100, Serving("vllm", cuda_graphs=True))
runner = CliRunner()
StepCoefficients = StepCosts


@pytest.fixture(scope="module")
def coefs():
    m = load_default_model()
    costs = m.step_costs(DEP)
    e, t = costs.energy, costs.time
    return m, e, t


def test_a_fixed_batch_through_the_simulator_matches_the_batch_model(coefs):
    m, e, t = coefs
    b, i, o = 64, 512, 128
    sim = simulate(np.full(b, i), np.full(b, o), np.zeros(b), e, t, Engine(max_num_batched_tokens=10**9))
    batch = m.batch_phases(DEP, b, i, o).energy_j[0]
    assert sim.busy_energy_j == pytest.approx(batch, rel=0.01)
    assert sim.output_tokens == b * o and sim.idle_energy_j == 0


def test_sparse_arrivals_are_mostly_idle_at_the_idle_power(coefs):
    _, e, t = coefs
    arrivals = np.arange(10) * 100.0  # one short request every 100 s
    sim = simulate(np.full(10, 128), np.full(10, 16), arrivals, e, t, Engine(idle_w=120.0), period_s=1000.0)
    assert sim.idle_energy_j == pytest.approx(120.0 * (1000.0 - sim.busy_s))
    assert sim.utilization < 0.01 and np.all(sim.ttft_s >= 0) and len(sim.tpot_s) == 10


def test_higher_rate_raises_utilisation_and_lowers_energy_per_request(coefs):
    _, e, t = coefs
    rng = np.random.default_rng(0)
    i, o = rng.integers(100, 2000, 2000), rng.integers(1, 300, 2000)
    slow = simulate(i, o, poisson_arrivals(2000, 1.0), e, t, Engine(idle_w=120.0))
    fast = simulate(i, o, poisson_arrivals(2000, 10.0), e, t, Engine(idle_w=120.0))
    assert fast.utilization > slow.utilization
    assert fast.energy_j / fast.requests < slow.energy_j / slow.requests
    assert slow.requests == fast.requests == 2000


def test_chunked_prefill_respects_the_token_budget():
    unit = StepCoefficients(1.0, 0, 0, 1.0, 0, 0)  # every step costs 1 s and 1 J
    sim = simulate(np.array([10000]), np.array([1]), np.zeros(1), unit, unit, Engine(max_num_batched_tokens=4096))
    assert sim.busy_s == 3.0  # 10000 prompt tokens in chunks of 4096


def test_a_step_pays_one_constant_whether_it_holds_prefill_or_not():
    c = StepCoefficients(prefill_const=3.0, prefill_linear=0.0, prefill_attention=0.0, step_const=2.0,
                         per_sequence=0.5, per_context_token=0.0)
    assert c.cost(4, 0, 0, 0.0) == 2.0 + 4 * 0.5  # pure decode
    assert c.cost(4, 0, 100, 0.0) == 3.0 + 4 * 0.5  # mixed: the prefill constant replaces the step's
    assert c.cost(0, 0, 0, 0.0) == 0.0  # an empty step costs nothing


def test_gamma_arrivals_have_the_asked_rate():
    t = poisson_arrivals(20000, 5.0, seed=1, cv=2.0)
    assert len(t) / t.max() == pytest.approx(5.0, rel=0.05)


@pytest.mark.slow
def test_cli_online_report_and_sweep(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    result = runner.invoke(app, ["--profile", str(REPO / "examples/code_gen.json"), "--rate", "2.57", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    jsonschema.validate(report, json.loads((REPO / "docs/report.schema.json").read_text()))
    online = report["online"]
    assert 0 < online["gpu_utilization"] < 1 and online["ttft_s"]["p90"] > 0
    assert report["energy_kwh"]["estimate"] == pytest.approx(online["busy_kwh"] + online["idle_kwh"])
    assert report["site"]["facility_kwh"] == pytest.approx(report["energy_kwh"]["estimate"] * report["site"]["pue"])
    offline = json.loads(runner.invoke(app, ["--profile", str(REPO / "examples/code_gen.json"), "--json"]).output)
    assert report["energy_kwh"]["estimate"] > offline["energy_kwh"]["estimate"]  # partial batches and idle cost more
    png = tmp_path / "s.png"
    result = runner.invoke(app, ["sweep-rate", "--profile", str(REPO / "examples/code_gen.json"), "--rates", "1,8",
                                 "--max-gpus", "2", "--plot", str(png), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert len(out["points"]) == 4 and set(out["best_gpus"]) == {"1.0", "8.0"}
    assert not (tmp_path / "sweep_rate.png").exists()
    assert png.read_bytes()[:4] == b"\x89PNG"
    bad = runner.invoke(app, ["--profile", str(REPO / "examples/code_gen.json"), "--rate", "0"])
    assert bad.exit_code == 2 and "--rate" in bad.output

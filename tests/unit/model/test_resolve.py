"""`resolve(card, deployment)` as a table: each deployment's kind, source GPU, route and interval, or its refusal.

The expected bounds are read from the shipped card itself: what the resolver must do is pick the right held-out
score (and widen or add it as stated), not reproduce numbers. Every transfer's interval, and the extrapolation's, is
at least the band of its measured p90 error (issue 25: a transfer never answers with an interval narrower than its
measured error; before, the card's lopsided conformal bounds were used as they were).
"""

import math

import pytest

from energy_predict.architectures import REGISTRY
from energy_predict.contracts.card import ModelCard
from energy_predict.contracts.keys import FitKey
from energy_predict.gpus import CATALOG
from energy_predict.model.measured_error import NEVER_MEASURED_GPU
from energy_predict.model.resolution import Refusal
from energy_predict.model.resolve import resolve
from energy_predict.model.transfer import OTHER_GENERATION_WIDENING, SAME_GENERATION_WIDENING
from energy_predict.serving import Deployment, Serving
from tests.conftest import REPO

CARD = ModelCard.model_validate_json((REPO / "artifacts" / "models" / "default" / "card.json").read_bytes())
H100, H200 = "H100-SXM-80GB", "H200-SXM-141GB"
GRAPHS, EAGER, HF = Serving("vllm", cuda_graphs=True), Serving("vllm", cuda_graphs=False), Serving("hf")
IN_DOMAIN = tuple(CARD.interval.log_bounds)
LAW = next(law for law in CARD.transfer.tp if law.gpu == H100)


def covered(bounds, p90: float) -> tuple[float, float]:
    """`bounds`, widened where narrower to measured / predicted in 1 / (1 + p90) .. 1 / (1 - p90)."""
    return min(bounds[0], -math.log(1 + p90)), max(bounds[1], -math.log(1 - p90))


GPU_T = covered(CARD.transfer.gpu.log_bounds, CARD.transfer.gpu.p90_ape)
EXTRA = covered(CARD.extrapolation.log_bounds, CARD.extrapolation.p90_ape)


def datasheet(factor: float) -> tuple[float, float]:
    """The leave-one-GPU-out interval x the stated factor, at least the error measured on published B200 runs."""
    return covered(times(factor, CARD.transfer.gpu.log_bounds), NEVER_MEASURED_GPU.p90_ape)


def lomo(family: str, gpu: str, serving: Serving = GRAPHS) -> tuple[float, float]:
    """The card's leave-one-model-out interval of a transfer family at one fit key (its stated wider rule where the
    pool is too thin to cover itself), at least its p90 error."""
    here = CARD.transfer.model[family].at(FitKey.of(gpu, serving))
    return covered(here.interval(), here.p90_ape)


def times(factor: float, bounds) -> tuple[float, float]:
    return factor * bounds[0], factor * bounds[1]


def plus(*bounds) -> tuple[float, float]:
    return sum(b[0] for b in bounds), sum(b[1] for b in bounds)


def law_bounds(widen: float = 1.0) -> tuple[float, float]:
    """The law's interval, never narrower than the in-domain one, widened beyond the largest measured degree."""
    return times(widen, covered((min(LAW.log_bounds[0], IN_DOMAIN[0]), max(LAW.log_bounds[1], IN_DOMAIN[1])),
                                LAW.p90_ape))


def dep(model: str, gpu: str, serving: Serving = GRAPHS) -> Deployment:
    return Deployment(REGISTRY[model], CATALOG[gpu], serving, serving.tensor_parallel)


# (case, deployment, kind, source GPU, route (gpu transfer, TP law, model transfer), interval log bounds)
ANSWERED = [
    ("measured", dep("Llama-3.1-8B", H100), "measured", H100, (None, False, None), IN_DOMAIN),
    ("measured on the other GPU", dep("Llama-3.1-8B", H200, EAGER), "measured", H200, (None, False, None), IN_DOMAIN),
    ("measured mixture of experts", dep("OLMoE-1B-7B", H100), "measured", H100, (None, False, None), IN_DOMAIN),
    ("measured degree", dep("Llama-3.1-8B", H100, GRAPHS.with_(tensor_parallel=4)), "measured", H100,
     (None, False, None), IN_DOMAIN),
    ("by GPU: sibling", dep("Llama-3.1-8B", H200, Serving("hf", compile=True)), "transferred", H100,
     ("sibling", False, None), GPU_T),
    ("by TP law: a model of the law at an unmeasured degree", dep("OLMo-7B", H100, GRAPHS.with_(tensor_parallel=2)),
     "transferred", H100, (None, True, None), law_bounds()),
    ("by TP law: extrapolated beyond the measured degrees", dep("Llama-3.1-8B", H100, GRAPHS.with_(tensor_parallel=8)),
     "transferred", H100, (None, True, None), law_bounds(math.log2(8) / math.log2(4))),
    ("by model family: dense", dep("Mistral-7B-v0.3", H100), "transferred", H100, (None, False, "vllm"),
     lomo("vllm", H100)),
    ("by model family: on the other GPU", dep("Mistral-7B-v0.3", H200), "transferred", H200, (None, False, "vllm"),
     lomo("vllm", H200)),
    ("by model family: mixture of experts", dep("Mixtral-8x7B", H100), "transferred", H100,
     (None, False, "vllm-moe"), lomo("vllm-moe", H100)),
    ("datasheet GPU: another generation", dep("Llama-3.1-8B", "A100-SXM-80GB"), "transferred", H100,
     ("datasheet", False, None), datasheet(OTHER_GENERATION_WIDENING)),
    ("datasheet GPU: nearest by bandwidth", dep("Llama-3.1-8B", "B200"), "transferred", H200,
     ("datasheet", False, None), datasheet(OTHER_GENERATION_WIDENING)),
    ("datasheet GPU: same generation", dep("Llama-3.1-8B", "H100-PCIe-80GB"), "transferred", H100,
     ("datasheet", False, None), datasheet(SAME_GENERATION_WIDENING)),
    ("datasheet GPU and model family", dep("Mistral-7B-v0.3", "L40S"), "transferred", H100,
     ("datasheet", False, "vllm"), plus(datasheet(OTHER_GENERATION_WIDENING), lomo("vllm", H100))),
]


@pytest.mark.parametrize(("case", "deployment", "kind", "source", "route", "bounds"), ANSWERED,
                         ids=[row[0] for row in ANSWERED])
def test_resolve_answers(case, deployment, kind, source, route, bounds):
    r = resolve(CARD, deployment)
    assert (r.kind, r.source_gpu) == (kind, source)
    assert (r.route.gpu_transfer, r.route.tp_law is not None, r.route.model_transfer) == route
    assert r.route.key == FitKey.of(source, deployment.serving)
    assert r.bounds == pytest.approx(bounds)
    assert r.bounds[0] < 0 < r.bounds[1] and r.reasons
    assert r.idle_measured == (route[0] != "datasheet")
    # beyond the measured ranges the extrapolation error adds on top of whatever interval the route carries
    assert r.extrapolation_bounds == pytest.approx(plus(bounds, EXTRA, times(-1, IN_DOMAIN)) if kind != "measured"
                                                   else EXTRA)


def test_an_option_moves_the_greedy_resolution_by_its_rule():
    beam = dep("Llama-3.1-8B", H100, Serving("hf", decoding="beam", beam_width=4))
    greedy, option = resolve(CARD, beam.base), CARD.options.decoding[0]
    r = resolve(CARD, beam)
    assert (option.framework, option.decoding) == ("hf", "beam")
    assert (r.kind, r.source_gpu, r.route.option) == ("measured", H100, "decoding")
    assert r.bounds == pytest.approx(plus(greedy.bounds, option.held_out.log_bounds))
    assert r.held_out.adds_to == greedy.held_out and r.ranges.batch_size == tuple(option.batch_size)


REFUSED = [
    ("fp8 on a chip without fp8", dep("Llama-3.1-8B", "A100-SXM-80GB", GRAPHS.with_(quantization="fp8")),
     "serving.quantization", "no fp8 tensor cores"),
    ("tensor parallelism to a GPU never measured", dep("Llama-3.1-8B", "A100-SXM-80GB",
                                                       GRAPHS.with_(tensor_parallel=2)),
     "serving.tensor_parallel", "not transferred to it"),
    ("a configuration no GPU measured", dep("Llama-3.1-8B", "L40S", Serving("vllm", cuda_graphs=False, compile=True)),
     "serving", "no GPU has a fitted model"),
    ("a configuration not measured here", dep("Llama-3.1-8B", H100, Serving("hf", compile=True, quantization="fp8")),
     "serving", "no measurements for framework=hf"),
    ("beyond one node", dep("Llama-3.1-8B", H100, GRAPHS.with_(tensor_parallel=16)), "serving.tensor_parallel",
     "beyond one node's 8 GPUs"),
    ("a degree without a law", dep("Llama-3.1-8B", H200, GRAPHS.with_(quantization="fp8", tensor_parallel=4)),
     "serving.tensor_parallel", "fewer than three degrees"),
    ("a mixture of experts under the dense law", dep("Qwen3-30B-A3B", H100, GRAPHS.with_(tensor_parallel=8)),
     "serving.tensor_parallel", "mixture of experts"),
    ("a model transfer too far", dep("Mistral-7B-v0.3", H100, GRAPHS.with_(tensor_parallel=4)), "model",
     "too far to answer"),
    ("a model transfer with no peers", dep("Llama-3.2-1B", H100, EAGER), "model", "no held-out error stands"),
    ("beam search under vLLM", dep("Llama-3.1-8B", H100, GRAPHS.with_(decoding="beam", beam_width=4)),
     "serving.decoding", "no beam search"),
]


@pytest.mark.parametrize(("case", "deployment", "field", "problem"), REFUSED, ids=[row[0] for row in REFUSED])
def test_resolve_refuses_with_one_error_naming_the_field_and_the_fix(case, deployment, field, problem):
    with pytest.raises(Refusal) as refused:
        resolve(CARD, deployment)
    assert refused.value.field == field and problem in refused.value.problem and refused.value.fix
    assert str(refused.value) == f"{field}: {refused.value.problem}; {refused.value.fix}"


@pytest.mark.parametrize(("case", "deployment", "kind", "source", "route", "bounds"),
                         [row for row in ANSWERED if row[2] == "transferred"],
                         ids=[row[0] for row in ANSWERED if row[2] == "transferred"])
def test_a_transferred_interval_is_never_narrower_than_the_measured_error_of_its_transfer(
        case, deployment, kind, source, route, bounds):
    r = resolve(CARD, deployment)
    held = r.held_out
    while held is not None:  # every step's p90 error lies inside the answer's interval (their bounds add)
        for score in held.scores:
            assert math.exp(r.bounds[0]) <= 1 / (1 + score.p90_ape) + 1e-9
            assert math.exp(r.bounds[1]) >= 1 / (1 - score.p90_ape) - 1e-9
        held = held.adds_to


def test_a_gpu_never_measured_says_its_interval_comes_from_the_published_b200_error():
    r = resolve(CARD, dep("Llama-3.1-8B", "B200"))
    assert NEVER_MEASURED_GPU in r.held_out.scores and "published ML.ENERGY B200 points" in " ".join(r.reasons)
    assert math.exp(r.bounds[1]) == pytest.approx(1 / (1 - NEVER_MEASURED_GPU.p90_ape))  # measured ~2x the estimate


@pytest.mark.parametrize(("family", "serving"), [("vllm", GRAPHS.with_(tensor_parallel=4))])
def test_a_pool_of_two_models_that_never_covers_the_other_carries_the_stated_wider_interval(family, serving):
    """Issue 25/26: at H100 vLLM graphs TP4 the dense pool rests on two models whose cross-model coverage is 0.0
    (so did the TP1 mixtures of experts until Qwen1.5-MoE was measured); such a pool's interval is at least
    symmetric at its largest held-out log error and the family pool's bounds, and the card says which rule set it."""
    family_bounds = CARD.transfer.model[family].log_bounds
    here = CARD.transfer.model[family].at(FitKey.of(H100, serving))
    assert len(here.models) == 2 and here.coverage_90 == 0.0  # the thin pool the rule is for
    # a conformal bound of a pool is one of its residuals, so the largest |log error| is at least either bound
    worst = max(-here.log_bounds[0], here.log_bounds[1])
    assert here.max_abs_log_error >= worst
    lo, hi = here.interval()
    assert lo <= min(-here.max_abs_log_error, family_bounds[0]) and hi >= max(here.max_abs_log_error,
                                                                              family_bounds[1])
    assert "2 models (fewer than 3" in here.interval_rule
    if family == "vllm":  # TP4 dense misses by a median 140%: refused before any interval (its rule still stored)
        return
    r = resolve(CARD, dep("Mixtral-8x7B", H100))
    assert r.bounds[0] <= -worst and r.bounds[1] >= worst
    assert r.bounds[0] <= family_bounds[0] and r.bounds[1] >= family_bounds[1]
    assert "too thin to size its own interval" in r.reasons[-1] and "2 models (fewer than 3" in r.reasons[-1]


@pytest.mark.parametrize(("family", "model"), [("vllm", "Mistral-7B-v0.3"), ("vllm-moe", "Mixtral-8x7B")])
def test_a_pool_that_covers_itself_keeps_its_own_interval(family, model):
    here = CARD.transfer.model[family].at(FitKey.of(H100, GRAPHS))
    assert len(here.models) >= 3 and here.coverage_90 >= 0.5
    assert here.interval_rule is None and here.interval() == tuple(here.log_bounds)
    r = resolve(CARD, dep(model, H100))
    assert "too thin" not in " ".join(r.reasons)
    assert r.bounds[0] <= here.log_bounds[0] and r.bounds[1] >= here.log_bounds[1]


@pytest.mark.parametrize(("deployment", "source"), [
    (dep("Llama-3.1-8B", H100, GRAPHS.with_(quantization="fp8", tensor_parallel=2)), H200),  # from its sibling
    (dep("Llama-3.1-8B", H200, GRAPHS.with_(quantization="fp8", tensor_parallel=2)), None),  # on the GPU asked for
], ids=["sibling", "same GPU"])
def test_a_model_refusal_names_the_gpu_asked_for_and_the_transfer_source_it_considered(deployment, source):
    """H100 TP2 fp8 rests on the H200's cells, where Llama-3.1-8B was not measured at TP2 fp8: the refusal is about the
    H100 (the GPU asked for) and says the H200 was the source a transfer would start from; before, it named the H200
    alone, and `plan` printed that under an H100 label."""
    with pytest.raises(Refusal) as refused:
        resolve(CARD, deployment)
    problem = refused.value.problem
    assert refused.value.field == "model" and "no held-out error stands" in problem
    assert problem.startswith(f"Llama-3.1-8B was not measured with vllm graphs fp8 tp2 on {deployment.gpu.name}")
    if source is None:
        assert H100 not in problem
    else:
        assert f"nor on {source} (the sibling GPU a transfer to {deployment.gpu.name} would start from)" in problem


def test_a_model_smaller_than_every_peer_the_transfer_was_scored_on_says_it_extrapolates_in_size():
    """Granite-1B-A400M (0.43B active) against the fitted MoEs (1.3-3.4B active): the leave-one-model-out error
    says nothing out there, so the answer says so; a model inside its peers' range carries no such note."""
    from energy_predict.architectures import resolve_architecture

    granite = Deployment(resolve_architecture("ibm-granite/granite-3.1-1b-a400m-instruct"), CATALOG[H100], GRAPHS, 1)
    small = " ".join(resolve(CARD, granite).reasons)
    assert "fewer than any model the error was scored on" in small and "extrapolates in size" in small
    assert "extrapolates in size" not in " ".join(resolve(CARD, dep("Mistral-7B-v0.3", H100)).reasons)


def test_the_size_note_reads_its_peers_by_name_never_from_the_working_directory(tmp_path, monkeypatch):
    """A peer named `Qwen/Qwen1.5-MoE-A2.7B` was first tried as a relative path: a broken config.json there made an
    unrelated Granite answer exit 2, and a valid one of another shape would have quoted wrong sizes."""
    from energy_predict.architectures import known_architecture, resolve_architecture

    granite = Deployment(resolve_architecture("ibm-granite/granite-3.1-1b-a400m-instruct"), CATALOG[H100], GRAPHS, 1)
    expected = " ".join(resolve(CARD, granite).reasons)
    trap = tmp_path / "Qwen" / "Qwen1.5-MoE-A2.7B"
    trap.mkdir(parents=True)
    (trap / "config.json").write_text('{"model_type": "llama"}')
    monkeypatch.chdir(tmp_path)
    assert " ".join(resolve(CARD, granite).reasons) == expected
    assert known_architecture("Qwen/Qwen1.5-MoE-A2.7B").active_params > 1e9
    with pytest.raises(KeyError):
        known_architecture(str(trap))

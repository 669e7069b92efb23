"""The planner's GPU validation (issue 27, item 6): the ranking arithmetic, and the page from synthetic records."""

import json

import numpy as np
import pytest

from energy_predict.analysis.plan_validation import (
    Measured,
    Planned,
    compare,
    measured_of,
    plan_replay,
    ranks,
    spearman,
    write_page,
)
from energy_predict.predict.replays import acceptance_of_synthetic, serving_of_replay


def test_synthetic_acceptance_becomes_accepted_over_drafted():
    assert acceptance_of_synthetic(0.7, 4) == pytest.approx((0.7 + 0.49 + 0.343 + 0.2401) / 4)
    assert acceptance_of_synthetic(1.0, 4) == 1.0 and acceptance_of_synthetic(0.0, 3) == 0.0
    with pytest.raises(ValueError):
        acceptance_of_synthetic(1.5, 4)
    spec = {"name": "s", "framework": "vllm",
            "speculative": {"draft": "Llama-3.2-1B", "draft_tokens": 4, "synthetic_acceptance": 0.7}}
    assert serving_of_replay(spec).speculative.acceptance_rate == pytest.approx(0.443275)
    with pytest.raises(ValueError, match="synthetic_acceptance"):
        serving_of_replay({**spec, "speculative": {"draft": "Llama-3.2-1B", "draft_tokens": 4}})


def test_ranks_and_spearman():
    assert ranks([3.0, 1.0, 2.0]).tolist() == [3, 1, 2]
    assert ranks([1.0, 2.0, 2.0, 5.0]).tolist() == [1, 2.5, 2.5, 4]  # ties share their mean rank
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # one swap of neighbours among 5: 1 - 6 * 2 / (5 * 24) = 0.9 (no ties: the textbook formula)
    assert spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.9)
    # with a tie: the Pearson correlation of the mean ranks
    a, b = [1, 2, 3, 4], [1, 2, 2, 3]
    assert spearman(a, b) == pytest.approx(np.corrcoef([1, 2, 3, 4], [1, 2.5, 2.5, 4])[0, 1])
    assert spearman([1, 2], [5, 5]) is None and spearman([1], [2]) is None


def m(config, j, spread=None):
    return Measured(config, j, spread, 1)


def p(config, j, low, high, feasible=True):
    return Planned(config, j, low, high, "measured", feasible)


def test_a_planner_that_picks_the_measured_best():
    v = compare([m("default", 100), m("fp8", 80), m("spec", 90), m("cap8", 110)],
                [p("default", 98, 80, 110), p("fp8", 78, 60, 95), p("spec", 85, 50, 120), p("cap8", 105, 90, 120)])
    assert v.configs == ["fp8", "spec", "default", "cap8"] and v.measured_best == "fp8" and v.planned_top == "fp8"
    assert v.top1 and v.within_interval and v.rho == pytest.approx(1.0)
    assert v.measured_saving_pct == pytest.approx(20.0) and v.planned_saving_pct == pytest.approx(100 * (1 - 78 / 98))


def test_a_wrong_top_within_its_interval_and_one_beyond_it():
    measured = [m("default", 100), m("fp8", 80), m("spec", 86)]
    # the planner's top is spec: measured 7.5% above fp8, its interval allows +20% (102 / 85)
    v = compare(measured, [p("default", 98, 80, 110), p("fp8", 90, 70, 100), p("spec", 85, 70, 102)])
    assert v.planned_top == "spec" and not v.top1 and v.within_interval
    assert v.gap_pct == pytest.approx(7.5) and v.allowed_pct == pytest.approx(100 * (102 / 85 - 1))
    assert v.measured_saving_pct == pytest.approx(14.0)
    assert v.rho == pytest.approx(spearman([100, 80, 86], [98, 90, 85]))
    # a tight interval (+2%) does not cover the 7.5% it missed by
    v = compare(measured, [p("default", 98, 80, 110), p("fp8", 90, 70, 100), p("spec", 85, 84, 86.7)])
    assert not v.top1 and v.within_interval is False


def test_an_infeasible_row_is_never_the_planners_top_and_refusals_are_left_out():
    v = compare([m("default", 100), m("cap8", 90), m("fp8", 95), m("spec", 99)],
                [p("default", 98, 80, 110), p("cap8", 70, 60, 80, feasible=False), p("fp8", 90, 70, 100),
                 Planned("spec", None, None, None, None, False, refused="no basis")])
    assert v.planned_top == "fp8" and v.measured_best == "cap8" and not v.top1
    assert v.left_out == ["spec"] and "spec" not in v.configs
    assert v.planned_rank["cap8"] == 1  # ranked all the same: only the top must meet the targets


def record(config: dict, energy_j: list[float], n: int = 24, rate: float = 2.0) -> dict:
    """A replay record as `energy-predict replay --serving` writes it (the fields the analysis reads)."""
    rng = np.random.default_rng(0)
    arrivals = np.sort(rng.uniform(0, n / rate, n))
    arrivals -= arrivals[0]
    return {"name": f"vllm-t-{config['name']}-online-{rate:g}", "trace": "t.csv", "model": "Llama-3.1-8B",
            "taken": "2026-12-08T10:00:00+00:00", "backend": "vllm", "mode": "online", "rate_per_s": rate,
            "arrivals": "trace", "config": config, "meter": {"gpus": [{"name": "NVIDIA H100 80GB HBM3"}]},
            "loaded_idle_power_w": 120.0, "runs": [{"energy_j": e, "duration_s": n / rate} for e in energy_j],
            "requests": {"input_tokens": rng.integers(100, 1500, n).tolist(),
                         "output_tokens": rng.integers(10, 200, n).tolist(), "arrival_s": arrivals.tolist()}}


DEFAULT = {"name": "default", "framework": "vllm", "max_batch": 256, "max_num_batched_tokens": 8192}
FP8 = {**DEFAULT, "name": "fp8", "quantization": "fp8"}
SPEC = {**DEFAULT, "name": "spec", "speculative": {"draft": "Llama-3.2-1B", "draft_tokens": 4,
                                                   "synthetic_acceptance": 0.7}}


def test_measured_energy_is_the_mean_run_per_request():
    r = record(DEFAULT, [2400.0, 2600.0])
    got = measured_of(r)
    assert got.energy_per_request_j == pytest.approx(2500.0 / 24) and got.spread_pct == pytest.approx(8.0)
    with pytest.raises(ValueError):
        measured_of({**r, "runs": [{"energy_j": None}]})


def test_the_planner_answers_each_replayed_configuration(default_model):
    answers = {c["name"]: plan_replay(record(c, [1.0]), default_model) for c in (DEFAULT, FP8, SPEC)}
    for a in answers.values():
        assert a.refused is None, a.refused
        assert 0 < a.low_j <= a.energy_per_request_j <= a.high_j and a.basis
    assert answers["fp8"].energy_per_request_j < answers["default"].energy_per_request_j  # fp8 reads half the bytes
    refused = plan_replay(record({**SPEC, "speculative": {"draft": "Llama-3.2-1B", "draft_tokens": 4}}, [1.0]),
                          default_model)
    assert refused.energy_per_request_j is None and "synthetic_acceptance" in refused.refused


def test_the_page_from_records_and_without(tmp_path, default_model):
    page = tmp_path / "plan-validation.md"
    assert "not yet measured" in write_page(tmp_path / "none", page)
    assert "**Not yet measured.**" in page.read_text()
    folder = tmp_path / "plan-validation"
    folder.mkdir()
    for c, e in ((DEFAULT, 2400.0), (FP8, 2000.0), (SPEC, 2200.0)):
        (folder / f"{c['name']}.json").write_text(json.dumps(record(c, [e])))
    assert "wrote" in write_page(folder, page, default_model)
    text = page.read_text()
    assert "| fp8 | 83.3 |" in text and "| default (default) | 100.0 |" in text  # measured J/request, best first
    v = compare([measured_of(json.loads(f.read_text())) for f in sorted(folder.iterdir())],
                [plan_replay(json.loads(f.read_text()), default_model) for f in sorted(folder.iterdir())])
    assert f"Spearman rank correlation (measured against planned), 3 configurations: {v.rho:+.2f}." in text
    assert f"top-1 agreement: {'yes' if v.top1 else 'no'}" in text
    assert f"measured {v.measured_saving_pct:+.1f}%" in text and v.measured_saving_pct in (
        pytest.approx(100 * (1 - 2000 / 2400)), pytest.approx(100 * (1 - 2200 / 2400)))
    (folder / "other.json").write_text(json.dumps(record(DEFAULT, [1.0], rate=3.0) | {"name": "x"}))
    with pytest.raises(ValueError, match="not one workload at one rate"):
        write_page(folder, page, default_model)


@pytest.fixture(scope="module")
def default_model():
    from energy_predict.model.store import load_default_model

    return load_default_model()

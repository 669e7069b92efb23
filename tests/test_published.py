"""The published-measurements benchmark: its data files validate, and its scoring is right on hand-made examples.

No tool call here: the benchmark's answers come from `ask_tool`, which these tests replace with a fake.
"""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from energy_predict.architectures import resolve_architecture

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("published_benchmark", REPO / "benchmarks" / "published.py")
pub = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = pub  # dataclasses look their module up while the class is built
SPEC.loader.exec_module(pub)


# ---------------------------------------------------------------- the data files

def test_every_data_file_validates_and_every_point_has_an_address_and_units():
    sources, points, ratios = pub.load_data()
    assert {s.id for s in sources} == {"mlenergy-v3", "argonne-llm-inference-bench", "fernandez2025"}
    assert len(points) >= 300 and len(ratios) >= 5
    ids = [p.id for p in points] + [r.id for r in ratios]
    assert len(ids) == len(set(ids))
    known = {s.id for s in sources}
    for p in points:
        assert p.source in known and p.address.startswith("https://")
        assert p.deployment.engine_config_address.startswith("https://")
        assert "energy_per_output_token" in p.measured
        for q in p.measured.values():
            assert q.unit.strip() and math.isfinite(q.value) and q.value > 0
        h = p.workload.output_histogram
        if h is not None:
            assert len(h.edges) == len(h.counts) + 1 and sum(h.counts) == p.workload.requests
    for r in ratios:
        assert r.source in known and r.address.startswith("https://") and r.unit.strip()
    for s in sources:
        assert s.address.startswith("https://")
        assert (s.commit is None) == (s.repository is None)  # a repository is cited at a commit


def test_the_data_files_were_written_from_their_sources_at_the_commits_they_name():
    for path in (pub.DATA / "mlenergy_v3.json", pub.DATA / "argonne_llm_inference_bench.json"):
        data = json.loads(path.read_text())
        commit = data["source"]["commit"]
        assert all(commit in p["address"] for p in data["points"])


def test_the_config_files_give_the_published_sizes():
    """Each config.json the points name resolves, at the parameter count its model is published with."""
    billions = {"Qwen3-8B": 8.2, "Qwen3-14B": 14.8, "Qwen3-32B": 32.8, "Qwen3-235B-A22B": 235.1,
                "Llama-3.1-405B": 405.9, "Llama-2-7B": 6.7}
    for name, size in billions.items():
        arch = resolve_architecture(str(pub.DATA / "configs" / name / "config.json"))
        # a config of a shipped Hugging Face id's shape is named by that id (Qwen/Qwen3-8B)
        assert arch.name.split("/")[-1] == name and arch.total_params / 1e9 == pytest.approx(size, abs=0.1)
    _, points, _ = pub.load_data()
    for p in points:
        if p.deployment.tool_model.startswith("configs/"):
            assert (pub.DATA / pub.tool_model_spec(p)).is_file()


# ---------------------------------------------------------------- scores (pure)

def test_ratio_and_error():
    assert pub.ratio(1.2, 1.0) == pytest.approx(1.2)
    assert pub.abs_error(0.8) == pytest.approx(0.2) and pub.abs_error(1.25) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        pub.ratio(1.0, 0.0)
    with pytest.raises(ValueError):
        pub.ratio(float("nan"), 1.0)


def test_direction_agreement_leaves_out_published_ratios_too_close_to_call():
    assert pub.direction(1.10) == 1 and pub.direction(0.90) == -1 and pub.direction(1.02) == 0
    assert pub.direction_agrees(1.2, 1.1) is True
    assert pub.direction_agrees(0.9, 1.1) is False
    assert pub.direction_agrees(1.01, 0.86) is False  # the tool's "flat" against a published fall is wrong
    assert pub.direction_agrees(0.5, 1.02) is None  # published within 3% of 1: no direction to agree with


def test_coverage_and_summaries_on_a_tiny_example():
    rows = [{"ratio": 1.1, "covered": True, "basis": "measured"},
            {"ratio": 0.7, "covered": False, "basis": "transferred"},
            {"ratio": 1.0, "covered": True, "basis": "measured"},
            {"refused": "no", "basis": "refused"}]
    s = pub.summarize_points(rows)
    assert (s["points"], s["answered"], s["refused"]) == (4, 3, 1)
    assert s["median_abs_error"] == pytest.approx(0.1)
    assert s["median_ratio"] == pytest.approx(1.0)
    assert s["coverage"] == pytest.approx(2 / 3)
    assert s["basis"] == {"measured": 2, "transferred": 1}
    assert pub.covered(1.0, 0.9, 1.1) and not pub.covered(1.2, 0.9, 1.1)
    pairs = [{"agrees": True, "ratio_error": 1.05}, {"agrees": False, "ratio_error": 0.5},
             {"agrees": None, "ratio_error": 1.2}, {"refused": "x"}]
    p = pub.summarize_pairs(pairs)
    assert (p["pairs"], p["answered"], p["direction_called"]) == (4, 3, 2)
    assert p["direction_agreement"] == pytest.approx(0.5)
    assert p["median_abs_ratio_error"] == pytest.approx(0.2)


def _point(model, gpu, gpus, seqs, value, precision="bfloat16", source="mlenergy-v3", task="lm-arena-chat"):
    tool_gpu = {"H100": "H100-SXM-80GB", "B200": "B200"}[gpu]
    return pub.Point.model_validate({
        "id": f"{source}/{task}/{model}/{gpu}x{gpus}/seqs{seqs}", "source": source, "address": "https://x",
        "deployment": {"model": f"org/{model}", "tool_model": "Llama-3.1-8B", "architecture": "Dense Transformer",
                       "gpu": gpu, "tool_gpu": tool_gpu, "gpus": gpus, "tensor_parallel": gpus,
                       "expert_parallel": False, "precision": precision, "engine": "vLLM", "cuda_graphs": True,
                       "max_num_seqs": seqs, "max_num_batched_tokens": 8192, "serving": "closed loop",
                       "decoding": "greedy", "engine_config_address": "https://x"},
        "workload": {"task": task, "dataset": "d", "requests": 4, "input_tokens_mean": None,
                     "output_tokens_mean": 300.0, "output_histogram": {"edges": [2.0, 200.0, 400.5],
                                                                         "counts": [1, 3]}},
        "measured": {"energy_per_output_token": {"value": value, "unit": "J per output token"}}})


def test_pairs_are_the_comparisons_a_planner_makes():
    points = [_point("Llama-3.1-8B-Instruct", "H100", 1, 8, 0.45), _point("Llama-3.1-8B-Instruct", "B200", 1, 8, 0.39),
              _point("Llama-3.1-8B-Instruct", "H100", 1, 64, 0.12), _point("Llama-3.1-8B-Instruct", "H100", 2, 8, 0.6),
              _point("Qwen3-30B-A3B-Instruct-2507", "H100", 1, 8, 0.65), _point("Qwen3-8B", "H100", 1, 8, 0.44),
              _point("Qwen3-14B", "H100", 1, 8, 0.7), _point("Qwen3-14B-FP8", "H100", 1, 8, 0.5, "fp8")]
    pairs = {(p.kind, p.numerator.split("/", 2)[2], p.denominator.split("/", 2)[2]) for p in pub.make_pairs(points)}
    assert pairs == {
        ("gpu", "Llama-3.1-8B-Instruct/B200x1/seqs8", "Llama-3.1-8B-Instruct/H100x1/seqs8"),
        ("gpu", "Llama-3.1-8B-Instruct/B200x1/seqs8", "Llama-3.1-8B-Instruct/H100x2/seqs8"),  # as deployed
        ("tp", "Llama-3.1-8B-Instruct/H100x2/seqs8", "Llama-3.1-8B-Instruct/H100x1/seqs8"),
        ("concurrency", "Llama-3.1-8B-Instruct/H100x1/seqs64", "Llama-3.1-8B-Instruct/H100x1/seqs8"),
        ("moe/dense", "Qwen3-30B-A3B-Instruct-2507/H100x1/seqs8", "Qwen3-8B/H100x1/seqs8"),
        ("model size", "Qwen3-14B/H100x1/seqs8", "Qwen3-8B/H100x1/seqs8"),
        ("fp8/bf16", "Qwen3-14B-FP8/H100x1/seqs8", "Qwen3-14B/H100x1/seqs8"),
    }


def test_score_pairs_divides_the_predictions_as_the_published_values():
    rows = {"a": {"published": 2.0, "predicted": 3.0, "basis": "measured"},
            "b": {"published": 1.0, "predicted": 2.0, "basis": "transferred"},
            "c": {"refused": "B200 was never measured"}}
    out = pub.score_pairs([pub.Pair("gpu", "a/b", "a", "b"), pub.Pair("gpu", "c/b", "c", "b")], rows)
    assert out[0]["published"] == 2.0 and out[0]["predicted"] == 1.5
    assert out[0]["ratio_error"] == pytest.approx(0.75) and out[0]["agrees"] is True
    assert out[1]["refused"].startswith("B200")


def test_workload_tokens_keep_the_published_histogram():
    p = _point("Llama-3.1-8B-Instruct", "H100", 1, 8, 0.45)
    tokens, requests = pub.workload_tokens(p, 256)
    assert requests == 4 and tokens["output_edges"] == [2, 200, 400] and tokens["counts"] == [[1.0, 3.0]]
    assert tokens["output_mean"] == [[101.0, 300.25]] and tokens["input_edges"] == [255, 256]
    mean_only, _ = pub.workload_tokens(p, 256, histogram=False)
    assert mean_only == {"kind": "samples", "samples": [[256, 300]]}
    assert pub.input_tokens_for(p) == pub.INPUT_ASSUMED_TOKENS["lm-arena-chat"]


def test_closed_loop_runs_share_their_ramp_up_and_drain():
    tokens, _ = pub.workload_tokens(_point("Llama-3.1-8B-Instruct", "H100", 1, 8, 0.45), 256)
    a, b = pub.closed_loop_requests(tokens, 8)
    assert len(a) == 32 and len(b) == 32 + 200
    assert a[:16] == b[:16] and a[16:] == b[-16:]
    assert {o for _, o in b} <= {101, 300}
    assert pub.closed_loop_requests(tokens, 8) == (a, b)  # seeded


def test_argonne_prediction_is_built_over_the_sources_window():
    """Mean power over the batch and the idle second after it, times the batch's time, per output token."""
    a = pub.Answer(energy_j=1000.0, low_j=800.0, high_j=1200.0, output_tokens=100.0, busy_s=2.0, idle_w=100.0,
                   basis="measured")
    p = _point("Meta-Llama-3-8B", "H100", 1, 1, 1.0, source="argonne-llm-inference-bench")
    est, low, high = pub.predicted_per_token(p, a)
    assert est == pytest.approx((1000 + 100 * 1.0) / (2 + 1) * 2 / 100)
    assert low / est == pytest.approx(0.8) and high / est == pytest.approx(1.2)
    ml = pub.predicted_per_token(_point("Llama-3.1-8B-Instruct", "H100", 1, 8, 0.45), a)
    assert ml == (10.0, 8.0, 12.0)


def test_run_scores_every_point_pair_and_refusal_with_a_fake_tool():
    """The whole pipeline on two points, with a tool that answers H100 and refuses B200."""
    points = [_point("Llama-3.1-8B-Instruct", "H100", 1, 8, 0.5), _point("Llama-3.1-8B-Instruct", "B200", 1, 8, 0.4)]

    def fake(q, model, modes=("offline",)):
        if q.gpu == "B200":
            return {m: pub.Answer(refused="B200 was never measured") for m in modes}
        return {m: pub.Answer(100.0 * (2 if m == "closed-loop" else 1), 80.0, 120.0, 200.0, 10.0, 1, 50.0, "measured",
                              "r") for m in modes}

    _, _, ratios = pub.load_data()
    col = pub.run(None, points, ratios[:1], fake)
    offline = {r["id"].split("/")[3]: r for r in col.points if r["mode"] == "offline"}
    assert offline["H100x1"]["ratio"] == pytest.approx(1.0) and offline["H100x1"]["covered"]
    assert offline["B200x1"]["refused"].startswith("B200")
    closed = [r for r in col.points if r["mode"] == "closed-loop"]
    assert len(closed) == 2 and closed[0]["ratio"] == pytest.approx(2.0)
    assert [r.get("refused") for r in col.pairs if r.get("mode") != "closed-loop"] == ["B200 was never measured"]
    assert col.reference[0]["predicted"] == pytest.approx(1.0)  # both sides answered alike by the fake
    s = pub.summaries(col)
    assert s["headline"]["answered_points"] == 1 and s["headline"]["refused_points"] == 1
    md = pub.render({"columns": {"today": {"commit": "c", "created": "t", "runtime_s": 1.0, "cpu_s": 1.0,
                                           "summary": s, "refusals": pub.refusal_reasons(col),
                                           **pub.asdict(col)}},
                     "sources": [], "assumptions": pub.assumptions(), "targets": pub.TARGETS})
    assert "| published pairs: direction agreement | >= 90.0% |" in md


def test_reference_ratios_take_the_extreme_where_the_quote_says_up_to():
    side = {"model": "OLMo-1B", "tool_gpu": "H100-SXM-80GB", "framework": "vllm", "cuda_graphs": True,
            "compile": False, "tensor_parallel": 1, "batch": 1, "speculative": None}
    pair = pub.RatioPoint.model_validate({
        "id": "r", "source": "fernandez2025", "address": "https://x", "quantity": "energy", "unit": "ratio",
        "value": 1.5, "aggregate": "max", "grid": [1, 8, 32], "numerator": {**side, "model": "OLMoE-1B-7B"},
        "denominator": side, "workload": {"input_tokens": 512, "output_tokens": 128}, "what": "moe over dense"})

    def fake(q, model, modes=("offline",)):  # the MoE costs 1 + batch / 32 times the dense model
        e = 100.0 * (1 + q.max_batch / 32 if q.model == "OLMoE-1B-7B" else 1)
        return {"offline": pub.Answer(e, e, e, 1.0, 1.0, 1, 0.0, "measured", "")}

    r, bases, refused = pub.reference_ratio(pair, pair.numerator, None, fake)
    assert r == pytest.approx(2.0) and bases == {"measured"} and refused is None
    at = pair.model_copy(update={"aggregate": "min"})
    assert pub.reference_ratio(at, at.numerator, None, fake)[0] == pytest.approx(1 + 1 / 32)
    row = pub.score_reference([pair], None, fake)[0]
    assert row["ratio_error"] == pytest.approx(2.0 / 1.5) and row["agrees"] is True

    def refusing(q, model, modes=("offline",)):
        return {"offline": pub.Answer(refused="not measured")}

    assert pub.score_reference([pair], None, refusing)[0]["refused"] == "not measured"


# ---------------------------------------------------------------- the headline against issue 25's targets

def test_strict_direction_does_not_count_a_flat_tool_ratio_as_agreeing():
    """The headline rule asks only that the tool's ratio be on the published side of 1: 1.01 against a published 1.12
    agrees there. The strict rule asks the tool's ratio to call the direction too (beyond the same 3% band)."""
    assert pub.direction_agrees(1.01, 1.12) is True  # the lenient headline rule, unchanged
    assert pub.direction_agrees_strict(1.01, 1.12) is False
    assert pub.direction_agrees_strict(1.05, 1.12) is True and pub.direction_agrees_strict(0.96, 0.86) is True
    assert pub.direction_agrees_strict(1.20, 0.86) is False
    assert pub.direction_agrees_strict(0.5, 1.02) is None  # published too close to call: scored by neither rule
    rows = [{"agrees": True, "published": 1.12, "predicted": 1.01, "ratio_error": 0.9},
            {"agrees": True, "published": 0.86, "predicted": 0.80, "ratio_error": 0.93},
            {"agrees": None, "published": 1.01, "predicted": 1.3, "ratio_error": 1.29}, {"refused": "x"}]
    s = pub.summarize_pairs(rows)
    assert s["direction_agreement"] == pytest.approx(1.0) and s["direction_agreement_strict"] == pytest.approx(0.5)


def test_verdict_compares_the_unrounded_figure_with_its_target():
    assert pub.verdict(0.1035, 0.10, "<=") == "missed" and pub.verdict(0.0999, 0.10, "<=") == "met"
    assert pub.verdict(0.2044, 0.20, "<=") == "missed" and pub.verdict(0.80, 0.80, ">=") == "met"
    assert pub.verdict(None, 0.80, ">=") == "-"
    with pytest.raises(ValueError):
        pub.verdict(0.5, 0.5, "=")


def test_headline_prints_one_decimal_and_says_met_or_missed():
    """10.35% read as "10%" against a 10% target; it must read 10.4%, missed."""
    points = [_point("Llama-3.1-8B-Instruct", "H100", 1, 8, 0.5)]

    def fake(q, model, modes=("offline",)):
        return {m: pub.Answer(100.0, 80.0, 120.0, 200.0, 10.0, 1, 50.0, "measured", "r") for m in modes}

    col = pub.run(None, points, [], fake)
    s = pub.summaries(col)
    s["headline"].update(point_median_abs_error_measured_gpu=0.10351, point_median_abs_error_unmeasured_gpu=0.20437,
                         pair_direction_agreement=0.9435)
    md = pub.render({"columns": {"today": {"commit": "c", "created": "t", "runtime_s": 1.0, "cpu_s": 1.0,
                                           "summary": s, "refusals": {}, **pub.asdict(col)}},
                     "sources": [], "assumptions": [], "targets": pub.TARGETS})
    rows = {line.split(" | ")[0][2:]: line for line in md.splitlines() if line.startswith("| ")}
    assert "| <= 10.0% | 10.4% missed |" in rows["points on GPUs the model measured: median abs(error)"]
    assert "| <= 20.0% | 20.4% missed |" in rows["points on GPUs never measured: median abs(error)"]
    assert "| >= 90.0% | 94.3% met |" in rows["published pairs: direction agreement"]


def test_other_targets_are_read_from_the_committed_results():
    """In-domain held-out error, leave-one-GPU-out error and the card's term ranges, as the files say them."""
    other = pub.other_targets()
    by = {r["key"]: r for r in other}
    gpu = json.loads((pub.OUT / "gpu_transfer.json").read_text())["cells"]
    assert by["gpu_transfer_median"]["value"] == pytest.approx(gpu["median_ape"])
    assert by["gpu_transfer_p90"]["value"] == pytest.approx(gpu["p90_ape"])
    card = json.loads((REPO / "artifacts" / "models" / "default" / "card.json").read_text())
    vllm = [s["median_ape"] for s in card["held_out"] if s["backend"] == "vllm" and "model" not in s["scheme"]]
    assert sorted(r["value"] for k, r in by.items() if k.startswith("in_domain_vllm")) == pytest.approx(sorted(vllm))
    assert by["card_terms_out_of_range"]["target"] == 0
    terms = json.loads((pub.OUT / "physics_terms.json").read_text())
    assert by["energy_terms_above_limit"]["value"] == sum(
        (v["power_per_gpu_w"] or 0) > 700 for r in terms for v in r["rates"].values())


def test_card_term_check_flags_terms_outside_their_physical_range():
    ok = {"terms": [{"gpu": "H100-SXM-80GB", "serving": {}, "model": None,
                     "rates": {"step_weight_bytes": {"unit": "B/s", "rate": 3e12, "fraction_of_peak": 0.9},
                               "prefill_attention_flops": {"unit": "FLOP/s", "rate": None, "fraction_of_peak": None}},
                     "constants_s": {"steps": 0.001}, "degenerate": []}],
          "power": [{"gpu": "H100-SXM-80GB", "framework": "vllm", "idle_w": 120.0, "limit_w": 700.0, "busy": 0.1,
                     "memory": 0.5, "compute": 1.5}]}
    checked, problems = pub.card_term_problems(ok)
    assert checked == 6 and problems == []  # one rate with a fraction, one constant, three shares and the idle
    bad = json.loads(json.dumps(ok))
    bad["terms"][0]["rates"]["step_weight_bytes"]["fraction_of_peak"] = 1.2
    bad["terms"][0]["constants_s"]["steps"] = -0.001
    bad["terms"][0]["degenerate"] = ["decode_kv_bytes"]
    bad["power"][0]["compute"] = 3.5
    _, problems = pub.card_term_problems(bad)
    assert len(problems) == 4 and any("step_weight_bytes" in p and "1.20" in p for p in problems)


# ---------------------------------------------------------------- the external agreement band

H100_GRAPHS = {"gpu": "H100-SXM-80GB", "serving": {"framework": "vllm", "cuda_graphs": True, "compile": False,
                                                   "quantization": None, "tensor_parallel": 1, "decoding": "greedy",
                                                   "speculative": None}}


def test_log_ratio_band_is_the_range_below_20_points_and_the_5_95_quantiles_from_20():
    assert pub.log_ratio_band([0.1, -0.2, 0.3]) == ("min-max", -0.2, 0.3)
    stat, lo, hi = pub.log_ratio_band([i / 100 for i in range(21)])  # 0 .. 0.20
    assert stat == "5-95% quantiles" and lo == pytest.approx(0.01) and hi == pytest.approx(0.19)
    with pytest.raises(ValueError):
        pub.log_ratio_band([])


def test_agreement_bands_come_from_the_measured_answers_of_each_fit_key():
    """Published 0.5 and 0.6 J/token against a tool answering 0.5: the band is log(1.0) .. log(1.2) at the H100's
    key; the refused B200 and an extrapolated answer add nothing; the file validates as the tool reads it."""
    points = [_point("Llama-3.1-8B-Instruct", "H100", 1, 8, 0.5), _point("Llama-3.1-8B-Instruct", "H100", 1, 16, 0.6),
              _point("Llama-3.1-8B-Instruct", "H100", 1, 1024, 2.0), _point("Llama-3.1-8B-Instruct", "B200", 1, 8, 0.4)]

    def fake(q, model, modes=("offline",)):
        if q.gpu == "B200":
            return {m: pub.Answer(refused="B200 was never measured") for m in modes}
        kind = "extrapolated" if q.max_batch > 512 else "measured"
        return {m: pub.Answer(100.0, 80.0, 120.0, 200.0, 10.0, 1, 50.0, kind, "r",
                              fit_key=H100_GRAPHS if kind == "measured" else None) for m in modes}

    sources, _, _ = pub.load_data()
    col = pub.run(None, points, [], fake)
    bands = pub.agreement_bands(col, points)
    assert len(bands) == 1
    b = bands[0]
    assert (b["gpu"], b["n"], b["models"], b["sources"], b["statistic"]) == (
        "H100-SXM-80GB", 2, ["Llama-3.1-8B-Instruct"], ["mlenergy-v3"], "min-max")
    assert b["log_ratio"] == pytest.approx([0.0, math.log(1.2)], abs=1e-6)
    artifact = pub.agreement_artifact(bands, sources, "c" * 40, "t", {"model.json": "a", "card.json": "b"})
    assert [s["id"] for s in artifact["sources"]] == ["mlenergy-v3"]
    assert not pub.same_bands(None, bands) and pub.same_bands(None, [])
    from energy_predict.contracts.agreement import PublishedAgreement
    assert pub.same_bands(PublishedAgreement.model_validate(artifact), bands)
    md = "\n".join(pub.agreement_lines(artifact))
    assert "| H100-SXM-80GB | framework=vllm cuda_graphs=True | 2 |" in md and "1.00-1.20x" in md
    assert "by construction" in md and "not a validation" in md


def test_render_only_never_writes_the_agreement_file(tmp_path, monkeypatch):
    (tmp_path / "published.json").write_text((pub.OUT / "published.json").read_text())
    monkeypatch.setattr(pub, "OUT", tmp_path)
    monkeypatch.setattr(pub, "AGREEMENT", tmp_path / "agreement.json")
    pub.main(["--render-only"])
    assert (tmp_path / "published.md").read_text() == (pub.HERE / "results" / "published.md").read_text()
    assert not (tmp_path / "agreement.json").exists()


def _served(point, throughput, watts):
    measured = {**point.measured, "output_throughput": pub.Quantity(value=throughput, unit="tokens/s"),
                "avg_power": pub.Quantity(value=watts, unit="W")}
    return point.model_copy(update={"measured": measured})


def test_a_faster_gpu_that_served_slower_than_the_h100_is_listed_and_its_pairs_set_apart():
    # B200 slower than the H100 at 8 running requests, faster at 64; an H100-only setting has no partner
    points = [_served(_point("Qwen3-8B", "B200", 1, 8, 1.17), 251.0, 294.0),
              _served(_point("Qwen3-8B", "H100", 1, 8, 0.60), 818.0, 494.0),
              _served(_point("Qwen3-8B", "B200", 1, 64, 0.26), 4432.0, 543.0),
              _served(_point("Qwen3-8B", "H100", 1, 64, 0.27), 4315.0, 514.0),
              _served(_point("Qwen3-8B", "H100", 1, 16, 0.40), 1345.0, 541.0)]
    slower = pub.slower_on_faster_gpu(points)
    assert list(slower) == ["mlenergy-v3/lm-arena-chat/Qwen3-8B/B200x1/seqs8"]
    row = slower["mlenergy-v3/lm-arena-chat/Qwen3-8B/B200x1/seqs8"]
    assert row["throughput_ratio"] == pytest.approx(251 / 818) and row["power_w"] == 294.0
    assert row["h100"] == "mlenergy-v3/lm-arena-chat/Qwen3-8B/H100x1/seqs8"
    pairs = [{"numerator": p.numerator, "denominator": p.denominator, "kind": p.kind, "agrees": False,
              "ratio_error": 0.5} for p in pub.make_pairs(points)]
    kept = pub.gpu_bound_pairs(pairs + [{"label": "reference", "agrees": True, "ratio_error": 1.0}], slower)
    assert all("B200x1/seqs8" not in r.get("numerator", "") for r in kept)
    assert any("B200x1/seqs64" in r.get("numerator", "") for r in kept) and kept[-1]["label"] == "reference"
    # a run on a GPU slower than the H100 (none here) or without a throughput is never listed
    assert pub.slower_on_faster_gpu([p for p in points if "H100" in p.id]) == {}


def test_the_published_page_lists_the_b200_runs_that_served_slower_and_every_gpu_pair_it_gets_wrong():
    results = json.loads((pub.OUT / "published.json").read_text())
    slower = results["slower_on_faster_gpu"]
    _, points, _ = pub.load_data()
    assert slower == json.loads(json.dumps(pub.slower_on_faster_gpu(points)))  # committed = recomputed
    md = (pub.OUT / "published.md").read_text()
    assert "## Published runs where a faster GPU served slower than the H100" in md
    last = list(results["columns"].values())[-1]
    wrong = [r for r in last["pairs"]
             if r.get("mode") != "closed-loop" and r["kind"] == "gpu" and r.get("agrees") is False]
    assert f"Of the {len(wrong)} GPU pairs whose direction the tool gets wrong" in md

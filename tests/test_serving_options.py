"""Issue 17's serving options as profile fields: decoding strategies and speculative decoding, answered from
measured cells through the card's `options`, with their held-out errors, and refused outside what was measured."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from energy_predict.architectures import REGISTRY
from energy_predict.cli import app
from energy_predict.gpus import CATALOG
from energy_predict.memory import kv_token_capacity, max_batch_that_fits
from energy_predict.model.option_fit import _factor_fit
from energy_predict.model.store import load_default_model
from energy_predict.serving import Deployment, Serving, Speculation
from tests.conftest import write_profile

runner = CliRunner()
H100 = CATALOG["H100-SXM-80GB"]
SPEC = {"draft": "Llama-3.2-1B", "draft_tokens": 4}


def profile(tmp_path, batch=1, shape=(512, 128), **changes):
    """One request shape, served at one batch size (the measured speculative cells' shape by default)."""
    return write_profile(tmp_path, workload__tokens={"kind": "samples", "samples": [list(shape)]},
                         workload__requests=float(batch * 10), serving__max_batch=batch, **changes)


def report(*args):
    result = runner.invoke(app, [str(a) for a in (*args, "--json")])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def refused(path, field, *needles, extra=()):
    result = runner.invoke(app, ["--profile", str(path), *extra])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "Traceback" not in result.output and text.startswith(f"error: {field}"), text
    for n in needles:
        assert n in text, (n, text)
    return text


def per_request(tmp_path, name, batch, **changes):
    return report("--profile", profile(tmp_path / name, batch, **changes))


@pytest.fixture
def tmp(tmp_path):
    for name in ("a", "b", "c", "d", "e"):
        (tmp_path / name).mkdir()
    return tmp_path


# -- speculative decoding ----------------------------------------------------------------------------------------
def test_speculative_pays_at_batch_1_at_high_acceptance_and_costs_at_batch_128(tmp):
    greedy1 = per_request(tmp, "a", 1)["energy_per_request_j"]
    high1 = per_request(tmp, "b", 1, serving__speculative={**SPEC, "acceptance_rate": 0.8})
    none1 = per_request(tmp, "c", 1, serving__speculative={**SPEC, "acceptance_rate": 0.0})
    assert high1["energy_per_request_j"] < 0.85 * greedy1 < greedy1 < none1["energy_per_request_j"]
    greedy128 = per_request(tmp, "d", 128)["energy_per_request_j"]
    high128 = per_request(tmp, "e", 128, serving__speculative={**SPEC, "acceptance_rate": 0.8})
    assert high128["energy_per_request_j"] > greedy128  # the crossover: large batches are compute-bound
    basis = high1["basis"]
    assert basis["kind"] == "measured" and "speculative decoding" in basis["serving_option"]
    assert "70 measured cells" in basis["serving_option"] and "held out" in basis["serving_option"]
    assert high1["deployment"]["speculative"] == {**SPEC, "acceptance_rate": 0.8}
    # the option's error widens the greedy interval
    lo, hi = basis["interval_log_bounds"]
    g_lo, g_hi = per_request(tmp, "a", 1)["basis"]["interval_log_bounds"]
    assert lo < g_lo and hi > g_hi
    idle = load_default_model().card.to_json()["idle_power_w"]["H100-SXM-80GB"]["loaded_vllm"]
    for r in (high1, none1, high128):
        assert idle < r["mean_power_per_gpu_w"] < H100.tdp_w


def test_speculative_energy_falls_with_acceptance_and_a_longer_draft_costs_more_when_nothing_is_accepted():
    model = load_default_model()
    dep = Deployment(REGISTRY["Llama-3.1-8B"], H100, Serving())

    def energy(k, rate, b=4):
        d = Deployment(dep.arch, H100, Serving(speculative=Speculation("Llama-3.2-1B", k, rate)))
        return float(model.batch_phases(d, np.array([b]), 512, 128).energy_j[0])

    by_rate = [energy(4, a) for a in (0.0, 0.3, 0.6, 0.9, 1.0)]
    assert all(x > y for x, y in zip(by_rate, by_rate[1:]))
    assert energy(5, 0.0) > energy(3, 0.0) > energy(2, 0.0)


def test_the_card_fits_both_measured_ends_at_draft_length_4_within_10_percent():
    card = load_default_model().card.to_json()
    (spec,) = card["options"]["speculative"]
    assert (spec["model"], spec["draft"], spec["gpu"]) == ("Llama-3.1-8B", "Llama-3.2-1B", "H100-SXM-80GB")
    assert spec["draft_tokens"] == [2, 5] and spec["acceptance"][0] < 0.01 and spec["acceptance"][1] > 0.99
    assert spec["fit"]["ends"]["median_ape"] < 0.05
    held = spec["held_out"]
    assert {"middle_from_ends", "leave_one_k_out", "leave_one_batch_out", "leave_one_shape_out"} <= set(held)
    assert held["middle_from_ends"]["n"] >= 20 and held["middle_from_ends"]["median_ape"] < 0.10
    # lengths other than 512 -> 128 (long prompts, longer outputs) from the rest: the draft's prefill and KV reads
    assert held["leave_one_shape_out"]["n"] == 10 and held["leave_one_shape_out"]["max_ape"] < 0.10
    assert held["log_bounds"][0] < 0 < held["log_bounds"][1]


@pytest.mark.parametrize(("changes", "field", "needle"), [
    ({"serving__speculative": {**SPEC, "draft_tokens": 8, "acceptance_rate": 0.7}},
     "serving.speculative.draft_tokens", "measured 2-5"),
    ({"serving__speculative": {"draft": "Llama-3.2-3B", "draft_tokens": 4, "acceptance_rate": 0.7}},
     "serving.speculative", "with a Llama-3.2-1B draft on H100-SXM-80GB"),
    ({"serving__speculative": {**SPEC, "acceptance_rate": 0.7}, "hardware__gpu": "H200-SXM-141GB"},
     "serving.speculative", "was not measured"),
    ({"serving__speculative": {**SPEC, "acceptance_rate": 0.7}, "serving__framework": "hf"},
     "serving.speculative", "vLLM option"),
    ({"serving__speculative": {**SPEC, "acceptance_rate": 0.7}, "serving__quantization": "fp8"},
     "serving.speculative", "was not measured"),
    ({"serving__speculative": "Llama-3.2-1B"}, "serving.speculative", "acceptance_rate"),
    ({"serving__speculative": {**SPEC, "acceptance_rate": 1.5}}, "serving.speculative.acceptance_rate", ""),
    ({"serving__speculative": {"draft": "Llama-3.2-1B", "acceptance_rate": 0.5}},
     "serving.speculative.draft_tokens", ""),
])
def test_speculative_outside_what_was_measured_is_refused_in_one_line(tmp_path, changes, field, needle):
    refused(profile(tmp_path, 4, **changes), field, needle)


def test_online_speculative_decoding_is_simulated_and_refused_only_outside_what_was_measured(tmp):
    """Issue 27, item 3: online speculation was refused ("not simulated"); it is now answered by the simulator with
    the fitted speculative steps, and refused (one line) only where the offline answer is: an unmeasured draft
    length."""
    greedy = report("--profile", profile(tmp / "a", 4), "--rate", "1")
    spec = report("--profile", profile(tmp / "b", 4, serving__speculative={**SPEC, "acceptance_rate": 0.8}),
                  "--rate", "1")
    assert spec["mode"] == "online" and spec["deployment"]["speculative"]["acceptance_rate"] == 0.8
    assert spec["basis"]["serving_option"] and "speculative" in spec["basis"]["serving_option"]
    assert spec["online"]["busy_kwh"] < greedy["online"]["busy_kwh"]
    assert spec["energy_kwh"]["low"] <= spec["energy_kwh"]["estimate"] <= spec["energy_kwh"]["high"]
    refused(profile(tmp / "c", 4, serving__speculative={**SPEC, "draft_tokens": 8, "acceptance_rate": 0.7}),
            "serving.speculative.draft_tokens", "not measured", extra=("--rate", "1"))


def test_speculative_beyond_the_measured_lengths_is_labelled_extrapolated(tmp_path):
    r = report("--profile", profile(tmp_path, 8, shape=(8000, 32),
                                    serving__speculative={**SPEC, "acceptance_rate": 0.7}))
    assert r["basis"]["kind"] == "extrapolated" and r["basis"]["extrapolated_share"] == 1.0


def test_a_draft_that_does_not_resolve_is_named_as_its_field(tmp_path):
    path = profile(tmp_path, 4, serving__speculative={"draft": "no-such-model", "draft_tokens": 4,
                                                        "acceptance_rate": 0.5})
    refused(path, "serving.speculative.draft", "unknown model")


def test_a_key_with_only_a_drafts_name_makes_no_serving():
    key = Serving(speculative=Speculation("Llama-3.2-1B", 4, 0.5)).key_dict()
    assert key["speculative"] == "Llama-3.2-1B"
    with pytest.raises(ValueError, match="Speculation"):
        Serving.from_dict(key)


def test_speculation_keeps_the_drafts_weights_and_kv_beside_the_target():
    plain = Deployment(REGISTRY["Llama-3.1-8B"], H100, Serving())
    spec = Deployment(plain.arch, H100, Serving(speculative=Speculation("Llama-3.2-1B", 4, 0.5)))
    assert kv_token_capacity(spec) < kv_token_capacity(plain)


# -- decoding strategies -----------------------------------------------------------------------------------------
def test_vllm_sampling_costs_about_greedy_and_hf_beam_search_costs_a_batch_of_its_width(tmp):
    greedy = per_request(tmp, "a", 8)
    sampling = per_request(tmp, "b", 8, serving__decoding="sampling", serving__temperature=0.7, serving__top_p=0.9)
    assert sampling["energy_per_request_j"] == pytest.approx(greedy["energy_per_request_j"], rel=0.05)
    assert "sampling" in sampling["basis"]["serving_option"] and sampling["basis"]["kind"] == "measured"
    assert sampling["deployment"]["decoding"] == "sampling"
    hf = per_request(tmp, "c", 8, serving__framework="hf")
    beam = per_request(tmp, "d", 8, serving__framework="hf", serving__decoding="beam", serving__beam_width=4)
    assert beam["energy_per_request_j"] > 1.3 * hf["energy_per_request_j"]
    assert beam["basis"]["kind"] == "measured" and "width 4" in beam["basis"]["serving_option"]
    assert beam["deployment"]["beam_width"] == 4
    wide = per_request(tmp, "e", 8, serving__framework="hf", serving__decoding="beam", serving__beam_width=8)
    assert wide["basis"]["kind"] == "transferred" and "width 8 (measured: 4)" in wide["basis"]["serving_option"]
    assert wide["energy_per_request_j"] > beam["energy_per_request_j"]
    assert (wide["basis"]["interval_log_bounds"][1] - beam["basis"]["interval_log_bounds"][1]) > 0


def test_sampling_on_a_model_or_engine_it_was_not_measured_on_is_labelled_transferred(tmp):
    r = per_request(tmp, "a", 8, model="Llama-3.2-1B", serving__decoding="sampling")
    assert r["basis"]["kind"] == "transferred" and "carried to Llama-3.2-1B" in r["basis"]["serving_option"]
    r = per_request(tmp, "b", 8, serving__decoding="sampling", serving__quantization="fp8")
    assert r["basis"]["kind"] == "transferred" and "carried to vllm graphs fp8" in r["basis"]["serving_option"]


HF_BEAM = {"serving__framework": "hf", "serving__decoding": "beam", "serving__beam_width": 4}


@pytest.mark.parametrize("gpu", ["A100-SXM-80GB", "B200", "H200-SXM-141GB"])
@pytest.mark.parametrize("changes", [{"serving__decoding": "sampling"},
                                     {"serving__framework": "hf", "serving__decoding": "sampling"}, HF_BEAM])
def test_options_on_other_gpus_keep_power_between_the_greedy_engines_idle_and_tdp(tmp_path, gpu, changes):
    shape = (32, 2)  # a tiny request: power near the idle floor, where a 0 W idle would show
    r = report("--profile", profile(tmp_path, 4, shape=shape, hardware__gpu=gpu, **changes))
    greedy_changes = {k: v for k, v in changes.items() if k == "serving__framework"}
    (tmp_path / "g").mkdir()
    g = report("--profile", profile(tmp_path / "g", 4, shape=shape, hardware__gpu=gpu, **greedy_changes))
    idle = g["mean_power_per_gpu_w"]  # the greedy engine's power on the same tiny request: above its idle
    assert r["mean_power_per_gpu_w"] >= 0.9 * idle and r["mean_power_per_gpu_w"] < CATALOG[gpu].tdp_w


def test_online_sampling_scales_the_simulators_decode_costs(tmp):
    greedy = report("--profile", profile(tmp / "a", 8), "--rate", "2")
    sampling = report("--profile", profile(tmp / "b", 8, serving__decoding="sampling"), "--rate", "2")
    factor = next(o["energy_factor"] for o in load_default_model().card.to_json()["options"]["decoding"]
                  if (o["framework"], o["decoding"]) == ("vllm", "sampling"))
    g, s = greedy["phases"], sampling["phases"]
    assert s["prefill_kwh"] == pytest.approx(g["prefill_kwh"], rel=0.01)  # the same steps, power-bounded apart
    assert s["decode_kwh"] == pytest.approx(g["decode_kwh"] * factor, rel=0.02)


def test_compare_keeps_the_profiles_options_and_adds_the_greedy_row(tmp_path):
    result = runner.invoke(app, ["compare", "--profile", str(profile(tmp_path, 8, serving__decoding="sampling")),
                                 "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    options = {r["option"]: r["serving"] for r in rows}
    assert options["greedy decoding"] == "vllm graphs"
    assert all("sampling" in serving for option, serving in options.items() if option != "greedy decoding")


@pytest.mark.parametrize(("changes", "field", "needle"), [
    ({"serving__decoding": "beam", "serving__beam_width": 4}, "serving.decoding", "engine has no beam search"),
    ({"serving__framework": "hf", "serving__decoding": "beam"}, "serving.beam_width", "needs its width"),
    ({"serving__beam_width": 4}, "serving.beam_width", "only beam search"),
    ({"serving__temperature": 0.7}, "serving.temperature", "sampling option"),
    ({"serving__decoding": "sampling", "serving__top_p": 0}, "serving.top_p", ""),
])
def test_decoding_options_that_make_no_sense_are_refused_in_one_line(tmp_path, changes, field, needle):
    refused(profile(tmp_path, 4, **changes), field, needle)


def test_a_beam_keeps_its_width_of_sequences_in_the_kv_cache():
    hf = Deployment(REGISTRY["Llama-3.1-8B"], H100, Serving(framework="hf"))
    beam = Deployment(hf.arch, H100, Serving(framework="hf", decoding="beam", beam_width=4))
    assert max_batch_that_fits(beam, 4096, 512) == max_batch_that_fits(hf, 4096, 512) // 4


def test_the_analytic_baseline_says_it_counts_greedy_decoding(tmp_path):
    r = report("--profile", profile(tmp_path, 4, serving__decoding="sampling"), "--energy-model", "roofline")
    assert r["basis"]["kind"] == "analytic" and "counts greedy decoding" in r["basis"]["reason"]


def test_a_factor_is_the_median_and_each_cell_is_held_out_from_the_others():
    prefill, decode = np.array([10.0, 10.0, 10.0, 10.0]), np.array([100.0, 100.0, 100.0, 100.0])
    total = prefill + decode * np.array([1.1, 1.2, 1.3, 1.4])
    factor, held = _factor_fit(total, prefill, decode)
    assert factor == pytest.approx(1.25)
    assert held[0] == pytest.approx(10 + 100 * 1.3)  # the median of 1.2, 1.3, 1.4


def test_the_baselines_count_a_beams_sequences(tmp):
    hf = per_request(tmp, "a", 4, serving__framework="hf")["baselines"]
    beam = per_request(tmp, "b", 4, **HF_BEAM)["baselines"]
    assert beam["flops_tdp_kwh"] == pytest.approx(4 * hf["flops_tdp_kwh"], rel=1e-9)
    assert beam["roofline_kwh"] > hf["roofline_kwh"]

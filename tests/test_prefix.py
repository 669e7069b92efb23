"""Prefix caching: a hit rate (or a trace's block ids) skips cached prompt tokens in prefill, and nothing else."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from energy_predict import flops
from energy_predict.architectures import REGISTRY
from energy_predict.cli import app
from energy_predict.prefix import cached_tokens, trace_cached_tokens, trace_hit_rate
from energy_predict.traces import read_trace
from tests.conftest import write_profile as profile

runner = CliRunner()


def report(*args):
    result = runner.invoke(app, [str(a) for a in args] + ["--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    text = " ".join(x for x in result.output.splitlines() if x.strip())
    assert "Traceback" not in result.output and text.startswith("error:"), result.output
    for n in needles:
        assert n in text, (n, text)


@pytest.mark.parametrize("extra", [[], ["--rate", "2.57"]])
def test_half_the_prompt_cached_cuts_prefill_and_leaves_decode(tmp_path, extra):
    off = report("--profile", profile(tmp_path, "off"), *extra)
    on = report("--profile", profile(tmp_path, "on", serving__prefix_caching=True, workload__prefix_hit_rate=0.5),
                *extra)
    assert on["phases"]["prefill_kwh"] < 0.6 * off["phases"]["prefill_kwh"]
    assert on["phases"]["prefill_kwh"] > 0.3 * off["phases"]["prefill_kwh"]  # the computed half attends to the cached
    if not extra:  # offline: the same batches, the same decode
        assert on["phases"]["decode_kwh"] == pytest.approx(off["phases"]["decode_kwh"], rel=1e-9)
    else:  # online: the same decode work, but fewer steps carry a prefill chunk, and a step's constant is charged
        # to decode only where no prefill shares the step: decode moves by a few percent
        assert on["phases"]["decode_kwh"] == pytest.approx(off["phases"]["decode_kwh"], rel=0.1)
        assert on["energy_kwh"]["estimate"] < off["energy_kwh"]["estimate"]
    assert on["energy_per_input_token_j"] < off["energy_per_input_token_j"]
    assert on["tokens"] == off["tokens"]
    pc = on["prefix_caching"]
    assert pc["enabled"] and pc["hit_rate"] == 0.5 and pc["hit_rate_source"] == "profile"
    assert pc["prefill_tokens_skipped"] == pytest.approx(0.5 * on["tokens"]["input"], rel=0.01)
    assert on["deployment"]["prefix_caching"] and "prefix-caching" in on["deployment"]["serving"]
    assert on["basis"]["kind"] == off["basis"]["kind"]  # looked up by the same fit key
    assert on["baselines"]["flops_tdp_kwh"] < off["baselines"]["flops_tdp_kwh"]
    assert any("not limited to the cache's capacity" in n for n in on["notes"])


def test_hit_rate_zero_is_caching_off(tmp_path):
    off = report("--profile", profile(tmp_path, "off"))
    on = report("--profile", profile(tmp_path, "on", serving__prefix_caching=True, workload__prefix_hit_rate=0.0))
    assert on["energy_kwh"] == off["energy_kwh"] and on["phases"] == off["phases"]
    assert on["prefix_caching"]["prefill_tokens_skipped"] == 0


def test_a_hit_rate_with_caching_off_has_no_effect_and_says_so(tmp_path):
    off = report("--profile", profile(tmp_path, "off"))
    given = report("--profile", profile(tmp_path, "given", workload__prefix_hit_rate=0.5))
    assert given["energy_kwh"] == off["energy_kwh"]
    assert not given["prefix_caching"]["enabled"] and given["prefix_caching"]["hit_rate"] is None
    assert any("prefix_hit_rate 0.5 has no effect" in n for n in given["notes"])


def test_caching_on_without_a_hit_rate_is_refused_with_the_fix(tmp_path):
    result = runner.invoke(app, ["--profile", str(profile(tmp_path, serving__prefix_caching=True))])
    one_line_error(result, "workload.prefix_hit_rate", "serving.prefix_caching is on", "set serving.prefix_caching "
                   "false")


@pytest.mark.parametrize("rate", [1.5, -0.1, "0.5", True])
def test_a_hit_rate_outside_0_1_is_bad_input_naming_the_field(tmp_path, rate):
    result = runner.invoke(app, ["--profile", str(profile(tmp_path, serving__prefix_caching=True,
                                                          workload__prefix_hit_rate=rate))])
    one_line_error(result, "workload.prefix_hit_rate")


def test_hf_with_prefix_caching_is_refused(tmp_path):
    path = profile(tmp_path, serving__framework="hf", serving__prefix_caching=True, workload__prefix_hit_rate=0.5)
    one_line_error(runner.invoke(app, ["--profile", str(path)]), "serving.prefix_caching", "HF")


def test_prefill_flops_skip_the_cached_prefix_and_keep_its_attention():
    arch = REGISTRY["Llama-3.1-8B"]
    i, c = np.array([1000.0, 4096.0]), np.array([600.0, 4095.0])
    whole, prefix = flops.prefill_flops(arch, i), flops.prefill_flops(arch, c)
    # computing the rest after a cached prefix = the whole prompt less the prefix's own prefill (LM head once)
    assert flops.prefill_flops(arch, i, cached_tokens=c) == pytest.approx(whole - prefix + flops.lm_head_flops(arch))
    assert flops.prefill_flops(arch, i, cached_tokens=0) == pytest.approx(whole)
    with pytest.raises(ValueError):
        flops.prefill_flops(arch, 10, cached_tokens=11)


def test_cached_tokens_leave_the_last_prompt_token_computed():
    assert cached_tokens([1000, 1, 0, 7], 1.0).tolist() == [999, 0, 0, 6]
    assert cached_tokens([1000, 7], 0.5).tolist() == [500, 3]


def test_trace_hit_rate_by_hand():
    # blocks of 512 tokens, arrival order; a block is a hit only with its whole prefix (a leading run seen before)
    ids = [[1, 2], [1, 2, 3], [4, 2], [1]]
    inputs = [1024, 1500, 600, 512]
    # request 1: nothing seen; 2: blocks 1, 2 -> 1024; 3: block 4 unseen, so block 2 does not count -> 0;
    # 4: its only block seen -> 512, less its last token, which is always computed -> 511
    assert trace_cached_tokens(ids, inputs).tolist() == [0, 1024, 0, 511]
    assert trace_hit_rate(ids, inputs) == pytest.approx((1024 + 511) / (1024 + 1500 + 600 + 512))
    # a cache of two blocks, least recently used out: after request 2 it holds 2, 3 (1 evicted), so 4 misses block 1
    assert trace_cached_tokens(ids, inputs, capacity_tokens=1024).tolist() == [0, 1024, 0, 0]


def test_the_mooncake_trace_hit_rate_is_a_share_and_capacity_lowers_it(shared_traces):
    frame = read_trace(shared_traces / "mooncake" / "conversation_trace.jsonl")
    ids, inputs = frame["hash_ids"].tolist(), frame["input_tokens"].to_numpy()
    unbounded = trace_hit_rate(ids, inputs)
    bounded = trace_hit_rate(ids, inputs, capacity_tokens=400_000)
    assert 0 < bounded < unbounded < 1
    assert trace_hit_rate(ids, inputs, capacity_tokens=10**12) == pytest.approx(unbounded)


def _mooncake_slice(shared_traces, tmp_path, n=400):
    lines = (shared_traces / "mooncake" / "conversation_trace.jsonl").read_text().splitlines()[:n]
    path = tmp_path / "conv.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_from_trace_writes_the_hit_rate_and_a_trace_profile_uses_the_block_ids(shared_traces, tmp_path):
    trace = _mooncake_slice(shared_traces, tmp_path)
    out = tmp_path / "prof.json"
    result = runner.invoke(app, ["profile", "from-trace", str(trace), "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())["workload"]["prefix_hit_rate"]
    frame = read_trace(trace)
    assert 0 < written < 1
    assert written <= round(trace_hit_rate(frame["hash_ids"].tolist(), frame["input_tokens"].to_numpy()), 4)
    assert "workload.prefix_hit_rate" in result.output

    path = profile(tmp_path, "trace", serving__prefix_caching=True,
                   workload={"tokens": {"kind": "trace", "path": str(trace)}})
    r = report("--profile", path)
    pc = r["prefix_caching"]
    assert pc["hit_rate_source"] == "trace" and pc["hit_rate"] == pytest.approx(written, abs=1e-4)
    assert 0 < pc["hit_rate"] <= pc["unbounded_hit_rate"] < 1
    assert pc["prefill_tokens_skipped"] > 0

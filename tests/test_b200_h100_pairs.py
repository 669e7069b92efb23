"""The shipped default model on the four B200/H100 pairs issue 25 names (ML.ENERGY v3, lm-arena-chat, one GPU).

Published energy per output token, B200 over H100: Llama-3.1-8B at 8 running requests 0.86 and at 64 0.93, Qwen3-8B
at 64 1.03, Qwen3-30B-A3B at 64 1.12. When issue 25 was filed the tool said 1.16, 1.05, 0.87, 0.63 (the audit before
the physics model: 1.18, 1.10, 0.90, 0.51): the wrong way in all four. These tests hold what it gets right now,
through the benchmark's own seam (benchmarks/published.py `query_for` and `ask_tool`), so a refit that turns a pair
back the wrong way, or beyond the error the README states for a GPU never measured, fails here.
"""

import importlib.util
import math
import sys
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("published_benchmark_pairs", REPO / "benchmarks" / "published.py")
pub = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = pub
SPEC.loader.exec_module(pub)

PAIRS = {  # (model as ML.ENERGY names it, max_num_seqs): published B200/H100, the tool's ratio when issue 25 was filed
    ("Llama-3.1-8B-Instruct", 8): (0.86, 1.16),
    ("Llama-3.1-8B-Instruct", 64): (0.93, 1.05),
    ("Qwen3-8B", 64): (1.03, 0.87),
    ("Qwen3-30B-A3B-Instruct-2507", 64): (1.12, 0.63),
}
# the README's measured error of a GPU never measured (B200): median 19%, p90 40% on published points; issue 25's
# target for those points is 20%, which each pair ratio here must stay inside
MAX_RATIO_ERROR = 0.20


@lru_cache(maxsize=1)
def tool_ratios() -> dict:
    """(model, seqs) -> (published ratio, the tool's ratio) from the data files and the shipped model."""
    _, points, _ = pub.load_data()
    by = {(p.deployment.model.split("/")[-1], p.deployment.max_num_seqs, p.deployment.gpu): p for p in points
          if p.source == "mlenergy-v3" and p.workload.task == "lm-arena-chat" and p.deployment.gpus == 1}
    model = pub.load_tool_model()
    out = {}
    for model_name, seqs in PAIRS:
        per_token = {}
        for gpu in ("B200", "H100"):
            point = by[(model_name, seqs, gpu)]
            answer = pub.ask_tool(pub.query_for(point), model)["offline"]
            assert answer.refused is None, answer.refused
            per_token[gpu] = (pub.predicted_per_token(point, answer)[0],
                              point.measured["energy_per_output_token"].value)
        (tool_b200, published_b200), (tool_h100, published_h100) = per_token["B200"], per_token["H100"]
        out[(model_name, seqs)] = (published_b200 / published_h100, tool_b200 / tool_h100)
    return out


@pytest.mark.parametrize("pair", list(PAIRS), ids=[f"{m}-seqs{s}" for m, s in PAIRS])
def test_each_pair_is_within_the_stated_error_and_closer_than_when_filed(pair):
    published, tool = tool_ratios()[pair]
    assert published == pytest.approx(PAIRS[pair][0], abs=0.005)  # the data file is the source
    assert abs(tool / published - 1) <= MAX_RATIO_ERROR, f"{pair}: tool {tool:.3f}, published {published:.3f}"
    filed = PAIRS[pair][1]
    if pair != ("Qwen3-8B", 64):  # see the next test
        assert abs(math.log(tool / published)) < abs(math.log(filed / published))


def test_no_pair_points_the_way_it_did_when_filed():
    """Where the published ratio calls a direction (beyond 3% of 1), the tool's ratio is on its side of 1: the B200
    cheaper per token for Llama-3.1-8B, dearer for Qwen3-30B-A3B. Qwen3-8B's published 1.03 calls none; the tool
    says 0.87 there (16% low, no closer than when filed), which only the ratio bound above holds. Still weak: the
    MoE's 1.01 is on the right side by about 1%, inside the 3% band, so the strict rule of published.md does not
    count it."""
    ratios = tool_ratios()
    called = {pair: pub.direction_agrees(tool, published) for pair, (published, tool) in ratios.items()}
    assert called == {("Llama-3.1-8B-Instruct", 8): True, ("Llama-3.1-8B-Instruct", 64): True,
                      ("Qwen3-8B", 64): None, ("Qwen3-30B-A3B-Instruct-2507", 64): True}

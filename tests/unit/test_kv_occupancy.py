"""KV occupancy over a continuously batched workload's life (issue 25, Build item 3).

Offline batches held every sequence at its full final KV from the first step, so where the KV cache was the limit
the running count was understated. vLLM keeps as many running as fit at the mean occupancy: checked against two
published ML.ENERGY v3 runs (their mean running count, `avg_batch_size`), with the published output histograms.
"""

import json

import numpy as np
import pytest

from energy_predict.architectures import REGISTRY, from_hf_config
from energy_predict.gpus import CATALOG
from energy_predict.memory import kv_token_capacity, kv_tokens_held_per_sequence, running_sequences_that_fit
from energy_predict.predict.estimate import batch_sizes
from energy_predict.serving import Deployment, Serving
from tests.conftest import REPO

PUBLISHED = REPO / "benchmarks" / "data" / "published"
INPUT_TOKENS = 256  # ML.ENERGY publishes no prompt lengths: the benchmark's assumption (benchmarks/published.py)


def published(point_id: str) -> tuple[np.ndarray, np.ndarray, float, int]:
    """(output bin midpoints, counts, published mean running sequences, max_num_seqs) of one ML.ENERGY point."""
    point = next(p for p in json.loads((PUBLISHED / "mlenergy_v3.json").read_text())["points"] if p["id"] == point_id)
    h = point["workload"]["output_histogram"]
    edges = np.asarray(h["edges"])
    return ((edges[:-1] + edges[1:]) / 2, np.asarray(h["counts"], float),
            point["measured"]["avg_batch_size"]["value"], point["deployment"]["max_num_seqs"])


def test_one_request_holds_its_prompt_and_half_its_output_on_average():
    assert kv_tokens_held_per_sequence([100], [9]) == 105
    # a long request runs more steps, so it weighs more in what a running sequence holds
    assert kv_tokens_held_per_sequence([0, 0], [1, 99], [1, 1]) == pytest.approx((1 * 1 + 99 * 50) / 100)
    assert running_sequences_that_fit(1000, [100], [9]) == 9
    assert running_sequences_that_fit(1000, [100], [9], beam_width=3) == 3
    with pytest.raises(ValueError):
        kv_tokens_held_per_sequence([10], [10], [0])


def test_70b_tp4_on_h100_at_1024_max_seqs_runs_about_as_many_as_published():
    mids, counts, running, cap = published("mlenergy-v3/lm-arena-chat/Llama-3.1-70B-Instruct/H100x4/seqs1024")
    dep = Deployment(REGISTRY["Llama-3.1-70B"], CATALOG["H100-SXM-80GB"], Serving(tensor_parallel=4, max_batch=cap), 4)
    capacity = kv_token_capacity(dep)
    inputs, outputs = np.full(len(mids), INPUT_TOKENS), np.round(mids)
    n = running_sequences_that_fit(capacity, inputs, outputs, counts)
    at_final_length = capacity / kv_tokens_held_per_sequence(inputs, 2 * outputs, counts)  # ~i + o: every one full
    assert running == pytest.approx(898, abs=1)
    assert n > 1.5 * at_final_length  # ~760 against ~485: the old assumption understated it by a third and more
    assert 0.8 * running <= n <= cap
    b = batch_sizes(dep, inputs, outputs, counts.sum(), counts)
    assert (b == n).all()  # every request shares the one running set


def test_7k_token_reasoning_outputs_on_a_b200_run_at_the_published_128():
    mids, counts, running, cap = published("mlenergy-v3/gpqa/Qwen3-8B/B200x1/seqs128")
    arch = from_hf_config(json.loads((PUBLISHED / "configs" / "Qwen3-8B" / "config.json").read_text()), "Qwen3-8B")
    dep = Deployment(arch, CATALOG["B200"], Serving(max_batch=cap))
    inputs, outputs = np.full(len(mids), INPUT_TOKENS), np.round(mids)
    assert running == pytest.approx(128, abs=1) and np.average(mids, weights=counts) > 6000
    static = batch_sizes(dep, inputs, outputs, counts.sum())  # the old rule: each row at its final length
    assert static.min() < 50
    assert (batch_sizes(dep, inputs, outputs, counts.sum(), counts) == cap).all()


def test_hf_generate_keeps_the_static_batch():
    dep = Deployment(REGISTRY["Llama-3.1-8B"], CATALOG["H100-SXM-80GB"], Serving("hf", max_batch=4096))
    i, o, w = np.array([8000, 8000]), np.array([100, 4000]), np.array([1.0, 1.0])
    assert (batch_sizes(dep, i, o, 1e6, w) == batch_sizes(dep, i, o, 1e6)).all()

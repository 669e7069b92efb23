"""benchmarks/results/running_batch.{json,md} are what benchmarks/running_batch.py computes from the committed run
and log (issue 26, item 2): a change to the parser, the KV-occupancy model or the clock is caught here."""

import importlib.util
import json

from tests.conftest import REPO

SPEC = importlib.util.spec_from_file_location("running_batch_benchmark", REPO / "benchmarks" / "running_batch.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_the_committed_running_batch_results_are_what_the_code_computes():
    committed = json.loads((REPO / "benchmarks" / "results" / "running_batch.json").read_text())
    fresh = json.loads(json.dumps(bench.compute()))  # the JSON's own float spelling
    assert {k: v for k, v in committed.items() if k != "commit"} == fresh
    assert bench.render(committed) == (REPO / "benchmarks" / "results" / "running_batch.md").read_text()
    assert fresh["cells"] and fresh["kv_capacity_tokens"]["vllm"] == 444_896  # vLLM's start-up line, as logged

"""benchmarks/physics_terms.py: its committed results are those of the shipped model, and its reading says what the
rows say."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("physics_terms_benchmark", REPO / "benchmarks" / "physics_terms.py")
terms = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = terms
SPEC.loader.exec_module(terms)


def _flat(x, prefix=""):
    if isinstance(x, dict):
        return {k: v for key, val in x.items() for k, v in _flat(val, f"{prefix}.{key}").items()}
    if isinstance(x, list):
        return {k: v for i, val in enumerate(x) for k, v in _flat(val, f"{prefix}[{i}]").items()}
    return {prefix: x}


def test_committed_results_are_the_shipped_models():
    """A refit of artifacts/models/default must come with benchmarks/results/physics_terms.{json,md} rewritten."""
    committed = _flat(json.loads((terms.OUT / "physics_terms.json").read_text()))
    now = _flat(json.loads(json.dumps(terms.rows())))
    assert committed.keys() == now.keys()
    stale = [k for k, v in now.items() if (v != pytest.approx(committed[k], rel=1e-9)
                                            if isinstance(v, float) else v != committed[k])]
    assert not stale, f"rerun python benchmarks/physics_terms.py; stale: {stale[:5]}"


def test_reading_does_not_blame_a_zero_term_that_is_not_there():
    row = {"model": "(fit key)", "degenerate": [], "rates": {"step_weight_bytes": {"fraction_of_peak": 0.8,
                                                                                   "power_per_gpu_w": 400.0}},
           "step_implied_bandwidth_fraction": 0.5}
    text = " ".join(terms.reading([row]))
    assert "fitted above zero in all 1" in text and "speeds nothing up" not in text
    zero = {**row, "degenerate": ["step_weight_bytes"]}
    assert "speeds nothing up" in " ".join(terms.reading([zero]))

"""docs/make_findings.py's reference-study table: rows waiting on data say so, and fill in when the data lands."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "make_findings.py"


@pytest.fixture(scope="module")
def findings():
    spec = importlib.util.spec_from_file_location("make_findings", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def records(config: str, run_id: str, factor_of_batch: dict[int, float], **extra) -> pd.DataFrame:
    """Three repetitions of cells (batch, 512, 128) of Llama-3.1-8B, energy 100 J x the batch's factor."""
    rows = [{"model": "Llama-3.1-8B", "config": config, "batch_size": b, "input_tokens": 512, "output_tokens": o,
             "status": "ok", "energy_j": 100.0 * f, "duration_s": 1.0, "run_id": run_id,
             "started": run_id[:10] + "T00:00:00+00:00", **extra}
            for b, f in factor_of_batch.items() for o in (8, 32, 128) for _ in range(3)]
    return pd.DataFrame(rows)


def test_absent_rows_say_not_measured_yet(findings):
    base = records("vllm-graphs", "2026-11-27-x4-vllm", {1: 1, 8: 1, 128: 1})
    cells = findings.all_cells(base)
    assert findings.speculative_row(base, cells) == (findings.PENDING, "-")
    assert findings.compile_row(base, cells) == (findings.PENDING, "-")


def test_speculative_row_from_data(findings):
    base = records("vllm-graphs", "2026-11-27-x4-vllm", {1: 1, 8: 1, 16: 1, 128: 1})
    spec = records("vllm-spec-llama1b-g4", "2026-12-01-x9-spec", {1: 0.7, 8: 0.9, 16: 1.1, 128: 1.3},
                   speculative_model="Llama-3.2-1B")
    both = pd.concat([base, spec])
    ours, ratio = findings.speculative_row(both, findings.all_cells(both))
    assert "batch 1 -30%" in ours and "batch 128 +30%" in ours and "between batch 8 and 16" in ours
    assert "batch 1 1.03" in ratio
    thin = pd.concat([base, spec[spec["batch_size"] == 1].assign(config="vllm-spec-self")])
    assert "too thin" in findings.speculative_row(thin, findings.all_cells(thin))[0]


def test_compile_row_needs_the_grid(findings):
    batches = {b: 1 for b in range(1, 25)}
    eager = records("hf-eager", "2026-12-01-x9-hf-eager", batches)
    few = records("hf-compile", "2026-12-01-x9-hf-compile", {1: 0.7, 2: 1.1})
    some = pd.concat([eager, few])
    assert "too thin" in findings.compile_row(some, findings.all_cells(some))[0]
    grid = records("hf-compile", "2026-12-01-x9-hf-compile", {b: 0.7 if b == 1 else 1.1 for b in batches})
    full = pd.concat([eager, grid])
    ours, ratio = findings.compile_row(full, findings.all_cells(full))
    assert ours.startswith("-30% median at batch 1") and "3 paired within one lease" in ours
    assert ratio == "1.00"


def test_reference_factors_match_their_quotes(findings, monkeypatch):
    for name in findings.REFERENCE:
        findings.quote(name)
    monkeypatch.setitem(findings.REFERENCE, "broken", ('"up to 50%"', (1.54,)))
    with pytest.raises(ValueError):
        findings.quote("broken")

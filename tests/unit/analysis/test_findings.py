"""The findings reference-study table: rows waiting on data say so, and fill in when the data lands."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from energy_predict.analysis import reference, replays, speculative
from energy_predict.analysis.cells import all_cells
from energy_predict.errors import EnergyPredictError
from energy_predict.predict.replays import load_replays


def records(config: str, run_id: str, factor_of_batch: dict[int, float], **extra) -> pd.DataFrame:
    """Three repetitions of cells (batch, 512, 128) of Llama-3.1-8B, energy 100 J x the batch's factor."""
    rows = [{"model": "Llama-3.1-8B", "config": config, "batch_size": b, "input_tokens": 512, "output_tokens": o,
             "status": "ok", "energy_j": 100.0 * f, "duration_s": 1.0, "run_id": run_id,
             "started": run_id[:10] + "T00:00:00+00:00", **extra}
            for b, f in factor_of_batch.items() for o in (8, 32, 128) for _ in range(3)]
    return pd.DataFrame(rows)


class FakeModel:
    """A model whose speculative energy over greedy is 1 - 0.5 x acceptance + 0.004 x batch (draft length ignored)."""

    card = {"options": {"speculative": [{"draft": "Llama-3.2-1B", "batch_size": [1, 128]}]}}

    def batch_phases(self, dep, batches, i, o):
        b = np.asarray(batches, dtype=float)
        spec = dep.serving.speculative
        factor = 1.0 if spec is None else 1 - 0.5 * spec.acceptance_rate + 0.004 * b
        return SimpleNamespace(energy_j=100.0 * b * factor)


class RefusingModel(FakeModel):
    def batch_phases(self, dep, batches, i, o):
        if dep.serving.speculative is not None:
            raise EnergyPredictError("speculative decoding not fitted")
        return super().batch_phases(dep, batches, i, o)


def spec_records(config: str, run_id: str, factor_of_batch: dict[int, float], k: int, accepted_share: float,
                 draft: str = "Llama-3.2-1B") -> pd.DataFrame:
    """A speculative config's records with vLLM's counters: `accepted_share` of 100 x k drafted tokens accepted."""
    return records(config, run_id, factor_of_batch, speculative_model=draft, num_speculative_tokens=k,
                   counter_drafts=100.0, counter_draft_tokens=100.0 * k,
                   counter_accepted_tokens=100.0 * k * accepted_share)


def test_absent_rows_say_not_measured_yet():
    base = records("vllm-graphs", "2026-11-27-x4-vllm", {1: 1, 8: 1, 128: 1})
    cells = all_cells(base)
    assert speculative.speculative_row(base, cells) == (reference.PENDING, "-")
    assert speculative.speculative_row(base, cells, FakeModel()) == (reference.PENDING, "-")
    assert reference.compile_row(base, cells) == (reference.PENDING, "-")


def test_speculative_row_from_measured_cells_without_a_model():
    base = records("vllm-graphs", "2026-11-27-x4-vllm", {1: 1, 8: 1, 16: 1, 128: 1})
    spec = spec_records("vllm-spec-1b-k4-a80", "2026-12-01-x9-spec", {1: 0.7, 8: 0.9, 16: 1.1, 128: 1.3}, 4, 0.75)
    both = pd.concat([base, spec])
    ours, ratio = speculative.speculative_row(both, all_cells(both))
    assert "acceptance 0.75 (12 cells): batch 1 -30%, batch 128 +30%, crossover between batch 8 and 16" in ours
    assert "no model answer" in ours and "default model" not in ours
    assert ratio == "vllm-spec-1b-k4-a80: batch 1 1.03, batch 128 1.15"
    assert speculative.speculative_row(both, all_cells(both), RefusingModel()) == (ours, ratio)
    thin = pd.concat([base, spec[spec["batch_size"] == 1].assign(config="vllm-spec-self")])
    assert "too thin: vllm-spec-self (3 cells" in speculative.speculative_row(thin, all_cells(thin))[0]


def test_speculative_row_from_the_model():
    base = records("vllm-graphs", "2026-11-27-x4-vllm", {1: 1, 16: 1, 128: 1})
    spec = spec_records("vllm-spec-1b-k4-a100", "2026-12-01-x9-spec", {1: 0.55, 16: 0.7, 128: 1.0}, 4, 1.0)
    both = pd.concat([base, spec])
    ours, ratio = speculative.speculative_row(both, all_cells(both), FakeModel())
    # 1 - 0.5 a + 0.004 b: -30% / +21% at acceptance 0.6, stops paying where b >= 125 a
    assert ("default model, Llama-3.2-1B draft, draft length 4, 512 -> 128: acceptance 0.6: batch 1 -30%, "
            "batch 128 +21%, stops paying from batch 75; acceptance 0.8: batch 1 -40%, batch 128 +11%, stops paying "
            "from batch 100; acceptance 1: batch 1 -50%, batch 128 +1%, stops paying from batch 125") in ours
    assert "acceptance 1 (9 cells): batch 1 -45%, batch 128 +0%, crossover between batch 16 and 128" in ours
    assert ratio.startswith("acceptance 0.6: batch 1 1.02, batch 128 0.82; acceptance 0.8: batch 1 1.37")
    rate, effect = speculative.speculative_match(FakeModel())  # batch 1 at or below the study's x0.71: a >= 0.588
    assert rate == 0.59 and effect.index.max() == 128


def test_speculative_reason_states_the_acceptance():
    base = records("vllm-graphs", "2026-11-27-x4-vllm", {1: 1, 16: 1, 128: 1})
    parts = [spec_records("vllm-spec-1b-k4", "2026-12-01-x9-a", {1: 2.0, 16: 2.0, 128: 2.0}, 4, 0.0),
             spec_records("vllm-spec-1b-k4-a100", "2026-12-01-x9-b", {1: 0.55, 16: 0.7, 128: 1.0}, 4, 1.0),
             spec_records("vllm-spec-1b-k4-a80", "2026-12-01-x9-c", {1: 0.9, 16: 1.0, 128: 1.2}, 4, 0.59)
             .assign(synthetic_acceptance=0.8)]
    both = pd.concat([base, *parts])
    measured = speculative.speculative_measured(both, all_cells(both))
    check = speculative.speculative_check(FakeModel(), measured)
    assert check[0] == pytest.approx(0.59) and check[1] == pytest.approx(1 - 0.295 + 0.004)
    assert check[2] == pytest.approx(0.9)
    why = speculative.speculative_why(None, measured, speculative.speculative_match(FakeModel()), check)
    assert "the ends (acceptance 0 and 1; 2 configs, draft lengths 4-4)" in why
    assert "middle points at p = 0.8 (counted 0.59 at draft length 4)" in why
    assert "model says -29% against -10% measured" in why
    assert "at acceptance 0.59" in why and "stops paying from batch 74" in why


def test_compile_row_needs_the_grid():
    batches = {b: 1 for b in range(1, 25)}
    eager = records("hf-eager", "2026-12-01-x9-hf-eager", batches)
    few = records("hf-compile", "2026-12-01-x9-hf-compile", {1: 0.7, 2: 1.1})
    some = pd.concat([eager, few])
    assert "too thin" in reference.compile_row(some, all_cells(some))[0]
    grid = records("hf-compile", "2026-12-01-x9-hf-compile", {b: 0.7 if b == 1 else 1.1 for b in batches})
    full = pd.concat([eager, grid])
    ours, ratio = reference.compile_row(full, all_cells(full))
    assert ours.startswith("-30% median at batch 1") and "3 paired within one lease" in ours
    assert ours.endswith("it costs more at batch 2-24 (x1.10 to x1.10, 69 cells, 69 paired within one lease)")
    assert ratio == "1.00"


def test_decoding_row_pairs_each_framework_with_its_greedy():
    parts = [records("vllm-graphs", "2026-12-01-x9b-gpu1-baseline", {1: 1, 128: 1}),
             records("vllm-graphs-sampling", "2026-12-01-x9b-gpu1-baseline", {1: 1.02, 128: 0.99}),
             records("hf-eager", "2026-12-01-x9-hf", {1: 1, 8: 1}),
             records("hf-sampling", "2026-12-01-x9-hf", {1: 1.2}),
             records("hf-beam4", "2026-12-02-x10-hf", {1: 1.3, 8: 2.0})]
    row = reference.decoding_row(pd.concat(parts))
    assert ("vLLM sampling over greedy: median +0% (-1% to +2%, 6 cells, batch 1-128, 6 paired within one lease), "
            "at batch 1 +2%, +2%, +2%") in row
    assert "HF sampling over eager greedy (3 cells, 3 paired within one lease): batch 1 +20%, +20%, +20%" in row
    assert "HF beam 4 over eager greedy (6 cells, 0 paired within one lease): batch 1 +30%" in row
    assert row.endswith("8 +100%, +100%, +100%")
    assert "vLLM sampling: no cell paired with greedy" in reference.decoding_row(pd.concat(parts[2:]))


def test_decoding_rules_come_from_the_card():
    card = {"options": {"decoding": [
        {"framework": "vllm", "decoding": "sampling", "rule": "greedy batch, decode x factor", "energy_factor": 1.021,
         "beam_widths": [], "cells": 11, "held_out": {"scheme": "leave-one-cell-out", "median_ape": 0.025,
                                                      "p90_ape": 0.036}},
        {"framework": "hf", "decoding": "beam", "rule": "greedy batch of B x width sequences, decode x factor",
         "energy_factor": 1.274, "beam_widths": [4], "cells": 10,
         "held_out": {"scheme": "leave-one-cell-out", "median_ape": 0.058, "p90_ape": 0.115}}]}}
    assert reference.decoding_rules(card) == (
        "HF beam 4: greedy batch of B x 4 sequences, decode x1.27, 10 cells, leave-one-cell-out median 5.8% "
        "(p90 11.5%); vLLM sampling: greedy batch, decode x1.02, 11 cells, leave-one-cell-out median 2.5% (p90 3.6%)")
    assert reference.decoding_rules({}) == ""


def replay(gpu: str, mode: str, energy: float, rate: float | None = None) -> dict:
    return {"trace": "AzureLLMInferenceTrace_code.csv", "backend": "vllm", "mode": mode, "config": {},
            "meter": {"gpus": [{"name": gpu}]}, "runs": [{"energy_j": energy}]} | (
        {"rate_per_s": rate, "arrivals": "trace"} if rate else {})


def test_online_over_offline_stays_on_one_gpu(tmp_path):
    h100, h200 = "NVIDIA H100 80GB HBM3", "NVIDIA H200"
    reps = [replay(h100, "offline", 100.0), replay(h200, "offline", 50.0), replay(h100, "online", 150.0, 5.0),
            replay(h200, "online", 100.0, 10.0)]
    assert [r for _, r in replays.online_offline_ratios(reps)] == [1.5, 2.0]
    for n, r in enumerate(reps):
        (tmp_path / f"{n}.json").write_text(json.dumps(r))
    h100_only = replays.h100_replays(load_replays(tmp_path))
    assert len(h100_only) == 2 and {replays.replay_gpu(r) for r in h100_only} == {"H100-SXM-80GB"}
    assert replays.online_offline_ratios(h100_only) == [("code trace 5 req/s", 1.5)]


def test_reference_factors_match_their_quotes(monkeypatch):
    for name in reference.REFERENCE:
        reference.quote(name)
    monkeypatch.setitem(reference.REFERENCE, "broken", ('"up to 50%"', (1.54,)))
    with pytest.raises(ValueError):
        reference.quote("broken")


def test_the_notes_against_outside_data_are_listed_by_their_titles(tmp_path):
    """Each docs/measurements note is a line of the page, titled by its first heading; none, no section."""
    from types import SimpleNamespace

    from energy_predict.analysis.findings import first_heading
    from energy_predict.analysis.findings_page import outside_data

    assert first_heading("intro\n# Finding: why X reads above Y\n## more") == "why X reads above Y"
    assert first_heading("no heading at all") == "untitled"
    page = outside_data(SimpleNamespace(outside=(("measurements/a.md", "why X"), ("measurements/b.md", "B"))))
    assert "- [why X](measurements/a.md)" in page and "- [B](measurements/b.md)" in page
    assert outside_data(SimpleNamespace(outside=())) == ""

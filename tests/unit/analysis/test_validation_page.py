"""docs/validation.md's generator reads replay records in every spelling `replay` has written."""

import shutil
from pathlib import Path

from energy_predict.analysis.validation import load_inputs, render

REPO = Path(__file__).resolve().parents[3]
TODAY = REPO / "artifacts/replays/closed-loop/cap64/vllm-cap64-in256-a-closed-loop-cap64-offline.json"
COLD = REPO / "artifacts/replays/closed-loop/cap64/vllm-cap64-in256-b-closed-loop-cap64-offline.json"
FORMER = REPO / "artifacts/replays/2026-11-27-x4b/vllm-AzureLLMInferenceTrace_code-online-5.json"


def test_records_in_todays_and_the_former_spelling_render_with_their_own_batch_limits(tmp_path):
    # since the typed seams a record holds its config as ServingConfig dumps it (max_batch, not max_num_seqs);
    # the page read the former key and raised KeyError on such a record
    for record in (TODAY, FORMER):
        shutil.copy(record, tmp_path / record.name)
    page = render(load_inputs(REPO / "docs", tmp_path))
    assert "max_num_seqs 64, max_num_batched_tokens 8192; max_num_seqs 256, max_num_batched_tokens 8192" in page
    assert "| cap64-in256-a | H100-SXM-80GB | vllm | offline |" in page
    assert "| code | H100-SXM-80GB | vllm | online | trace 5 |" in page


def test_the_page_says_which_replays_ran_without_a_warm_up_of_their_own(tmp_path):
    # the closed-loop campaign warmed up only each engine's first replay; "every replay ... after a warm-up" was
    # false for the others
    for record in (TODAY, COLD, FORMER):
        shutil.copy(record, tmp_path / record.name)
    page = render(load_inputs(REPO / "docs", tmp_path))
    assert "after a warm-up on the same requests (except 1 offline replays whose records say `warmed_up: false`" in page


def test_a_replay_measured_again_is_told_apart_and_one_at_another_arrival_law_is_not(tmp_path):
    name = "vllm-cap256-in256-a-closed-loop-cap256-offline.json"
    shutil.copy(REPO / "artifacts/replays/closed-loop/cap256" / name, tmp_path / "first.json")
    shutil.copy(REPO / "artifacts/replays/closed-loop/cap256-rep2" / name, tmp_path / "second.json")
    for law in ("online-5", "poisson-5"):  # the same trace, GPU and rate, other arrivals: not a repetition
        shutil.copy(REPO / f"artifacts/replays/2026-11-27-x4b/vllm-AzureLLMInferenceTrace_code-{law}.json",
                    tmp_path / f"{law}.json")
    page = render(load_inputs(REPO / "docs", tmp_path))
    assert page.count("| cap256-in256-a | H100-SXM-80GB |") == 1
    assert page.count("| cap256-in256-a (again, a new engine) | H100-SXM-80GB |") == 1
    assert "| code (again" not in page

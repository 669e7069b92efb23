"""docs/validation.md's generator reads replay records in every spelling `replay` has written."""

import shutil
from pathlib import Path

from energy_predict.analysis.validation import load_inputs, render

REPO = Path(__file__).resolve().parents[3]
TODAY = REPO / "artifacts/replays/closed-loop/cap64/vllm-cap64-in256-a-closed-loop-cap64-offline.json"
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

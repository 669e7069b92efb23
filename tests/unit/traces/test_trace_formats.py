"""Each trace format read from a small real-shaped file in examples/traces/ (origins in its README)."""

import json
import shutil

import numpy as np
import pytest

from energy_predict.errors import InputError
from energy_predict.traces import FORMATS, detect_format, load_trace, read_trace
from energy_predict.traces.base import TraceWarning
from energy_predict.traces.reader import READERS
from tests.conftest import REPO

TRACES = REPO / "examples" / "traces"
NAMED = {"input_column": "prompt_len", "output_column": "gen_len", "time_column": "sent_at_ms"}

# file: (format, requests, first request's (input, output), arrival time unit)
EXAMPLES = {
    "azure_code_2023.csv": ("azure", 30, (4808, 10), "date"),
    "mooncake_conversation.jsonl": ("mooncake", 30, (6758, 500), "ms"),
    "vidur_splitwise_conv.csv": ("vidur", 40, (374, 44), "s"),
    "llmservingsim_sharegpt.tsv": ("llmservingsim", 30, (10, 70), "ns"),
    "llmservingsim_example.jsonl": ("llmservingsim", 10, (10, 70), "ns"),
    "burstgpt.csv": ("burstgpt", 38, None, "s"),
    "vllm_bench_detailed.json": ("vllm", 29, None, "s"),
    "vllm_bench_totals.json": ("vllm", 29, None, None),
    "openai_chat_completions.jsonl": ("openai", 30, None, "s"),
    "openai_batch_output.jsonl": ("openai", 19, None, "s"),
    "openai_usage.csv": ("openai", 30, None, "s"),
    "named_columns.csv": ("csv", 30, None, "ms"),
    "named_keys.jsonl": ("jsonl", 30, (650, 462), "ms"),
}


def test_every_format_has_a_reader_an_example_file_and_every_example_file_a_readme_line():
    assert set(READERS) == set(FORMATS)
    # issue 28, item 4: each reader has a real-shaped file (ShareGPT's is read with a tokenizer, in its own tests)
    tokenized = {"sharegpt_conversations.json": "sharegpt"}
    assert {fmt for fmt, *_ in EXAMPLES.values()} | set(tokenized.values()) == set(FORMATS)
    assert {p.name for p in TRACES.iterdir()} == {*EXAMPLES, *tokenized, "README.md"}
    readme = (TRACES / "README.md").read_text()
    for path in TRACES.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in readme, path.name


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_reads_as_its_format(name):
    fmt, n, first, unit = EXAMPLES[name]
    trace = load_trace(TRACES / name, **(NAMED if name == "named_columns.csv" else {}))
    frame = trace.frame
    assert trace.format == fmt and len(frame) == n and trace.time_unit == unit
    assert frame["input_tokens"].dtype.kind == "i" and frame["output_tokens"].dtype.kind == "i"
    if first is not None:
        assert (frame["input_tokens"][0], frame["output_tokens"][0]) == first
    arrival = frame["arrival_s"].to_numpy()
    if unit is None:
        assert np.isnan(arrival).all()
    else:
        assert arrival.min() == 0 and 0 < len(arrival) / arrival.max() < 100  # a serving rate, not 1e-6 or 1e6


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_format_named_on_the_command_line_reads_the_same(name):
    fmt = EXAMPLES[name][0]
    kw = NAMED if name == "named_columns.csv" else {}
    detected, told = load_trace(TRACES / name, **kw), load_trace(TRACES / name, fmt, **kw)
    assert told.frame.equals(detected.frame)


@pytest.mark.parametrize("name", ["vllm_bench_detailed.json", "burstgpt.csv", "openai_chat_completions.jsonl",
                                  "llmservingsim_sharegpt.tsv", "vidur_splitwise_conv.csv"])
def test_the_format_comes_from_the_content_not_the_file_name(name, tmp_path):
    renamed = tmp_path / "trace.txt"
    shutil.copy(TRACES / name, renamed)
    assert detect_format(renamed) == EXAMPLES[name][0]
    misnamed = tmp_path / ("trace.json" if name.endswith((".csv", ".tsv")) else "trace.csv")
    shutil.copy(TRACES / name, misnamed)
    assert load_trace(misnamed).frame.equals(load_trace(TRACES / name).frame)


def test_vllm_result_lists_requests_drops_failed_ones_and_keeps_start_times():
    doc = json.loads((TRACES / "vllm_bench_detailed.json").read_text())
    ok = [k for k, e in enumerate(doc["errors"]) if not e]
    trace = load_trace(TRACES / "vllm_bench_detailed.json")
    assert trace.frame["input_tokens"].tolist() == [doc["input_lens"][k] for k in ok]
    assert trace.frame["output_tokens"].tolist() == [doc["output_lens"][k] for k in ok]
    starts = np.array([doc["start_times"][k] for k in ok])
    assert np.allclose(trace.frame["arrival_s"], starts - starts.min())
    assert trace.notes == ("dropped 1 failed request (an error in the result's errors list)",)


def test_vllm_result_with_totals_only_gives_mean_requests_and_says_so():
    doc = json.loads((TRACES / "vllm_bench_totals.json").read_text())
    trace = load_trace(TRACES / "vllm_bench_totals.json")
    assert len(trace.frame) == doc["completed"]
    assert set(trace.frame["input_tokens"]) == {round(doc["total_input_tokens"] / doc["completed"])}
    assert "totals only" in trace.notes[0] and "--save-detailed" in trace.notes[0] and "--rate 4" in trace.notes[0]


def test_vllm_appended_results_read_one_after_another_without_times(tmp_path):
    one = (TRACES / "vllm_bench_detailed.json").read_text()
    path = tmp_path / "appended.json"
    path.write_text(one + "\n" + one)
    trace = load_trace(path)
    assert len(trace.frame) == 58 and trace.time_unit is None and trace.frame["arrival_s"].isna().all()
    assert any("2 results (--append-result)" in n for n in trace.notes)


def test_vllm_result_refuses_lists_of_different_lengths_and_bad_counts(tmp_path):
    doc = json.loads((TRACES / "vllm_bench_detailed.json").read_text())
    short = {**doc, "output_lens": doc["output_lens"][:-1]}
    (tmp_path / "short.json").write_text(json.dumps(short))
    with pytest.raises(InputError, match=r"^output_lens: .*29 items for 30 requests"):
        load_trace(tmp_path / "short.json")
    bad = {**doc, "input_lens": ["many"] + doc["input_lens"][1:]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match=r"^input_lens: 1 rows with bad input token counts \(first: data row 1"):
        load_trace(tmp_path / "bad.json")


def test_burstgpt_drops_the_failed_requests_it_marks_with_zero_response_tokens():
    trace = load_trace(TRACES / "burstgpt.csv")
    assert (trace.frame["output_tokens"] > 0).all()
    assert trace.notes == ("dropped 2 of 40 requests with 0 response tokens, which BurstGPT marks as failed",)


def test_vidur_and_llmservingsim_times_are_read_in_their_documented_units():
    vidur = load_trace(TRACES / "vidur_splitwise_conv.csv").frame["arrival_s"]
    assert vidur[1] == pytest.approx(4.314579)
    sim = load_trace(TRACES / "llmservingsim_sharegpt.tsv").frame["arrival_s"]
    assert sim[1] == pytest.approx((347938952 - 46926808) * 1e-9)
    assert sim.max() == pytest.approx(2.370474110)  # 30 requests in 2.4 s, not 2.4e9 s (75 years)


def test_openai_logs_read_created_and_nested_usage_and_drop_failed_batch_requests():
    lines = [json.loads(x) for x in (TRACES / "openai_chat_completions.jsonl").read_text().splitlines()]
    frame = load_trace(TRACES / "openai_chat_completions.jsonl").frame
    assert frame["input_tokens"].tolist() == [r["usage"]["prompt_tokens"] for r in lines]
    assert frame["arrival_s"].iloc[-1] == lines[-1]["created"] - lines[0]["created"]
    batch = load_trace(TRACES / "openai_batch_output.jsonl")
    assert batch.notes == ("dropped 1 failed request (an error, or a status other than 200, in the batch output)",)


def test_openai_responses_api_objects_and_a_json_array(tmp_path):
    records = [{"id": f"resp_{k}", "object": "response", "created_at": 1741476542 + 2 * k, "status": "completed",
                "usage": {"input_tokens": 30 + k, "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens": 9 + k, "output_tokens_details": {"reasoning_tokens": 4},
                          "total_tokens": 39 + 2 * k}} for k in range(5)]
    (tmp_path / "responses.json").write_text(json.dumps(records, indent=1))
    trace = load_trace(tmp_path / "responses.json")
    assert trace.format == "openai" and trace.frame["output_tokens"].tolist() == [9, 10, 11, 12, 13]
    assert trace.frame["arrival_s"].tolist() == [0, 2, 4, 6, 8]


def test_openai_usage_totals_per_bucket_are_refused_with_why(tmp_path):
    page = {"object": "page", "data": [{"object": "bucket", "start_time": 1730419200, "end_time": 1730505600,
                                        "results": [{"object": "organization.usage.completions.result",
                                                     "input_tokens": 1000, "output_tokens": 500,
                                                     "num_model_requests": 5}]}], "has_more": False}
    (tmp_path / "usage.json").write_text(json.dumps(page))
    with pytest.raises(InputError, match="totals per time bucket"):
        load_trace(tmp_path / "usage.json")
    (tmp_path / "usage.csv").write_text("start_time,n_requests,n_context_tokens_total,n_generated_tokens_total\n"
                                        "1730419200,5,1000,500\n")
    with pytest.raises(InputError, match="totals per time bucket"):
        load_trace(tmp_path / "usage.csv")


def test_openai_record_without_usage_names_the_field(tmp_path):
    lines = (TRACES / "openai_chat_completions.jsonl").read_text().splitlines()
    broken = json.loads(lines[2])
    del broken["usage"]["completion_tokens"]
    (tmp_path / "log.jsonl").write_text("\n".join([lines[0], lines[1], json.dumps(broken)]) + "\n")
    with pytest.raises(InputError, match=r"^usage.completion_tokens: 1 rows .*data row 3, missing"):
        load_trace(tmp_path / "log.jsonl")


def test_named_columns_need_their_names_and_fixed_formats_refuse_them():
    with pytest.raises(InputError, match="^--input-column: no input-token column"):
        load_trace(TRACES / "named_columns.csv")
    with pytest.raises(InputError, match="^--input-column: a vLLM bench result has fixed fields"):
        load_trace(TRACES / "vllm_bench_detailed.json", input_column="input_lens")


def test_sharegpt_without_a_tokenizer_is_refused_with_what_to_do():
    with pytest.raises(InputError, match="^--tokenizer: ShareGPT-style conversations hold text"):
        load_trace(TRACES / "sharegpt_conversations.json")
    with pytest.raises(InputError, match=r"^workload.tokens.path: .*profile from-trace FILE --tokenizer"):
        load_trace(TRACES / "sharegpt_conversations.json", from_profile=True)


def test_sharegpt_missing_tokenizer_is_named_and_nothing_is_downloaded(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match=r"^--tokenizer: no tokenizer .*nothing is downloaded"):
        load_trace(TRACES / "sharegpt_conversations.json", tokenizer=str(tmp_path / "no-such-tokenizer"))


def _word_tokenizer(folder):
    """A tokenizer of words and punctuation (one token each), saved as transformers saves one; no download."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(folder)
    return folder


def test_sharegpt_counts_each_assistant_turn_with_the_turns_before_it_as_its_prompt(tmp_path):
    pytest.importorskip("transformers")
    import re

    data = json.loads((TRACES / "sharegpt_conversations.json").read_text())
    trace = load_trace(TRACES / "sharegpt_conversations.json", tokenizer=str(_word_tokenizer(tmp_path / "tok")))
    words = [[len(re.findall(r"\w+|[^\w\s]+", t["value"])) for t in c["conversations"]] for c in data]
    expected = [(sum(w[:k]), w[k]) for c, w in zip(data, words) for k, t in enumerate(c["conversations"])
                if t["from"] == "gpt"]
    assert list(zip(trace.frame["input_tokens"], trace.frame["output_tokens"])) == expected
    assert len(expected) == 11 and trace.frame["arrival_s"].isna().all()


def test_read_trace_keeps_its_frame_and_gives_notes_as_warnings():
    with pytest.warns(TraceWarning, match="dropped 2 of 40"):
        frame = read_trace(TRACES / "burstgpt.csv")
    assert list(frame.columns) == ["input_tokens", "output_tokens", "arrival_s"]
    moon = read_trace(TRACES / "mooncake_conversation.jsonl")
    assert list(moon.columns) == ["input_tokens", "output_tokens", "arrival_s", "hash_ids"]


def test_a_json_array_on_one_long_line_and_a_byte_order_mark_are_read(tmp_path):
    rows = [{"input_tokens": 100 + k, "output_tokens": 5, "arrival_s": k / 10, "note": "x" * 100} for k in range(9000)]
    (tmp_path / "rows.json").write_text(json.dumps(rows))  # one line of 1.4 MB
    trace = load_trace(tmp_path / "rows.json")
    assert trace.format == "jsonl" and len(trace.frame) == 9000 and trace.frame["arrival_s"].iloc[-1] == 899.9
    (tmp_path / "bom.json").write_text(json.dumps(rows[:3]), encoding="utf-8-sig")
    assert len(load_trace(tmp_path / "bom.json").frame) == 3


def test_a_known_format_also_takes_the_usual_names_for_what_it_lacks(tmp_path):
    (tmp_path / "t.csv").write_text("num_prefill_tokens,num_decode_tokens,arrival_s\n10,5,0\n20,6,2\n")
    trace = load_trace(tmp_path / "t.csv")
    assert trace.format == "vidur" and trace.frame["arrival_s"].tolist() == [0, 2]

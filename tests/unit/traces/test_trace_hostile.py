"""Every reader against hostile files: one line on stderr, exit 2, file content never quoted, and a file whose
first MiB is no trace refused without reading the rest."""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from energy_predict.cli import app
from energy_predict.errors import EnergyPredictError
from energy_predict.profile import MAX_TOKENS
from energy_predict.traces import FORMATS, load_trace

runner = CliRunner()
SECRET = "root:x:0:0:TOPSECRET-HASH:/root:/bin/bash\ndaemon:x:1:1:TOPSECRET:/usr/sbin:/usr/sbin/nologin\n"
HOSTILE = {
    "passwd": SECRET,
    "binary": bytes(range(256)) * 64,
    "deep-json": "[" * 100_000 + "]" * 100_000 + "\n",
    "json-number": "[1, 2, 3]\n",
    "json-strings": '["TOPSECRET", "TOPSECRET"]',
    "empty": "",
    "object-of-junk": json.dumps({"TOPSECRET": [1, 2], "input_lens": "TOPSECRET"}),
    "usage-junk": json.dumps({"usage": "TOPSECRET", "created": "TOPSECRET"}) + "\n",
    "conversation-junk": json.dumps([{"conversations": "TOPSECRET"}]),
    "header-secret": "TOPSECRET,input_toks\n1,2\n",
    "markup-keys": '{"[bold]TOPSECRET": 1, "input_toks": "[/x]", "output_toks": 3, "arrival_time_ns": 0}\n',
}


def _refused_in_one_line(result, *words):
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and not any(w in result.stderr for w in words)


@pytest.mark.parametrize("fmt", [None, *FORMATS])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_every_reader_refuses_hostile_files_in_one_line_without_quoting_them(case, fmt, tmp_path):
    content = HOSTILE[case]
    path = tmp_path / "t.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    args = ["profile", "from-trace", str(path), "-o", str(tmp_path / "o.json"), "--tokenizer", str(tmp_path / "no")]
    result = runner.invoke(app, args + (["--trace-format", fmt] if fmt else []))
    _refused_in_one_line(result, "TOPSECRET", "root:x", "daemon")


@pytest.mark.parametrize("fmt", [None, *FORMATS])
def test_a_file_whose_first_mib_is_no_trace_is_refused_before_the_rest_is_read(fmt, tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    with path.open("wb") as fh:
        fh.write(b'{"input_lens": "' if fmt in ("vllm", None) else b"")
        fh.write(b"A" * (3 << 20))
    import energy_predict.traces.tables as tables

    def no_whole_read(*args, **kwargs):
        raise AssertionError("read the whole file")

    if fmt not in ("vllm", None):  # a JSON start may be a long document: that one is read, and refused whole
        monkeypatch.setattr(tables, "_text", no_whole_read)
        monkeypatch.setattr(tables.pd, "read_csv", no_whole_read)
    result = runner.invoke(app, ["profile", "from-trace", str(path), "-o", str(tmp_path / "o.json")]
                           + (["--trace-format", fmt] if fmt else []))
    _refused_in_one_line(result, "AAAAAAAAAAAAAAAA")


# Random records with each JSON format's keys and hostile values: a checked frame, or one InputError line.
NUMBERS = st.one_of(st.integers(-5, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, MAX_TOKENS, MAX_TOKENS + 1, 2**63, -1, 1e300, 3.5]))
VALUES = st.one_of(NUMBERS, st.none(), st.booleans(), st.text(max_size=8), st.lists(st.integers(0, 9), max_size=3))
FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@st.composite
def vllm_results(draw):
    n = draw(st.integers(0, 5))
    lists = {k: draw(st.lists(VALUES, min_size=n, max_size=n + (draw(st.integers(0, 5)) == 0)))
             for k in ("input_lens", "output_lens", "start_times", "errors")}
    doc = {k: v for k, v in lists.items() if draw(st.integers(0, 5)) or k == "input_lens"}
    if draw(st.booleans()):
        doc = {"completed": draw(VALUES), "total_input_tokens": draw(VALUES), "total_output_tokens": draw(VALUES),
               "request_rate": draw(st.one_of(VALUES, st.just("inf")))}
    return json.dumps(doc)


@st.composite
def openai_logs(draw):
    def one():
        usage = {"prompt_tokens": draw(VALUES), "completion_tokens": draw(VALUES)}
        body = {"object": "chat.completion", "created": draw(VALUES), "usage": usage}
        if draw(st.integers(0, 3)) == 0:
            return {"custom_id": "r", "response": {"status_code": draw(st.sampled_from([200, 400, None])),
                                                   "body": draw(st.sampled_from([body, None, "x"]))},
                    "error": draw(st.sampled_from([None, {"code": "x"}]))}
        return body
    return "\n".join(json.dumps(one()) for _ in range(draw(st.integers(1, 5)))) + "\n"


def _check(text, tmp_path, fmt):
    path = tmp_path / "t.json"
    path.write_text(text)
    try:
        trace = load_trace(path, fmt)
    except EnergyPredictError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 2000
        return
    frame = trace.frame
    for col in ("input_tokens", "output_tokens"):
        assert frame[col].dtype.kind == "i" and frame[col].between(0, MAX_TOKENS).all()
    assert not np.isinf(frame["arrival_s"].to_numpy(float)).any()
    assert all(math.isfinite(float(x)) for x in frame["arrival_s"].dropna())


@FUZZ
@given(vllm_results())
def test_fuzz_vllm_results(tmp_path, text):
    _check(text, tmp_path, None)


@FUZZ
@given(openai_logs())
def test_fuzz_openai_logs(tmp_path, text):
    _check(text, tmp_path, "openai")

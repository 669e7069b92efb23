"""`energy-predict estimate` (issue 28, item 2): a one-line query builds the profile and prints its report."""

import json

import pytest
from typer.testing import CliRunner

from energy_predict.cli import app
from energy_predict.errors import InputError
from energy_predict.profile import parse_profile
from energy_predict.query import query_profile

runner = CliRunner()
QUERY = ["estimate", "--model", "Llama-3.1-8B", "--gpu", "H100-SXM-80GB", "--input", "1024", "--output", "256"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("extra", [[], ["--rate", "3"], ["--requests", "50", "--framework", "hf", "--max-batch", "16"],
                                   ["--precision", "fp8"]], ids=["offline", "online", "hf", "fp8"])
def test_the_report_is_the_one_profile_prints_for_the_saved_profile(tmp_path, extra):
    saved = tmp_path / "q.json"
    result = run(*QUERY, *extra, "--save-profile", saved, "--json")
    assert result.exit_code == 0, result.output
    again = run("--profile", saved, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(result.output) == json.loads(again.output)


def test_the_built_profile_says_what_was_asked(tmp_path):
    saved = tmp_path / "q.json"
    result = run(*QUERY, "--rate", "2.5", "--tp", "2", "--save-profile", saved, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(saved.read_text())
    assert data["workload"]["tokens"] == {"kind": "samples", "samples": [[1024, 256]]}
    assert data["workload"]["rate_per_s"] == 2.5 and data["workload"]["period_s"] == 3600.0
    assert data["serving"]["mode"] == "online" and data["serving"]["tensor_parallel"] == 2
    assert data["hardware"] == {"gpu": "H100-SXM-80GB", "count": 2}
    parse_profile(data)


def test_an_online_query_is_simulated_and_an_offline_one_is_not():
    online = json.loads(run(*QUERY, "--rate", "3", "--json").output)
    offline = json.loads(run(*QUERY, "--json").output)
    assert online["mode"] == "online" and online["online"] is not None
    assert offline["mode"] == "offline" and offline["requests"] == 1000


def test_a_hugging_face_id_is_the_registry_model_of_its_shape():
    by_id = run(*[a if a != "Llama-3.1-8B" else "meta-llama/Llama-3.1-8B-Instruct" for a in QUERY], "--json")
    by_name = run(*QUERY, "--json")
    assert by_id.exit_code == 0, by_id.output
    assert {**json.loads(by_id.output), "profile": ""} == {**json.loads(by_name.output), "profile": ""}


def test_the_table_prints():
    result = run(*QUERY)
    assert result.exit_code == 0, result.output
    assert "kWh" in result.output and "measured" in result.output


@pytest.mark.parametrize(("extra", "message"), [
    (["--rate", "2", "--requests", "5"], "--requests: and --rate both say how much traffic"),
    (["--precision", "int4"], "--precision: 'int4' is not a precision here"),
    (["--framework", "tgi"], "--framework: 'tgi' is not a serving framework"),
    (["--period-s", "60"], "--period-s: is the period arrivals at a rate come in"),
    (["--rate", "-1"], "--rate: -1.0 is not a rate"),
    (["--input", "-1"], "Invalid value for '--input'"),
])
def test_bad_options_are_one_line_and_exit_2(extra, message):
    result = run(*QUERY, *extra)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_an_unknown_model_is_refused_with_the_shipped_ids():
    result = run(*["someone/Nope-1B" if a == "Llama-3.1-8B" else a for a in QUERY])
    assert result.exit_code == 2 and "meta-llama/Llama-3.1-8B" in result.output


def test_query_profile_refuses_contradictions():
    with pytest.raises(InputError):
        query_profile("Llama-3.1-8B", "H100-SXM-80GB", 1, 1, rate_per_s=1.0, requests=2)
    assert query_profile("Llama-3.1-8B", "H100-SXM-80GB", 1, 1, precision="fp8")["serving"]["quantization"] == "fp8"

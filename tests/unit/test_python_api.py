"""The Python API (issue 28, item 1): energy_predict.predict(profile) -> Report, as the CLI's --json."""

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import energy_predict
from energy_predict.cli import app
from energy_predict.errors import InputError
from energy_predict.predict.report_types import Report
from energy_predict.profile import load_profile
from tests.conftest import EXAMPLES, REPO

CODE_GEN = EXAMPLES / "code_gen.json"


def _cli_json(*args):
    result = CliRunner().invoke(app, ["--profile", str(CODE_GEN), "--json", *map(str, args)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_path_a_dict_and_a_profile_give_the_cli_report():
    expected = _cli_json()
    for given in (CODE_GEN, str(CODE_GEN), json.loads(CODE_GEN.read_text()), load_profile(CODE_GEN)):
        report = energy_predict.predict(given)
        assert isinstance(report, Report)
        assert report.to_dict() == expected


def test_rate_gpus_and_model_mirror_the_cli_options():
    online = energy_predict.predict(CODE_GEN, rate=2.57, gpu_count=2)
    assert online.to_dict() == _cli_json("--rate", 2.57, "--gpu-count", 2)
    roofline = energy_predict.predict(CODE_GEN, energy_model="roofline")
    assert roofline.to_dict() == _cli_json("--energy-model", "roofline")
    loaded = energy_predict.load_model("flops-tdp")
    assert energy_predict.predict(CODE_GEN, energy_model=loaded).to_dict() == _cli_json("--energy-model", "flops-tdp")


def test_the_call_works_after_the_stage_package_is_imported():
    import energy_predict.predict.run  # noqa: F401  (sets energy_predict.predict to the package)

    assert callable(energy_predict.predict)
    assert energy_predict.predict(CODE_GEN).energy_kwh.estimate > 0


def test_to_dataframe_is_the_per_bin_table():
    report = energy_predict.predict(CODE_GEN)
    frame = report.to_dataframe()
    assert len(frame) == len(report.bins) > 0
    assert frame["energy_kwh"].sum() == pytest.approx(sum(b.energy_kwh for b in report.bins))
    assert list(frame.columns)[:2] == ["input_bin", "output_bin"]


@pytest.mark.parametrize(("given", "field"), [
    ("profile.yaml", "profile"), (3, "profile"), ({"name": "x"}, "model"), ("missing.json", "--profile")])
def test_bad_profiles_are_input_errors(tmp_path, given, field):
    if isinstance(given, str):
        given = tmp_path / given
        if given.suffix == ".yaml":
            given.write_text("name: x\n")
    with pytest.raises(InputError) as caught:
        energy_predict.predict(given)
    assert caught.value.field == field


@pytest.mark.parametrize(("options", "field"), [({"rate": 0}, "rate"), ({"rate": float("nan")}, "rate"),
                                                ({"gpu_count": 0}, "gpu_count"), ({"gpu_count": 1.5}, "gpu_count")])
def test_bad_options_are_input_errors(options, field):
    with pytest.raises(InputError) as caught:
        energy_predict.predict(CODE_GEN, **options)
    assert caught.value.field == field


def test_the_former_keywords_warn_and_mean_the_same():
    with pytest.warns(DeprecationWarning, match=r"predict\((gpus|model)=...\) is deprecated") as seen:
        old = energy_predict.predict(CODE_GEN, gpus=2, model="flops-tdp").to_dict()
    assert sorted(str(w.message).split(";")[1] for w in seen) == [" use energy_model=", " use gpu_count="]
    assert {w.filename for w in seen} == {__file__}  # the warning names the caller's line
    assert old == energy_predict.predict(CODE_GEN, gpu_count=2, energy_model="flops-tdp").to_dict()
    with pytest.warns(DeprecationWarning), pytest.raises(InputError) as caught:
        energy_predict.predict(CODE_GEN, model="roofline", energy_model="roofline")
    assert caught.value.field == "model"


def test_import_is_light():
    code = ("import sys, energy_predict; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pydantic', 'numpy', 'pandas', 'typer', 'rich') or m.startswith('energy_predict.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_example_script_prints_the_cli_numbers():
    result = subprocess.run([sys.executable, str(EXAMPLES / "python_api.py")], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    offline, online, roofline = _cli_json(), _cli_json("--rate", 2.57), _cli_json("--energy-model", "roofline")
    energy = offline["energy_kwh"]
    text = result.stdout
    assert f"offline energy_kwh {energy['estimate']!r} [{energy['low']!r}, {energy['high']!r}]" in text
    assert f"offline energy_per_request_j {offline['energy_per_request_j']!r}" in text
    assert f"offline basis {offline['basis']['kind']}" in text
    assert f"online energy_kwh {online['energy_kwh']['estimate']!r}" in text
    assert f"roofline energy_kwh {roofline['energy_kwh']['estimate']!r}" in text
    biggest = max(offline["bins"], key=lambda b: b["energy_kwh"])
    assert re.search(rf"bins {len(offline['bins'])} rows, the largest: \[{biggest['input_bin']}, "
                     rf"{biggest['output_bin']}\]", text)
    cli = CliRunner().invoke(app, ["plan", "-p", str(CODE_GEN), *PLAN_FLAGS, "--json"])
    plan = json.loads(cli.stdout)
    assert (f"plan recommended {plan['recommended']['label']}: {plan['recommended']['energy_kwh_per_day']!r} kWh "
            "a day") in text
    assert f"plan front {len(plan['front'])} rows" in text


PLAN_SPACE = {"gpu_kinds": ["H100-SXM-80GB"], "tp": [1], "precisions": ["bf16"], "max_gpus": 2}
PLAN_FLAGS = ["--gpu-kinds", "H100-SXM-80GB", "--tp", "1", "--precisions", "bf16", "--max-gpus", "2"]


def test_plan_is_the_cli_plan_and_its_page_and_table(tmp_path):
    result = energy_predict.plan(CODE_GEN, **PLAN_SPACE)
    assert isinstance(result, energy_predict.Plan)
    assert type(result.recommended.energy_kwh_per_day) is float  # not a numpy float64 (its repr says np.float64)
    page = tmp_path / "plan.html"
    cli = CliRunner().invoke(app, ["plan", "-p", str(CODE_GEN), *PLAN_FLAGS, "--json", "--html", str(page)])
    assert cli.exit_code == 0, cli.output
    assert result.to_dict() == json.loads(cli.stdout)
    assert result.to_html() == page.read_text()
    frame = result.to_dataframe()
    assert len(frame) == len(result.rows) > 0
    assert list(frame["label"]) == [r.candidate.label for r in result.rows]
    assert frame["energy_kwh_per_day"].tolist() == [r.energy_kwh_per_day for r in result.rows]
    assert "candidate.gpu" in frame.columns


def test_report_to_html_is_the_page_of_html(tmp_path):
    page = tmp_path / "report.html"
    cli = CliRunner().invoke(app, ["--profile", str(CODE_GEN), "--html", str(page), "-q"])
    assert cli.exit_code == 0, cli.output
    report = energy_predict.predict(CODE_GEN)
    assert report.to_html() == page.read_text()
    bare = report.to_html(with_plots=False)
    assert "<img" in page.read_text()  # matplotlib comes with the test extra
    assert "<img" not in bare and 'id="headline"' in bare


@pytest.mark.parametrize(("options", "field"), [
    ({"rate": -1}, "rate"), ({"headroom": 1.5}, "headroom"), ({"max_gpus": 0}, "max_gpus"),
    ({"tp": "1,2"}, "tp"), ({"tp": [1.5]}, "tp"), ({"prefix_caching": ["on"]}, "prefix_caching"),
    ({"speculative": ["Llama-3.2-1B:4"]}, "speculative"), ({"ttft_p90_ms": float("inf")}, "ttft_p90_ms"),
    ({"gpu_hour_price": -1.0}, "gpu_hour_price"), ({"energy_model": 3}, "energy_model")])
def test_bad_plan_options_are_input_errors(options, field):
    with pytest.raises(InputError) as caught:
        energy_predict.plan(CODE_GEN, **{**PLAN_SPACE, **options})
    assert caught.value.field == field


def test_the_pages_code_blocks_run(monkeypatch):
    """docs/python-api.md's examples run as written, from the repository's root, one after another."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "python-api.md").read_text(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(REPO)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/python-api.md", "exec"), namespace)
    assert isinstance(namespace["report"], Report) and isinstance(namespace["plan"], energy_predict.Plan)
    assert namespace["plan"].recommended.on_front


def test_plan_many_gives_each_profiles_plan_in_order():
    conversation = EXAMPLES / "conversation.json"
    plans = energy_predict.plan_many([CODE_GEN, conversation], **PLAN_SPACE, workers=2)
    assert [p.profile for p in plans] == ["code_gen", "conversation"]
    assert plans[1].to_dict() == energy_predict.plan(conversation, **PLAN_SPACE).to_dict()


@pytest.mark.parametrize(("profiles", "options", "field", "needle"), [
    ("examples/code_gen.json", {}, "profiles", "not a list"), ([], {}, "profiles", "not a list"),
    ([CODE_GEN, {"name": "x"}], {}, "model", "(profile profiles[1])"), ([CODE_GEN], {"workers": 0}, "workers", "0"),
    ([CODE_GEN], {"ray": 1}, "ray", "Ray address")])
def test_plan_many_refuses_bad_input_naming_the_profile(profiles, options, field, needle):
    with pytest.raises(InputError) as caught:
        energy_predict.plan_many(profiles, **{**PLAN_SPACE, **options})
    assert caught.value.field == field and needle in str(caught.value)

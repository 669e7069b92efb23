"""Property-based fuzzing of profiles and traces (issue 13): whatever goes in, the library answers with an
EnergyPredictError whose message is one line, or with a result whose numbers are all finite.

Derandomized (CI reproduces every example) and deadline-free. Each property runs twice: a smoke run of a twentieth
of its examples in the default test run, and its full campaign under the slow marker (1600 examples in all, each
CI run). Most exercise parsing and workload building, which are cheap; a few hundred go through the whole
prediction with the default model.
"""

from __future__ import annotations

import inspect
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from energy_predict.errors import EnergyPredictError
from energy_predict.profile import MAX_TOKENS

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
N_LOADING, N_PREDICTION, N_ONLINE, N_TRACES, N_CONFIG = 600, 300, 100, 400, 200  # a full campaign: 1600
SMOKE_SHARE = 20  # the default run tries 1/20 of each campaign's examples
WORK = Path(tempfile.mkdtemp(prefix="energy-predict-fuzz-"))  # hypothesis examples cannot take tmp_path


def campaign(strategy, examples: int):
    """A property as two tests: `[smoke]`, `examples // SMOKE_SHARE` examples in the default run, and `[full]`,
    all of them, under the slow marker (hypothesis fixes a test's settings where it is decorated, so the size is
    chosen here, not by a settings profile)."""

    def tests(check):
        @pytest.mark.parametrize("n", [pytest.param(max(examples // SMOKE_SHARE, 5), id="smoke"),
                                       pytest.param(examples, id="full", marks=pytest.mark.slow)])
        def test(n):
            settings(FUZZ, max_examples=n)(given(strategy)(check))()

        test.__name__, test.__qualname__, test.__doc__ = check.__name__, check.__qualname__, check.__doc__
        return test

    return tests

MARKUP = ["[/x]", "[bold]", "[bold]x[/bold]", "[link=file:///etc/passwd]x[/link]", "[", "]", "\\[x]", "\x1b[31m"]
NAMES = ["Llama-3.1-8B", "Llama-3.2-1B", "Qwen2.5-7B", "OLMoE-1B-7B", "H100-SXM-80GB", "H200", "A100", "B200"]
EXTREME_NUMBERS = [0, 1, -1, 0.5, 2**31, 2**32, 2**40, 2**53 + 1, 2**63, 2**64, 2**70, 1e15, 1e20, 1e300, 1e308,
                   -1e308, 5e-324, float("nan"), float("inf"), float("-inf")]

numbers = st.one_of(st.integers(min_value=-2**80, max_value=2**80), st.floats(), st.sampled_from(EXTREME_NUMBERS))
texts = st.one_of(st.text(max_size=12), st.sampled_from(MARKUP + NAMES))
leaves = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(texts, inner, max_size=3), max_leaves=6)


def _base(tokens: dict, **workload) -> dict:
    return {"schema_version": 1, "name": "fuzz", "model": "Llama-3.1-8B",
            "hardware": {"gpu": "H100-SXM-80GB", "count": 1},
            "serving": {"framework": "vllm", "cuda_graphs": True, "max_batch": 64},
            "workload": {"tokens": tokens, **workload}}


# Valid-ish token distributions: the right shapes, lengths anywhere from 0 to beyond the bound.
def _mostly(common, rare):
    """`common` about four times in five (hypothesis' one_of picks its branches alike)."""
    return st.one_of(common, common, common, common, rare)


def _value(draw, hostile: bool, good, bad):
    """A plausible value; in a hostile example, one time in four a bad one."""
    return draw(bad) if hostile and draw(st.integers(0, 3)) == 0 else draw(good)


BAD_LEN = st.one_of(st.integers(min_value=-5, max_value=2**26), st.sampled_from([MAX_TOKENS + 1, 2**40, 2**70]),
                    numbers, texts)


@st.composite
def samples(draw, hostile: bool = False):
    n = draw(st.integers(1, 6))
    pairs = [[_value(draw, hostile, st.integers(0, 8192), BAD_LEN), _value(draw, hostile, st.integers(1, 4096),
                                                                             BAD_LEN)] for _ in range(n)]
    return {"kind": "samples", "samples": pairs}


@st.composite
def histograms(draw, hostile: bool = False):
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    in_edges = sorted(draw(st.sets(st.integers(0, 2**20), min_size=n_in + 1, max_size=n_in + 1)))
    out_edges = sorted(draw(st.sets(st.integers(0, 4096), min_size=n_out + 1, max_size=n_out + 1)))
    if hostile and draw(st.integers(0, 3)) == 0:
        edges = draw(st.sampled_from([in_edges, out_edges]))
        edges[draw(st.integers(0, len(edges) - 1))] = draw(st.one_of(numbers, st.none()))
    good_count = st.one_of(st.integers(0, 1000), st.floats(0, 1e6))
    counts = [[_value(draw, hostile, good_count, st.sampled_from(EXTREME_NUMBERS)) for _ in range(n_out)]
              for _ in range(n_in)]
    if hostile and draw(st.integers(0, 5)) == 0:
        counts = counts[:-1] if draw(st.booleans()) else [row[:-1] for row in counts]  # the wrong shape
    hist = {"kind": "histogram", "input_edges": in_edges, "output_edges": out_edges, "counts": counts}
    if draw(st.booleans()):
        good_mean = st.one_of(st.none(), st.floats(0, 2**20))
        hist["input_mean"] = [[_value(draw, hostile, good_mean, st.sampled_from(EXTREME_NUMBERS))
                               for _ in range(n_out)] for _ in range(n_in)]
    return hist


@st.composite
def traffic(draw, hostile: bool = False):
    out = {}
    for key, good in (("requests", st.floats(0.5, 1e6)), ("period_s", st.floats(1, 1e5)),
                      ("rate_per_s", st.floats(0.01, 100))):
        if draw(st.booleans()):
            out[key] = _value(draw, hostile, good, numbers)
    return out


PATHS = [("name",), ("model",), ("hardware", "gpu"), ("hardware", "count"), ("serving", "framework"),
         ("serving", "cuda_graphs"), ("serving", "max_batch"), ("serving", "tensor_parallel"),
         ("serving", "quantization"), ("workload", "requests"), ("workload", "period_s"), ("workload", "rate_per_s"),
         ("workload", "tokens"), ("workload", "tokens", "kind"), ("site",), ("site", "pue"), ("schema_version",),
         ("extra_field",)]


@st.composite
def profiles(draw):
    """A profile: plausible, or (half the time) with hostile numbers inside and up to three fields replaced by
    random JSON, markup or removed."""
    hostile = draw(st.booleans())
    tokens = draw(st.one_of(samples(hostile), histograms(hostile)))
    data = _base(tokens, **draw(traffic(hostile)))
    data["name"] = draw(texts)
    if draw(st.booleans()):
        data["site"] = {"pue": _value(draw, hostile, st.floats(1, 3), numbers), "carbon_g_per_kwh": 380}
    for _ in range(draw(st.integers(0, 3)) if hostile else 0):
        path = draw(st.sampled_from(PATHS))
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            if draw(st.integers(0, 4)) == 0:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = draw(json_values)
    return data


documents = _mostly(profiles().map(lambda d: json.dumps(d)),
                    st.one_of(json_values.map(json.dumps), st.text(max_size=40),
                              st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))


def _write(text: str, name: str = "p.json") -> Path:
    folder = Path(tempfile.mkdtemp(dir=WORK))
    path = folder / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def _one_line(exc: BaseException) -> None:
    assert isinstance(exc, EnergyPredictError), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    event(f"refused: {message.split(':')[0][:40]}")
    assert message and len(message.splitlines()) == 1, repr(message[:500])
    assert len(message) < 2000, f"{len(message)} characters"


def _finite(obj, where="result") -> None:
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, (int, float, np.integer, np.floating)):
        assert math.isfinite(float(obj)), f"{where} = {obj}"
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _finite(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for k, v in enumerate(obj):
            _finite(v, f"{where}[{k}]")
    elif isinstance(obj, np.ndarray):
        assert np.isfinite(obj.astype(float)).all(), where


def _check_workload(w) -> None:
    for name in ("input_tokens", "output_tokens"):
        x = np.asarray(getattr(w, name))
        assert x.dtype.kind in "iu" and (x >= 0).all() and (x <= MAX_TOKENS).all(), name
    weight = np.asarray(w.weight, dtype=float)
    assert np.isfinite(weight).all() and (weight >= 0).all() and weight.sum() > 0
    assert w.period_s is None or (math.isfinite(w.period_s) and w.period_s > 0)


def _load_case(path: Path):
    from energy_predict.predict import run

    return run.load_case(path)


_MODEL = []


def _predict(path: Path):
    """The library call behind `energy-predict --profile` (imported here: its home may move)."""
    from energy_predict.predict import run

    predict = run.predict_profile
    params = inspect.signature(predict).parameters
    if "model" in params and params["model"].default is inspect.Parameter.empty:
        if not _MODEL:
            from energy_predict.model.store import load_default_model

            _MODEL.append(load_default_model())
        return predict(path, _MODEL[0])
    return predict(path)


@campaign(documents, N_LOADING)
def test_fuzz_profile_loading(text):
    """Any document as a profile: one-line error, or a workload of whole, bounded lengths and finite weights."""
    path = _write(text)
    try:
        case = _load_case(path)
    except Exception as exc:  # noqa: BLE001 - the property is about what is raised
        _one_line(exc)
        return
    event("accepted")
    _check_workload(case.workload)


predictable_tokens = st.one_of(
    st.lists(st.tuples(st.integers(0, 32768), st.integers(1, 4096)), min_size=1, max_size=6).map(
        lambda s: {"kind": "samples", "samples": [list(x) for x in s]}),
    histograms(), _mostly(samples(), samples(hostile=True)))
prediction_profiles = st.builds(
    lambda tokens, traffic, serving, gpu, model: {**_base(tokens, **traffic), "serving": serving,
                                                  "hardware": {"gpu": gpu, "count": 1}, "model": model},
    predictable_tokens,
    st.fixed_dictionaries({}, optional={"requests": st.one_of(st.floats(1e-3, 1e15), st.sampled_from([1, 1e15])),
                                        "period_s": st.floats(1e-3, 1e10)}),
    st.fixed_dictionaries({"framework": st.sampled_from(["vllm", "hf"])},
                          optional={"cuda_graphs": st.booleans(), "max_batch": st.integers(1, 65536),
                                    "quantization": st.sampled_from([None, "fp8"])}),
    st.sampled_from(["H100-SXM-80GB", "H100", "NVIDIA H100 80GB HBM3", "H100-SXM-80GB", "A100-SXM-80GB"]),
    st.sampled_from(["Llama-3.1-8B", "Llama-3.2-1B", "Llama-3.1-70B", "OLMoE-1B-7B"]),
)


@campaign(_mostly(prediction_profiles, profiles()), N_PREDICTION)
def test_fuzz_prediction(data):
    """Whole predictions with the default model: one-line error, or a report of finite, standard-JSON numbers."""
    _check_report(data, "predicted")


def _check_report(data, what: str) -> None:
    path = _write(json.dumps(data))
    try:
        report = _predict(path).report.to_json()
    except Exception as exc:  # noqa: BLE001
        _one_line(exc)
        return
    event(what)
    _finite(report, "report")
    json.dumps(report, allow_nan=False)  # what the CLI prints
    _physical(report)


def _physical(report: dict) -> None:
    """Issue 29's properties of an answer: its parts sum to its total, its interval holds its estimate, and its
    power per GPU lies within what the GPU can draw."""
    from energy_predict.gpus import resolve_gpu

    energy, phases = report["energy_kwh"], report["phases"]
    assert 0 <= energy["low"] <= energy["estimate"] <= energy["high"], energy
    parts = phases["prefill_kwh"] + phases["decode_kwh"] + phases["idle_kwh"]
    assert math.isclose(parts, energy["estimate"], rel_tol=1e-6, abs_tol=1e-15), (parts, energy)
    power_w, tdp_w = report["mean_power_per_gpu_w"], resolve_gpu(report["deployment"]["gpu"]).tdp_w
    if power_w is not None:
        assert 0 < power_w <= tdp_w * 1.0001, f"{power_w} W per GPU, the GPU's limit {tdp_w} W"


online_profiles = st.builds(
    lambda tokens, requests, period, serving: {**_base(tokens, requests=requests, period_s=period),
                                               "serving": {**serving, "mode": "online"}},
    predictable_tokens, st.one_of(st.integers(1, 200), st.floats(0.001, 200)), st.floats(1e-3, 1e4),
    st.fixed_dictionaries({"framework": st.sampled_from(["vllm", "hf"])},
                          optional={"cuda_graphs": st.booleans(), "max_batch": st.integers(1, 512),
                                    "max_num_batched_tokens": st.integers(16, 2**16)}),
)


@campaign(online_profiles, N_ONLINE)
def test_fuzz_online_prediction(data):
    """Online serving (the continuous-batching simulation) on small random workloads: same property."""
    _check_report(data, "simulated")


# Traces: random rows in each format, with hostile cells.
BAD_CELLS = st.one_of(st.integers(-5, 2**70),
                      st.sampled_from(["", "nan", "inf", "-1", "1e20", "3.5", str(2**70), "[/x]", "x,y", '"q"', "\\",
                                       "1e400", "2023-11-16 18:15:46.6805900"]))


@st.composite
def csv_traces(draw):
    header = draw(st.sampled_from([["input_tokens", "output_tokens"], ["input_tokens", "output_tokens", "arrival_s"],
                                   ["TIMESTAMP", "ContextTokens", "GeneratedTokens"], ["a", "b"], ["[/x]"]]))
    hostile, width = draw(st.booleans()), len(header)
    rows = []
    for _ in range(draw(st.integers(0 if hostile else 1, 8))):
        size = draw(st.integers(0, width + 1)) if hostile and draw(st.integers(0, 5)) == 0 else width
        rows.append([_value(draw, hostile, st.integers(0, 5000), BAD_CELLS) for _ in range(size)])
    if header[0] == "TIMESTAMP" and not hostile:
        for k, row in enumerate(rows):
            row[0] = f"2023-11-16 18:15:{k:02d}.680590"
    lines = [",".join(header)] + [",".join(str(c) for c in row) for row in rows]
    return "t.csv", "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@st.composite
def jsonl_traces(draw):
    hostile = draw(st.booleans())
    rows = []
    for _ in range(draw(st.integers(0 if hostile else 1, 6))):
        if hostile and draw(st.integers(0, 5)) == 0:
            rows.append(draw(json_values))
            continue
        rows.append({"timestamp": _value(draw, hostile, st.integers(0, 10**7), numbers),
                     "input_length": _value(draw, hostile, st.integers(0, 10**5), st.one_of(numbers, texts)),
                     "output_length": _value(draw, hostile, st.integers(0, 10**4), st.one_of(numbers, texts))})
    return "t.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n"


traces = _mostly(st.one_of(csv_traces(), jsonl_traces()),
                 st.tuples(st.sampled_from(["t.csv", "t.jsonl", "t"]), st.text(max_size=60)))


@campaign(traces, N_TRACES)
def test_fuzz_traces(trace):
    """Any trace: one-line error, or bounded whole lengths whose from-trace profile is itself valid input."""
    from energy_predict.profile import parse_profile
    from energy_predict.traces import read_trace
    from energy_predict.workload import profile_from_trace, workload_from_profile

    name, text = trace
    path = _write(text, name)
    try:
        frame = read_trace(path)
    except Exception as exc:  # noqa: BLE001
        _one_line(exc)
        return
    event("read")
    for col in ("input_tokens", "output_tokens"):
        assert frame[col].dtype.kind in "iu" and frame[col].between(0, MAX_TOKENS).all()
    assert not np.isinf(frame["arrival_s"].to_numpy(dtype=float)).any()
    data = profile_from_trace(frame, "fuzz", "Llama-3.1-8B", "H100-SXM-80GB", source=name)
    json.dumps(data, allow_nan=False)
    _check_workload(workload_from_profile(parse_profile(data)))


CONFIG_KEYS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
               "intermediate_size", "vocab_size", "num_local_experts", "num_experts_per_tok", "max_position_embeddings",
               "tie_word_embeddings", "attention_bias", "model_type", "_name_or_path"]


@st.composite
def hf_configs(draw):
    """A small valid config.json, then some keys set to random JSON (or dropped)."""
    from tests.conftest import tiny_llama_config

    config = tiny_llama_config()
    if draw(st.booleans()):
        config.update(num_local_experts=draw(st.integers(1, 16)), num_experts_per_tok=draw(st.integers(1, 4)))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        key = draw(st.sampled_from(CONFIG_KEYS))
        if draw(st.integers(0, 4)) == 0:
            config.pop(key, None)
        else:
            config[key] = draw(_mostly(st.integers(-4, 2**21), json_values))
    return draw(json_values) if draw(st.integers(0, 9)) == 0 else config


@campaign(hf_configs(), N_CONFIG)
def test_fuzz_hf_config(config):
    """Any config.json: one-line error naming a key, or an architecture whose sizes are positive and bounded."""
    from energy_predict.architectures import resolve_architecture
    from energy_predict.flops import prefill_flops

    path = _write(json.dumps(config), "config.json")
    try:
        arch = resolve_architecture(str(path))
    except Exception as exc:  # noqa: BLE001
        _one_line(exc)
        return
    event("built")
    for name in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim", "intermediate_size",
                 "vocab_size"):
        value = getattr(arch, name)
        assert isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2**24, (name, value)
    assert arch.num_heads % arch.num_kv_heads == 0 and 0 <= arch.experts_per_token <= max(arch.num_experts, 0)
    flops = float(np.asarray(prefill_flops(arch, MAX_TOKENS)))
    assert math.isfinite(flops) and flops > 0 and math.isfinite(float(arch.total_params))


# Output paths (issue 29, item 1): whatever name --csv is given, the command writes that one file or nothing, never
# through a link, never anywhere else, and exits 0 or 2.
TRICKY_OUTPUTS = ["b.csv", "link.csv", "dirlink/b.csv", "sub", "sub/b.csv", "nope/b.csv", "../outside/b.csv", "p.json",
                  "p.json/b.csv", "", ".", "..", "/dev/full", "/proc/self/mem", "x" * 300 + ".csv", "a\x00b.csv",
                  "\x1b[2J.csv", "\udcff.csv", "-"]
OUTPUT_NAMES = st.one_of(st.sampled_from(TRICKY_OUTPUTS),
                         st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20))


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() and not p.is_symlink() else p.is_symlink())
            for p in root.rglob("*")}


def check_output_path(name: str) -> None:
    """`--csv NAME`: exit 0 or 2, and the tree changes at most by the regular file NAME names."""
    import os

    from typer.testing import CliRunner

    from energy_predict.cli import app
    from tests.test_hostile import base_profile

    root = Path(tempfile.mkdtemp(dir=WORK))
    work, outside = _links_around(root, ".csv"), root / "outside"
    (work / "p.json").write_text(json.dumps(base_profile()))
    before = _snapshot(root)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        result = CliRunner().invoke(app, ["--profile", "p.json", "--csv", name])
    finally:
        os.chdir(cwd)
    assert result.exit_code in (0, 2), (result.exit_code, result.output[-2000:])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    after = _snapshot(root)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    allowed = set()
    if result.exit_code == 0 and name != "-":
        target = (work / name).resolve(strict=False) if "\x00" not in name else None
        lexical = Path(os.path.abspath(work / name)) if target is not None else None
        if target is not None and target == lexical and target.is_relative_to(root):  # no link on the way
            allowed = {str(target.relative_to(root))}
    assert changed <= allowed, f"side effect: --csv {name!r} changed {sorted(changed)[:5]}"
    assert (outside / "victim.csv").read_text() == "keep me\n", "side effect: the file behind a link was overwritten"


test_fuzz_output_paths = campaign(OUTPUT_NAMES, 200)(check_output_path)


@pytest.mark.parametrize("name", TRICKY_OUTPUTS, ids=[repr(n)[:30] for n in TRICKY_OUTPUTS])
def test_tricky_output_paths(name):
    check_output_path(name)


# Issue 29, round two: `estimate` and `plan` through the CLI. Whatever the options, exit 0 or 2 (one line); an answer
# holds finite numbers whose parts sum to the total, whose interval holds the estimate and whose power per GPU lies
# within the GPU's limit; nothing but the file --save-profile names is written, never through a link.
HOSTILE_FLOATS = ["nan", "inf", "-inf", "-1", "0", "5e-324", "1e-300", "1e308", "abc", ""]
N_ESTIMATE, N_PLAN = 120, 60


def _float_option(draw, hostile: bool, good) -> str:
    return _value(draw, hostile, good.map(lambda x: f"{x:.6g}"), st.sampled_from(HOSTILE_FLOATS))


ESTIMATE_MODELS = ["Llama-3.1-8B", "Llama-3.2-1B", "OLMoE-1B-7B", "Qwen2.5-7B", "meta-llama/Llama-3.1-8B-Instruct",
                   "Qwen/Qwen2.5-7B", "deepseek-ai/DeepSeek-V3", "openai/gpt-oss-20b", "mistralai/Mixtral-8x7B-v0.1"]


@st.composite
def estimate_commands(draw):
    """Plausible options, or (a third of the time) some of them hostile."""
    hostile = draw(st.integers(0, 2)) == 0
    args = ["estimate", "--json",
            "--model", _value(draw, hostile, st.sampled_from(ESTIMATE_MODELS),
                              st.sampled_from(["org/none", "\x1b[2J", "\udcff", "x" * 300, "", *MARKUP])),
            "--gpu", _value(draw, hostile, st.sampled_from(["H100", "H200", "A100-SXM-80GB", "B200"]),
                            st.sampled_from(["H100\x1b[2J", "\udcff", "", "[/x]"])),
            "--input", str(_value(draw, hostile, st.integers(0, 20_000), st.sampled_from([-1, 2**24 + 1, 2**70]))),
            "--output", str(_value(draw, hostile, st.integers(1, 2_000), st.sampled_from([0, -5, 2**24, 2**40])))]
    traffic = draw(st.sampled_from(["none", "requests", "rate", "rate"]))
    if traffic == "requests":
        args += ["--requests", _float_option(draw, hostile, st.floats(1e-3, 1e15))]
    elif traffic == "rate":
        args += ["--rate", _float_option(draw, hostile, st.floats(0.01, 5)),
                 "--period-s", _float_option(draw, hostile, st.floats(1, 600))]
    for flag, good, bad in (("--tp", ["1", "2", "4", "8"], ["3", "0"]),
                            ("--precision", ["bf16", "fp16", "fp8"], ["fp4"]), ("--framework", ["vllm", "hf"], ["tgi"]),
                            ("--max-batch", ["1", "16", "256"], ["0", "70000"]),
                            ("--energy-model", ["default", "roofline", "flops-tdp"], ["nope"])):
        if draw(st.booleans()):
            args += [flag, _value(draw, hostile, st.sampled_from(good), st.sampled_from(bad))]
    save = draw(st.one_of(st.none(), st.sampled_from(TRICKY_OUTPUTS)))
    if save is not None:
        args += ["--save-profile", save.replace(".csv", ".json")]
    return args


def _links_around(root: Path, suffix: str = ".json") -> Path:
    """A work folder beside an outside one it links into: `link{suffix}` to `outside/victim{suffix}` (kept as
    "keep me"), and `dirlink` to the outside folder."""
    work, outside = root / "work", root / "outside"
    (work / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / f"victim{suffix}").write_text("keep me\n")
    (work / f"link{suffix}").symlink_to(outside / f"victim{suffix}")
    (work / "dirlink").symlink_to(outside, target_is_directory=True)
    return work


def _invoke_in(work: Path, args: list[str]):
    import os

    from typer.testing import CliRunner

    from energy_predict.cli import app

    cwd = os.getcwd()
    os.chdir(work)
    try:
        return CliRunner().invoke(app, args)
    finally:
        os.chdir(cwd)


def _refused_or_answered(result) -> dict | None:
    """Exit 0 with standard JSON (returned) or exit 2 with one line; never a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), (result.exit_code, result.output[-2000:])
    if result.exit_code == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
        assert len(lines) == 1, result.stderr[-2000:]
        event(f"refused: {lines[0].split(':')[1][:30] if ':' in lines[0] else lines[0][:30]}")
        return None
    event("answered")
    data = json.loads(result.stdout, parse_constant=lambda token: pytest.fail(f"non-standard JSON {token}"))
    _finite(data, "output")
    return data


def check_estimate(args: list[str]) -> None:
    """`estimate` with any options: the answer's properties, and nothing written but --save-profile's file."""
    import os

    root = Path(tempfile.mkdtemp(dir=WORK))
    work = _links_around(root)
    before = _snapshot(root)
    result = _invoke_in(work, args)
    report = _refused_or_answered(result)
    if report is not None:
        _physical(report)
    changed = {k for k in before.keys() | _snapshot(root).keys() if before.get(k) != _snapshot(root).get(k)}
    allowed = set()
    if report is not None and "--save-profile" in args:
        name = args[args.index("--save-profile") + 1]
        target = (work / name).resolve(strict=False) if "\x00" not in name else None
        if target is not None and target == Path(os.path.abspath(work / name)) and target.is_relative_to(root):
            allowed = {str(target.relative_to(root))}
    assert changed <= allowed, f"side effect: {sorted(changed)[:5]} changed"
    assert (root / "outside" / "victim.json").read_text() == "keep me\n", "side effect: written through a link"


test_fuzz_estimate = campaign(estimate_commands(), N_ESTIMATE)(check_estimate)


@st.composite
def plan_commands(draw):
    requests = draw(st.integers(1, 40))
    period = draw(st.floats(30, 600))
    profile = {**_base({"kind": "samples", "samples": draw(st.lists(st.tuples(st.integers(0, 4000),
                                                                             st.integers(1, 500)).map(list),
                                                                   min_size=1, max_size=4))},
                       requests=requests, period_s=period), "name": draw(texts)}
    if draw(st.booleans()):
        profile["site"] = {"pue": 1.2, "carbon_g_per_kwh": 380, "price_per_kwh": 0.1, "currency": draw(texts)}
    args = ["plan", "--profile", "p.json", "--json", "--max-gpus", str(draw(st.integers(1, 4))),
            "--tp", draw(st.sampled_from(["1", "1,2", "2"]))]
    options = (("--rate", st.floats(0.01, 3)), ("--headroom", st.floats(0.05, 1)), ("--ttft-p90-ms", st.floats(1, 1e5)),
               ("--tpot-p99-ms", st.floats(1, 1e4)), ("--power-budget-w", st.floats(50, 1e4)),
               ("--gpu-hour-price", st.floats(0, 10)))
    hostile = draw(st.integers(0, 2)) == 0
    for flag, good in options:
        if draw(st.booleans()):
            args += [flag, _float_option(draw, hostile, good)]
    if draw(st.booleans()):
        args += ["--gpu-budget", str(_value(draw, hostile, st.integers(1, 8), st.sampled_from([0, -1, 2**40])))]
    if draw(st.booleans()):
        args += ["--gpus", _value(draw, hostile, st.sampled_from(["H100", "H100,H200", "A100-SXM-80GB", "B200"]),
                                  st.sampled_from(["H100,nope", "\x1b[2J", ""]))]
    if draw(st.booleans()):
        args += ["--precisions", _value(draw, hostile, st.sampled_from(["bf16", "fp8", "bf16,fp8"]),
                                        st.sampled_from(["fp4", "bf16,fp4"]))]
    return profile, args


def check_plan(case) -> None:
    """`plan` with any options: each front row's interval holds its estimate, busy + idle is its energy, its power
    lies within its GPUs' limit, and the recommended row is on the front and meets every target."""
    from energy_predict.gpus import resolve_gpu

    profile, args = case
    root = Path(tempfile.mkdtemp(dir=WORK))
    (root / "p.json").write_text(json.dumps(profile))
    before = _snapshot(root)
    data = _refused_or_answered(_invoke_in(root, args))
    assert _snapshot(root) == before, "side effect: plan wrote a file"
    if data is None:
        return
    labels = [row["label"] for row in data["front"]]
    assert data["recommended"]["label"] in labels and data["recommended"]["feasible"]
    for row in data["front"]:
        energy = row["energy_kwh_per_day"]
        assert 0 <= row["low_kwh_per_day"] <= energy * (1 + 1e-9) and energy <= row["high_kwh_per_day"] * (1 + 1e-9)
        assert math.isclose(row["busy_kwh_per_day"] + row["idle_kwh_per_day"], energy, rel_tol=1e-6), row["label"]
        limit_w = resolve_gpu(row["candidate"]["gpu"]).tdp_w * row["gpus"]
        assert 0 < row["mean_power_w"] <= row["peak_power_w"] * (1 + 1e-9) <= limit_w * (1 + 1e-6), row["label"]


test_fuzz_plan = campaign(plan_commands(), N_PLAN)(check_plan)

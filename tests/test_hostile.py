"""Hostile input through the real CLI (issue 13): every case ends with exit 0 and finite numbers in its JSON,
or exit 2 with exactly one line on stderr naming the field; never a traceback, never a hang.

Cases live in data tables of (id, args, files, expect):
- `args`: the command line; `{d}` is replaced by the case's temporary folder;
- `files`: name -> content (dict/list: written as JSON; str/bytes: written as is; `DIR`: a folder);
- `expect`: "ok" (exit 0), "error:FIELD" (exit 2 naming FIELD), or "either:FIELD" (one or the other).
Adding a case is one line in a table.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from energy_predict.cli import app
from tests.conftest import REPO, tiny_llama_config

runner = CliRunner()
CASE_LIMIT_S = 30  # per case; an in-process case that runs longer is a hang
DIR = object()  # a `files` value: make a folder
FIFO = object()  # a `files` value: make a named pipe (reading one blocks forever)

NAN, INF = float("nan"), float("inf")


class _Hang(BaseException):  # BaseException: CliRunner catches Exception and would hide it
    pass


def _alarm(signum, frame):
    raise _Hang()


def base_profile(**workload) -> dict:
    """A small valid profile (two request shapes, the default model's measured configuration)."""
    wl = {"requests": 10, "period_s": 60.0,
          "tokens": {"kind": "samples", "samples": [[100, 20], [500, 100]]}}
    wl.update(workload)
    return {"schema_version": 1, "name": "hostile", "model": "Llama-3.1-8B",
            "hardware": {"gpu": "H100-SXM-80GB", "count": 1},
            "serving": {"framework": "vllm", "tensor_parallel": 1, "cuda_graphs": True, "compile": False,
                        "max_batch": 256, "mode": "offline", "dtype": "bfloat16", "quantization": None},
            "workload": wl}


def histogram_profile() -> dict:
    return base_profile(tokens={"kind": "histogram", "input_edges": [0, 128, 1024], "output_edges": [0, 32, 256],
                                "counts": [[3, 1], [2, 4]], "input_mean": [[100, 90], [500, None]],
                                "output_mean": [[20, 100], [30, None]]})


def site_profile() -> dict:
    return {**base_profile(), "site": {"pue": 1.2, "carbon_g_per_kwh": 380, "price_per_kwh": 0.12, "currency": "USD"}}


def trace_profile(path: str, **extra) -> dict:
    return base_profile(requests=None, period_s=None, tokens={"kind": "trace", "path": path, **extra})


def _set(data, path: tuple, value):
    data = json.loads(json.dumps(data))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def _cid(path: tuple) -> str:
    return ".".join(str(k) for k in path)


def _field(path: tuple) -> str:
    """The dotted name an error must carry: the path without its trailing list indices."""
    keys = list(path)
    while keys and isinstance(keys[-1], int):
        keys.pop()
    return ".".join(str(k) for k in keys if not isinstance(k, int))


PREDICT = ["--profile", "{d}/p.json", "--json"]

# ---------------------------------------------------------------------------------------------------------------
# Profiles: each field x hostile values.
# ---------------------------------------------------------------------------------------------------------------
BAD_NUMBERS = [("nan", NAN), ("inf", INF), ("-inf", -INF), ("neg", -1), ("1e308", 1e308), ("2p70", 2**70),
               ("str", "12"), ("bool", True), ("list", []), ("obj", {}), ("markup", "[/x]")]
# (path, profile factory, what else is bad for it, what is valid for it)
NUMBER_FIELDS = [
    (("hardware", "count"), base_profile, [("zero", 0), ("frac", 1.5), ("null", None)], []),
    (("serving", "tensor_parallel"), base_profile, [("zero", 0), ("frac", 1.5), ("null", None)], []),
    (("serving", "max_batch"), base_profile, [("zero", 0), ("frac", 1.5), ("null", None)], [("one", 1)]),
    (("workload", "requests"), base_profile, [("zero", 0)], [("null", None), ("frac", 2.5)]),
    (("workload", "period_s"), base_profile, [("zero", 0)], [("null", None), ("frac", 0.5)]),
    (("workload", "rate_per_s"), base_profile, [("zero", 0)], [("null", None), ("frac", 0.5)]),
    (("workload", "tokens", "samples", 0, 0), base_profile, [("frac", 1.5), ("null", None), ("2p40", 2**40),
                                                              ("1e20", 1e20)], [("zero", 0)]),
    (("workload", "tokens", "samples", 0, 1), base_profile, [("frac", 1.5), ("null", None), ("zero", 0),
                                                              ("2p40", 2**40)], [("one", 1)]),
    (("workload", "tokens", "counts", 0, 0), histogram_profile, [("null", None)], [("zero", 0), ("frac", 0.5)]),
    (("workload", "tokens", "input_edges", 1), histogram_profile, [("zero", 0), ("null", None), ("2p40", 2**40),
                                                                     ("frac", 1.5)], []),
    (("workload", "tokens", "output_edges", 2), histogram_profile, [("zero", 0), ("null", None), ("2p40", 2**40)],
     []),
    (("workload", "tokens", "input_mean", 0, 0), histogram_profile, [("2p40", 2**40)], [("null", None), ("zero", 0)]),
    (("workload", "tokens", "output_mean", 0, 1), histogram_profile, [("2p40", 2**40)], [("null", None)]),
    (("site", "pue"), site_profile, [("zero", 0), ("half", 0.5), ("null", None)], [("one", 1.0)]),
    (("site", "carbon_g_per_kwh"), site_profile, [], [("null", None), ("zero", 0)]),
    (("site", "price_per_kwh"), site_profile, [], [("null", None), ("zero", 0)]),
]

BAD_STRINGS = [("null", None), ("int", 1), ("list", []), ("obj", {})]
ODD_STRINGS = [("markup", "[/x]"), ("bold", "[bold]x[/bold]"), ("link", "[link=file:///etc/passwd]x"),
               ("empty", ""), ("long", "x" * 5000), ("ctrl", "a\x00b\nc\x1b[31m")]
# (path, factory, odd strings are accepted there, field named in the error)
STRING_FIELDS = [
    (("name",), base_profile, True),
    (("source",), base_profile, True),
    (("model",), base_profile, False),
    (("hardware", "gpu"), base_profile, False),
    (("site", "currency"), site_profile, True),
    (("serving", "framework"), base_profile, False),
    (("serving", "mode"), base_profile, False),
    (("serving", "dtype"), base_profile, False),
    (("serving", "quantization"), base_profile, False),
    (("workload", "tokens", "kind"), base_profile, False),
]
BOOL_FIELDS = [("serving", "cuda_graphs"), ("serving", "compile")]
BAD_BOOLS = [("yes", "yes"), ("true-str", "true"), ("one", 1), ("zero", 0), ("two", 2), ("null", None),
             ("list", []), ("markup", "[/x]")]


def _profile_cases():
    cases = []
    for path, factory, bad, good in NUMBER_FIELDS:
        field, cid = _field(path), _cid(path)
        for label, value in [*BAD_NUMBERS, *bad]:
            cases.append((f"{cid}={label}", PREDICT, {"p.json": _set(factory(), path, value)}, f"error:{field}"))
        for label, value in good:
            cases.append((f"{cid}={label}", PREDICT, {"p.json": _set(factory(), path, value)}, "ok"))
    for path, factory, odd_ok in STRING_FIELDS:
        cid = _field(path)
        field = "workload.tokens" if cid == "workload.tokens.kind" else cid  # the union's tag: its parent is named
        for label, value in BAD_STRINGS:
            expect = "either" if (field == "serving.quantization" and value is None) or \
                (field == "source" and value is None) else "error"
            cases.append((f"{cid}={label}", PREDICT, {"p.json": _set(factory(), path, value)}, f"{expect}:{field}"))
        for label, value in ODD_STRINGS:
            expect = "ok" if odd_ok else "error"
            cases.append((f"{cid}={label}", PREDICT, {"p.json": _set(factory(), path, value)}, f"{expect}:{field}"))
    for path in BOOL_FIELDS:
        field = _field(path)
        for label, value in BAD_BOOLS:
            cases.append((f"{field}={label}", PREDICT, {"p.json": _set(base_profile(), path, value)},
                          f"error:{field}"))
    return cases


def _unknown(path: tuple, factory=base_profile):
    data = factory()
    node = data
    for key in path:
        node = node[key]
    node["colour"] = "blue"
    return data


def _without(path: tuple, factory=base_profile):
    data = factory()
    node = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return data


PROFILE_SHAPES = [
    # whole documents
    ("profile-empty-file", PREDICT, {"p.json": ""}, "error:profile"),
    ("profile-whitespace", PREDICT, {"p.json": " \n\t"}, "error:profile"),
    ("profile-binary", PREDICT, {"p.json": bytes(range(256)) * 4}, "error:profile"),
    ("profile-bom", PREDICT, {"p.json": "\ufeff" + json.dumps(base_profile())}, "either:profile"),
    ("profile-latin1", PREDICT, {"p.json": '{"name": "caf\xe9"}'.encode("latin-1")}, "error:profile"),
    ("profile-list", PREDICT, {"p.json": [base_profile()]}, "error:profile"),
    ("profile-number", PREDICT, {"p.json": "42"}, "error:profile"),
    ("profile-string", PREDICT, {"p.json": '"profile"'}, "error:profile"),
    ("profile-null", PREDICT, {"p.json": "null"}, "error:profile"),
    ("profile-nan-literal", PREDICT, {"p.json": "NaN"}, "error:profile"),
    ("profile-truncated", PREDICT, {"p.json": json.dumps(base_profile())[:-7]}, "error:profile"),
    ("profile-trailing-garbage", PREDICT, {"p.json": json.dumps(base_profile()) + "}}"}, "error:profile"),
    ("profile-nested-100k-list", PREDICT, {"p.json": "[" * 100_000 + "]" * 100_000}, "error:profile"),
    ("profile-nested-100k-obj", PREDICT, {"p.json": '{"a":' * 100_000 + "1" + "}" * 100_000}, "error:profile"),
    ("profile-nested-100k-open", PREDICT, {"p.json": "[" * 100_000}, "error:profile"),
    ("profile-deep-in-field", PREDICT,
     {"p.json": json.dumps(base_profile())[:-1] + ', "site": ' + "[" * 50_000 + "]" * 50_000 + "}"}, "error:profile"),
    ("profile-is-dir", ["--profile", "{d}/p.json", "--json"], {"p.json": DIR}, "error:profile"),
    ("profile-fifo", PREDICT, {"p.json": FIFO}, "error:profile"),
    ("profile-dangling-symlink", PREDICT, {"p.json": ("symlink", "/nonexistent/x.json")}, "error:profile"),
    ("profile-symlink-loop", PREDICT, {"p.json": ("symlink", "p.json")}, "error:profile"),
    ("profile-dev-zero", ["--profile", "/dev/zero", "--json"], {}, "error:profile"),
    ("profile-dev-null", ["--profile", "/dev/null", "--json"], {}, "error:profile"),
    ("profile-long-name", ["--profile", "{d}/" + "x" * 5000 + ".json", "--json"], {}, "error:profile"),
    ("profile-missing", ["--profile", "{d}/nope.json", "--json"], {}, "error:profile"),
    ("profile-markup-filename", ["--profile", "{d}/[bold]p[/x].json", "--json"],
     {"[bold]p[/x].json": base_profile()}, "ok"),
    ("profile-markup-filename-missing", ["--profile", "{d}/[/x].json", "--json"], {}, "error:profile"),
    ("profile-newline-filename-missing", ["--profile", "{d}/a\nb.json", "--json"], {}, "error:profile"),
    ("schema-version-2", PREDICT, {"p.json": _set(base_profile(), ("schema_version",), 2)}, "error:schema_version"),
    ("schema-version-str", PREDICT, {"p.json": _set(base_profile(), ("schema_version",), "1")},
     "error:schema_version"),
    ("schema-version-nan", PREDICT, {"p.json": _set(base_profile(), ("schema_version",), NAN)},
     "error:schema_version"),
    # unknown and missing fields
    ("unknown-top", PREDICT, {"p.json": _unknown(())}, "error:colour"),
    ("unknown-hardware", PREDICT, {"p.json": _unknown(("hardware",))}, "error:hardware.colour"),
    ("unknown-serving", PREDICT, {"p.json": _unknown(("serving",))}, "error:serving.colour"),
    ("unknown-workload", PREDICT, {"p.json": _unknown(("workload",))}, "error:workload.colour"),
    ("unknown-tokens", PREDICT, {"p.json": _unknown(("workload", "tokens"))}, "error:workload.tokens"),
    ("unknown-site", PREDICT, {"p.json": _unknown(("site",), site_profile)}, "error:site.colour"),
    ("missing-model", PREDICT, {"p.json": _without(("model",))}, "error:model"),
    ("missing-hardware", PREDICT, {"p.json": _without(("hardware",))}, "error:hardware"),
    ("missing-gpu", PREDICT, {"p.json": _without(("hardware", "gpu"))}, "error:hardware.gpu"),
    ("missing-workload", PREDICT, {"p.json": _without(("workload",))}, "error:workload"),
    ("missing-tokens", PREDICT, {"p.json": _without(("workload", "tokens"))}, "error:workload.tokens"),
    ("missing-samples", PREDICT, {"p.json": _without(("workload", "tokens", "samples"))},
     "error:workload.tokens.samples"),
    ("missing-counts", PREDICT, {"p.json": _without(("workload", "tokens", "counts"), histogram_profile)},
     "error:workload.tokens.counts"),
    ("hardware-list", PREDICT, {"p.json": _set(base_profile(), ("hardware",), [])}, "error:hardware"),
    ("workload-string", PREDICT, {"p.json": _set(base_profile(), ("workload",), "all")}, "error:workload"),
    ("tokens-null", PREDICT, {"p.json": _set(base_profile(), ("workload", "tokens"), None)},
     "error:workload.tokens"),
    ("tokens-list", PREDICT, {"p.json": _set(base_profile(), ("workload", "tokens"), [])}, "error:workload.tokens"),
    ("site-null", PREDICT, {"p.json": _set(site_profile(), ("site",), None)}, "ok"),
    ("site-list", PREDICT, {"p.json": _set(site_profile(), ("site",), [1])}, "error:site"),
    ("serving-string", PREDICT, {"p.json": _set(base_profile(), ("serving",), "vllm")}, "error:serving"),
    # traffic
    ("requests-zero-rate-zero", PREDICT,
     {"p.json": base_profile(requests=None, rate_per_s=0.0)}, "error:workload.rate_per_s"),
    ("rate-without-period", PREDICT,
     {"p.json": base_profile(requests=None, period_s=None, rate_per_s=2.0)}, "error:workload.period_s"),
    ("rate-1e6-period-1e9", PREDICT, {"p.json": base_profile(requests=None, period_s=1e9, rate_per_s=1e6)},
     "either:workload"),
    ("requests-1e15", PREDICT, {"p.json": base_profile(requests=1e15)}, "ok"),
    ("online-rate-1e6-period-1e9", PREDICT,
     {"p.json": _set(base_profile(requests=None, period_s=1e9, rate_per_s=1e6), ("serving", "mode"), "online")},
     "either:rate"),
    ("online-requests-1e15", PREDICT,
     {"p.json": _set(base_profile(requests=1e15, period_s=3600.0), ("serving", "mode"), "online")}, "either:rate"),
    ("requests-1e300", PREDICT, {"p.json": base_profile(requests=1e300)}, "error:workload.requests"),
    # samples
    ("samples-empty", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": []})},
     "error:workload.tokens.samples"),
    ("samples-2p40-input", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": [[2**40, 5]]})},
     "error:workload.tokens.samples"),
    ("samples-2p70-input", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": [[2**70, 5]]})},
     "error:workload.tokens.samples"),
    ("samples-2p70-output", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": [[5, 2**70]]})},
     "error:workload.tokens.samples"),
    ("samples-2p31-input", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": [[2**31, 5]]})},
     "error:workload.tokens.samples"),
    ("samples-2p63-input", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": [[2**63, 5]]})},
     "error:workload.tokens.samples"),
    ("samples-1e20", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": [[1e20, 5]]})},
     "error:workload.tokens.samples"),
    ("samples-triple", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": [[1, 2, 3]]})},
     "error:workload.tokens.samples"),
    ("samples-single", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": [[1]]})},
     "error:workload.tokens.samples"),
    ("samples-flat", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": [1, 2]})},
     "error:workload.tokens.samples"),
    ("samples-dict", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": {"a": 1}})},
     "error:workload.tokens.samples"),
    ("samples-strings", PREDICT, {"p.json": base_profile(tokens={"kind": "samples", "samples": [["1", "2"]]})},
     "error:workload.tokens.samples"),
    ("samples-10k", PREDICT,
     {"p.json": base_profile(tokens={"kind": "samples", "samples": [[k % 4000, 1 + k % 500] for k in range(10_000)]})},
     "ok"),
    # histograms
    ("hist-nan-counts", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "counts"),
                                                 [[NAN, NAN], [NAN, NAN]])}, "error:workload.tokens.counts"),
    ("hist-inf-count", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "counts", 1, 1), INF)},
     "error:workload.tokens.counts"),
    ("hist-zero-counts", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "counts"),
                                                  [[0, 0], [0, 0]])}, "error:workload.tokens.counts"),
    ("hist-huge-counts", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "counts"),
                                                  [[1e300, 1e300], [1e300, 1e300]])}, "error:workload.tokens.counts"),
    ("hist-ragged-counts", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "counts"),
                                                    [[1, 2], [3]])}, "error:workload.tokens.counts"),
    ("hist-short-counts", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "counts"), [])},
     "error:workload.tokens.counts"),
    ("hist-edges-decreasing", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "input_edges"),
                                                       [1024, 128, 0])}, "error:workload.tokens.input_edges"),
    ("hist-edges-negative", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "input_edges"),
                                                     [-5, 128, 1024])}, "error:workload.tokens.input_edges"),
    ("hist-edges-one", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "input_edges"), [0])},
     "error:workload.tokens.input_edges"),
    ("hist-edges-2p70", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "output_edges"),
                                                 [0, 32, 2**70])}, "error:workload.tokens.output_edges"),
    ("hist-mean-nan", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "input_mean", 0, 0),
                                               NAN)}, "error:workload.tokens.input_mean"),
    ("hist-mean-negative", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "output_mean", 0, 0),
                                                    -50)}, "error:workload.tokens.output_mean"),
    ("hist-mean-ragged", PREDICT, {"p.json": _set(histogram_profile(), ("workload", "tokens", "input_mean"),
                                                  [[1]])}, "error:workload.tokens.input_mean"),
    # the serving rewrite (lead)
    ("tensor-parallel-1e6", PREDICT, {"p.json": _set(base_profile(), ("serving", "tensor_parallel"), 1_000_000)},
     "error:serving.tensor_parallel"),
    ("cuda-graphs-yes", PREDICT, {"p.json": _set(base_profile(), ("serving", "cuda_graphs"), "yes")},
     "error:serving.cuda_graphs"),
    ("hardware-count-1e6", PREDICT, {"p.json": _set(base_profile(), ("hardware", "count"), 1_000_000)},
     "error:hardware.count"),
    ("max-batch-2p40", PREDICT, {"p.json": _set(base_profile(), ("serving", "max_batch"), 2**40)},
     "either:serving.max_batch"),
    ("gpu-nvml-name", PREDICT, {"p.json": _set(base_profile(), ("hardware", "gpu"), "NVIDIA H100 80GB HBM3")}, "ok"),
]

# ---------------------------------------------------------------------------------------------------------------
# Traces: each content through `profile from-trace` and through a profile that points at it.
# ---------------------------------------------------------------------------------------------------------------
AZURE_OK = "TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(
    f"2023-11-16 18:15:{10 + k:02d}.680590,{100 + 37 * k},{5 + 3 * k}\n" for k in range(20))
CSV_OK = "input_tokens,output_tokens,arrival_s\n" + "".join(f"{50 + k},{10 + k},{0.5 * k}\n" for k in range(20))
MOONCAKE_OK = "".join(json.dumps({"timestamp": 1000 * k, "input_length": 300 + k, "output_length": 20 + k}) + "\n"
                      for k in range(20))
PASSWD = ("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
          "secretuser:x:1000:1000:TOPSECRET-HASH:/home/secretuser:/bin/zsh\n")
SECRET_WORDS = ("root:x", "daemon", "secretuser", "TOPSECRET")

# (id, file name, content, extra from-trace options, expect); the expect's field is "trace" or a column
TRACES = [
    ("azure-ok", "t.csv", AZURE_OK, [], "ok"),
    ("csv-ok", "t.csv", CSV_OK, [], "ok"),
    ("mooncake-ok", "t.jsonl", MOONCAKE_OK, [], "ok"),
    ("csv-no-times", "t.csv", "input_tokens,output_tokens\n10,5\n20,7\n", [], "ok"),
    ("csv-one-row", "t.csv", "input_tokens,output_tokens,arrival_s\n10,5,0\n", [], "ok"),
    ("csv-zero-output", "t.csv", "input_tokens,output_tokens\n10,0\n20,7\n", [], "either:output_tokens"),
    ("csv-ragged", "t.csv", "input_tokens,output_tokens\n1,2\n3,4,5,6\n7,8\n", [], "error:trace"),
    ("csv-ragged-short", "t.csv", "input_tokens,output_tokens\n1,2\n3\n", [], "error:output_tokens"),
    ("csv-binary", "t.csv", bytes(range(256)) * 64, [], "error:trace"),
    ("csv-nul", "t.csv", b"input_tokens,output_tokens\n1,2\x00\x00\n", [], "error:trace"),
    ("csv-empty", "t.csv", "", [], "error:trace"),
    ("csv-header-only", "t.csv", "input_tokens,output_tokens\n", [], "error:trace"),
    ("csv-blank-lines", "t.csv", "\n\n\n", [], "error:trace"),
    ("csv-token-1e20", "t.csv", "input_tokens,output_tokens\n1e20,5\n", [], "error:input_tokens"),
    ("csv-token-2p40", "t.csv", f"input_tokens,output_tokens\n{2**40},5\n", [], "error:input_tokens"),
    ("csv-token-2p70", "t.csv", f"input_tokens,output_tokens\n5,{2**70}\n", [], "error:output_tokens"),
    ("csv-token-nan", "t.csv", "input_tokens,output_tokens\nnan,5\n", [], "error:input_tokens"),
    ("csv-token-inf", "t.csv", "input_tokens,output_tokens\ninf,5\n", [], "error:input_tokens"),
    ("csv-token-negative", "t.csv", "input_tokens,output_tokens\n-3,5\n", [], "error:input_tokens"),
    ("csv-token-float", "t.csv", "input_tokens,output_tokens\n3.5,5\n", [], "error:input_tokens"),
    ("csv-token-text", "t.csv", "input_tokens,output_tokens\nmany,5\n", [], "error:input_tokens"),
    ("csv-token-markup", "t.csv", "input_tokens,output_tokens\n[/x],5\n", [], "error:input_tokens"),
    ("csv-time-nan", "t.csv", "input_tokens,output_tokens,arrival_s\n1,5,nan\n2,5,1\n", [], "either:arrival_s"),
    ("csv-time-inf", "t.csv", "input_tokens,output_tokens,arrival_s\n1,5,inf\n2,5,1\n", [], "error:arrival_s"),
    ("csv-time-1e300", "t.csv", "input_tokens,output_tokens,arrival_s\n1,5,0\n2,5,1e300\n", [], "error:arrival_s"),
    ("csv-time-garbage", "t.csv", "input_tokens,output_tokens,arrival_s\n1,5,soon\n2,5,later\n", [],
     "error:arrival_s"),
    ("csv-time-same", "t.csv", "input_tokens,output_tokens,arrival_s\n1,5,7\n2,5,7\n", [], "ok"),
    ("csv-markup-column-missing", "t.csv", CSV_OK, ["--input-column", "[/x]"], "error:--input-column"),
    ("csv-markup-column", "t.csv", "[/x],[bold]out\n10,5\n20,7\n",
     ["--input-column", "[/x]", "--output-column", "[bold]out"], "ok"),
    ("csv-markup-header", "t.csv", "[/x],[bold]out\n10,5\n20,7\n", [], "error:--input-column"),
    ("csv-wrong-format-flag", "t.csv", CSV_OK, ["--trace-format", "parquet"], "error:--trace-format"),
    ("csv-as-mooncake", "t.csv", CSV_OK, ["--trace-format", "mooncake"], "error:trace"),
    ("azure-as-csv-bad-column", "t.csv", AZURE_OK, ["--time-column", "nope"], "error:--time-column"),
    ("passwd", "passwd", PASSWD, [], "error:trace"),
    ("passwd-csv", "passwd.csv", PASSWD, [], "error:trace"),
    ("passwd-jsonl", "passwd.jsonl", PASSWD, [], "error:trace"),
    ("jsonl-arrays", "t.jsonl", "[1, 2]\n[3, 4]\n", [], "error:trace"),
    ("jsonl-numbers", "t.jsonl", "1\n2\n", [], "error:trace"),
    ("jsonl-strings", "t.jsonl", '"a"\n"b"\n', [], "error:trace"),
    ("jsonl-nulls", "t.jsonl", "null\nnull\n", [], "error:trace"),
    ("jsonl-mixed", "t.jsonl", MOONCAKE_OK + "[1]\n", [], "error:trace"),
    ("jsonl-empty-objects", "t.jsonl", "{}\n{}\n", [], "error:trace"),
    ("jsonl-not-json", "t.jsonl", MOONCAKE_OK + "{oops\n", [], "error:trace"),
    ("jsonl-nan", "t.jsonl", '{"timestamp": 0, "input_length": NaN, "output_length": 5}\n', [], "error:input_length"),
    ("jsonl-infinity", "t.jsonl", '{"timestamp": 0, "input_length": Infinity, "output_length": 5}\n', [],
     "error:input_length"),
    ("jsonl-1e400", "t.jsonl", '{"timestamp": 0, "input_length": 1e400, "output_length": 5}\n', [],
     "error:input_length"),
    ("jsonl-2p70", "t.jsonl", '{"timestamp": 0, "input_length": ' + str(2**70) + ', "output_length": 5}\n', [],
     "error:input_length"),
    ("jsonl-string-tokens", "t.jsonl", '{"timestamp": 0, "input_length": "ten", "output_length": 5}\n', [],
     "error:input_length"),
    ("jsonl-nested-tokens", "t.jsonl", '{"timestamp": 0, "input_length": {"a": 1}, "output_length": 5}\n', [],
     "error:input_length"),
    ("jsonl-list-tokens", "t.jsonl", '{"timestamp": 0, "input_length": [1, 2], "output_length": 5}\n', [],
     "error:input_length"),
    ("jsonl-time-string", "t.jsonl", '{"timestamp": "x", "input_length": 3, "output_length": 5}\n'
     '{"timestamp": "y", "input_length": 3, "output_length": 5}\n', [], "error:timestamp"),
    ("jsonl-deep", "t.jsonl", "[" * 100_000 + "]" * 100_000 + "\n", [], "error:trace"),
    ("jsonl-binary", "t.jsonl", bytes(range(256)) * 64, [], "error:trace"),
    ("jsonl-empty", "t.jsonl", "", [], "error:trace"),
    ("jsonl-markup-key", "t.jsonl", '{"[/x]": 1, "input_length": 3, "output_length": 5}\n', [], "ok"),
    ("json-suffix-object", "t.json", json.dumps({"input_length": [1, 2], "output_length": [3, 4]}), [],
     "either:trace|input_length"),
    ("trace-is-dir", "t.csv", DIR, [], "error:trace"),
    ("trace-fifo", "t.csv", FIFO, [], "error:trace"),
    ("trace-dangling-symlink", "t.csv", ("symlink", "/nonexistent/t.csv"), [], "error:trace"),
]


def _trace_cases():
    cases = []
    for tid, name, content, extra, expect in TRACES:
        cases.append((f"from-trace/{tid}", ["profile", "from-trace", "{d}/" + name, "-o", "{d}/out.json", *extra],
                      {name: content}, expect))
        opts = {}
        it = iter(extra)
        for flag, value in zip(it, it):
            opts[flag.lstrip("-").replace("-", "_").removeprefix("trace_")] = value  # --trace-format: format
        if "format" in opts or "input_column" in opts and "[/x]" not in opts["input_column"]:
            continue
        kind, _, field = expect.partition(":")
        field = {"trace": "workload.tokens.path", "--input-column": "workload.tokens.input_column",
                 "--time-column": "workload.tokens.time_column"}.get(field, field)
        expect_p = f"{kind}:{field}"
        cases.append((f"profile-trace/{tid}", PREDICT, {name: content, "p.json": trace_profile(name, **opts)},
                      expect_p))
    return cases


FROM_TRACE_OUTPUTS = [
    ("o-missing-folder", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/nope/out.json"], {"t.csv": CSV_OK},
     "error:--output"),
    ("o-is-dir", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/out"], {"t.csv": CSV_OK, "out": DIR},
     "error:--output"),
    ("o-under-file", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/t.csv/out.json"], {"t.csv": CSV_OK},
     "error:--output"),
    ("o-markup-name", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/[bold]o[red].json"], {"t.csv": CSV_OK},
     "ok"),
    ("o-markup-folder-missing", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/[/x]/o.json"], {"t.csv": CSV_OK},
     "error:--output"),
    ("trace-missing", ["profile", "from-trace", "{d}/nope.csv", "-o", "{d}/o.json"], {}, "error:trace"),
    ("trace-markup-missing", ["profile", "from-trace", "{d}/[/x].csv", "-o", "{d}/o.json"], {}, "error:trace"),
    ("trace-markup-name", ["profile", "from-trace", "{d}/[bold]t[/x].csv", "-o", "{d}/o.json"],
     {"[bold]t[/x].csv": CSV_OK}, "ok"),
    ("model-markup", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/o.json", "--model", "[/x]"],
     {"t.csv": CSV_OK}, "error:model"),
    ("gpu-markup", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/o.json", "--gpu", "[/x]"],
     {"t.csv": CSV_OK}, "error:gpu"),
    ("name-markup", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/o.json", "--name", "[/x][bold]"],
     {"t.csv": CSV_OK}, "ok"),
    ("model-config", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/o.json", "--model", "{d}/config.json"],
     {"t.csv": CSV_OK, "config.json": tiny_llama_config()}, "ok"),
    ("model-config-zero", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/o.json", "--model", "{d}/config.json"],
     {"t.csv": CSV_OK, "config.json": tiny_llama_config(hidden_size=0)}, "error:hidden_size"),
]

# ---------------------------------------------------------------------------------------------------------------
# config.json: each dimension x hostile values, through a profile whose model is the config (roofline model).
# ---------------------------------------------------------------------------------------------------------------
CONFIG_KEYS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
               "intermediate_size", "vocab_size", "max_position_embeddings"]
CONFIG_BAD = [("zero", 0), ("null", None), ("string", "abc"), ("numeric-string", "64"), ("negative", -8),
              ("float", 64.5), ("huge", 2**70), ("1e308", 1e308), ("bool", True), ("list", [64]), ("obj", {})]
OPTIONAL_KEYS = {"num_key_value_heads", "head_dim", "max_position_embeddings"}  # null falls back to a default
CONFIG_PREDICT = ["--profile", "{d}/p.json", "--json", "--energy-model", "roofline"]


def _config_profile() -> dict:
    return _set(base_profile(), ("model",), "config.json")


def _config_cases():
    cases = []
    for key in CONFIG_KEYS:
        for label, value in CONFIG_BAD:
            expect = "ok" if value is None and key in OPTIONAL_KEYS else "error"
            cases.append((f"config.{key}={label}", CONFIG_PREDICT,
                          {"p.json": _config_profile(), "config.json": tiny_llama_config(**{key: value})},
                          f"{expect}:{key}"))
    moe = tiny_llama_config(num_local_experts=8, num_experts_per_tok=2)
    cases += [
        ("config-ok", CONFIG_PREDICT, {"p.json": _config_profile(), "config.json": tiny_llama_config()}, "ok"),
        ("config-moe-ok", CONFIG_PREDICT, {"p.json": _config_profile(), "config.json": moe}, "ok"),
        ("config-moe-topk-above-experts", CONFIG_PREDICT,
         {"p.json": _config_profile(), "config.json": {**moe, "num_experts_per_tok": 64}}, "error:num_experts_per_tok"),
        ("config-experts-negative", CONFIG_PREDICT,
         {"p.json": _config_profile(), "config.json": {**moe, "num_local_experts": -4}}, "error:num_local_experts"),
        ("config-experts-string", CONFIG_PREDICT,
         {"p.json": _config_profile(), "config.json": {**moe, "num_local_experts": "8"}}, "error:num_local_experts"),
        ("config-kv-above-heads", CONFIG_PREDICT,
         {"p.json": _config_profile(), "config.json": tiny_llama_config(num_key_value_heads=64)},
         "error:num_key_value_heads"),
        ("config-missing-hidden", CONFIG_PREDICT,
         {"p.json": _config_profile(), "config.json": {k: v for k, v in tiny_llama_config().items()
                                                       if k != "hidden_size"}}, "error:hidden_size"),
        ("config-list", CONFIG_PREDICT, {"p.json": _config_profile(), "config.json": [tiny_llama_config()]},
         "error:model"),
        ("config-number", CONFIG_PREDICT, {"p.json": _config_profile(), "config.json": "7"}, "error:model"),
        ("config-invalid-json", CONFIG_PREDICT, {"p.json": _config_profile(), "config.json": "{hidden_size: 1"},
         "error:model"),
        ("config-empty", CONFIG_PREDICT, {"p.json": _config_profile(), "config.json": ""}, "error:model"),
        ("config-binary", CONFIG_PREDICT, {"p.json": _config_profile(), "config.json": bytes(range(256))},
         "error:model"),
        ("config-deep", CONFIG_PREDICT, {"p.json": _config_profile(), "config.json": "[" * 100_000 + "]" * 100_000},
         "error:model"),
        ("config-is-dir-without-config", CONFIG_PREDICT,
         {"p.json": _set(base_profile(), ("model",), "cfg/"), "cfg": DIR}, "error:model"),
        ("config-name-markup", CONFIG_PREDICT,
         {"p.json": _set(base_profile(), ("model",), "[/x]/config.json"), "[/x]/config.json": tiny_llama_config()},
         "ok"),
        ("config-name-markup-missing", CONFIG_PREDICT,
         {"p.json": _set(base_profile(), ("model",), "[/x]/config.json")}, "error:model"),
        ("config-default-model-refuses", PREDICT, {"p.json": _config_profile(), "config.json": tiny_llama_config()},
         "either:model"),
    ]
    return cases


# ---------------------------------------------------------------------------------------------------------------
# CLI options and output paths.
# ---------------------------------------------------------------------------------------------------------------
P = {"p.json": base_profile()}
MARKUP_P = {"[bold]p[red].json": {**site_profile(), "name": "[/x][bold]name", "source": "[/x]",
                                  "site": {"pue": 1.2, "currency": "[/x]"}}}
BAD_RATES = [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("neg", "-1"), ("zero", "0"), ("1e9", "1e9"),
             ("1e308", "1e308")]


def _option_cases():
    cases = []
    for label, value in BAD_RATES:
        cases.append((f"--rate={label}", [*PREDICT, "--rate", value], P, "error:--rate"))
        cases.append((f"capacity--rate={label}", ["capacity", "--profile", "{d}/p.json", "--json", "--rate", value],
                      P, "error:--rate"))
        if label != "1e9":  # 1e9 a day is 11574 req/s: a real process below (SLOW_SIMULATION)
            cases.append((f"capacity--per-day={label}",
                          ["capacity", "--profile", "{d}/p.json", "--json", "--per-day", value], P, "error:--per-day"))
        cases.append((f"capacity--latency={label}", ["capacity", "--profile", "{d}/p.json", "--json", "--rate", "1",
                                                     "--latency-p90-s", value], P, "error:--latency-p90-s"))
        cases.append((f"sweep-rate--rates={label}",
                      ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", value, "--plot", "{d}/s.png"],
                      P, "error:--rates"))
        cases.append((f"sweep-rate--ttft={label}",
                      ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "1", "--max-gpus", "1",
                       "--ttft-p90-s", value, "--plot", "{d}/s.png"], P, "error:--ttft-p90-s"))
    cases += [
        ("--rate=1", [*PREDICT, "--rate", "1"], P, "ok"),
        ("--rate=1e5", [*PREDICT, "--rate", "1e5"], P, "either:--rate"),
        ("--rate=1e6", [*PREDICT, "--rate", "1e6"], P, "either:--rate"),
        ("--rate=1e5-period-1e9", [*PREDICT, "--rate", "1e5"], {"p.json": base_profile(period_s=1e9)},
         "either:--rate"),
        ("--rate=1-gpus=2", [*PREDICT, "--rate", "1", "--gpu-count", "2"], P, "ok"),
        ("--rate=1-gpus=1e6", [*PREDICT, "--rate", "1", "--gpu-count", "1000000"], P, "error:--gpu-count"),
        ("--rate=1-gpus=0", [*PREDICT, "--rate", "1", "--gpu-count", "0"], P, "error:--gpu-count"),
        ("--rate=abc", [*PREDICT, "--rate", "abc"], P, "error:--rate"),
        ("sweep-rate--max-gpus=0", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "1",
                                    "--max-gpus", "0"], P, "error:--max-gpus"),
        ("unknown-option", [*PREDICT, "--colour"], P, "error:--colour"),
        ("missing-option", ["capacity", "--json"], P, "error:--profile"),
        ("gpus-not-int", [*PREDICT, "--gpu-count", "two"], P, "error:--gpu-count"),
        ("capacity--rate=1", ["capacity", "--profile", "{d}/p.json", "--json", "--rate", "1"], P, "ok"),
        ("capacity-no-rate", ["capacity", "--profile", "{d}/p.json", "--json"],
         {"p.json": base_profile(period_s=None)}, "either:--rate"),
        ("capacity--per-day=86400", ["capacity", "--profile", "{d}/p.json", "--json", "--per-day", "86400"], P, "ok"),
        ("sweep-rate-ok", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "0.5,1", "--max-gpus", "2",
                           "--plot", "{d}/s.png"], P, "ok"),
        ("sweep-rate--rates=1,nan", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "1,nan",
                                     "--plot", "{d}/s.png"], P, "error:--rates"),
        ("sweep-rate--rates=letters", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "a,b",
                                       "--plot", "{d}/s.png"], P, "error:--rates"),
        ("sweep-rate--rates=commas", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", ",,,",
                                      "--plot", "{d}/s.png"], {"p.json": base_profile(period_s=None)},
         "error:--rates"),
        ("sweep-rate--max-gpus=1e6", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "1",
                                      "--max-gpus", "1000000", "--plot", "{d}/s.png"], P, "error:--max-gpus"),
        ("sweep-rate-plot-missing-folder", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "1",
                                            "--plot", "{d}/nope/s.png"], P, "error:--plot"),
        ("sweep-rate-plot-is-dir", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "1",
                                    "--plot", "{d}/out"], {**P, "out": DIR}, "error:--plot"),
        ("sweep-rate-plot-under-file", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "1",
                                        "--plot", "{d}/p.json/s.png"], P, "error:--plot"),
        ("compare-ok", ["compare", "--profile", "{d}/p.json", "--json", "--batch-caps", "1,16"], P, "ok"),
        ("compare--batch-caps=0", ["compare", "--profile", "{d}/p.json", "--json", "--batch-caps", "0"], P,
         "error:--batch-caps"),
        ("compare--batch-caps=nan", ["compare", "--profile", "{d}/p.json", "--json", "--batch-caps", "nan"], P,
         "error:--batch-caps"),
        ("compare--batch-caps=neg", ["compare", "--profile", "{d}/p.json", "--json", "--batch-caps", "-4"], P,
         "error:--batch-caps"),
        ("compare--batch-caps=2p70", ["compare", "--profile", "{d}/p.json", "--json", "--batch-caps", str(2**70)], P,
         "error:--batch-caps"),
        ("compare--gpus=markup", ["compare", "--profile", "{d}/p.json", "--json", "--gpu-kinds", "[/x]"], P,
         "error:gpu"),
        ("compare--gpus=H200", ["compare", "--profile", "{d}/p.json", "--json", "--gpu-kinds", "H200"], P, "ok"),
        ("gap-ok", ["gap", "--profile", "{d}/p.json", "--json"], P, "ok"),
        # the rich report, tables and lines (no --json) with markup in every name they print
        ("render-report-markup", ["--profile", "{d}/[bold]p[red].json"], MARKUP_P, "ok"),
        ("render-online-markup", ["--profile", "{d}/[bold]p[red].json", "--rate", "1"], MARKUP_P, "ok"),
        ("render-compare-markup", ["compare", "--profile", "{d}/[bold]p[red].json", "--batch-caps", "1,16"],
         MARKUP_P, "ok"),
        ("render-gap-markup", ["gap", "--profile", "{d}/[bold]p[red].json"], MARKUP_P, "ok"),
        ("render-capacity-markup", ["capacity", "--profile", "{d}/[bold]p[red].json", "--rate", "1"], MARKUP_P,
         "ok"),
        ("render-sweep-markup", ["sweep-rate", "--profile", "{d}/[bold]p[red].json", "--rates", "1", "--max-gpus",
                                 "1", "--plot", "{d}/[bold]s[red].png"], MARKUP_P, "ok"),
        ("render-plots-markup", ["--profile", "{d}/[bold]p[red].json", "--plot", "{d}/[bold]plots[red]", "--csv",
                                 "{d}/[bold]b[red].csv"], MARKUP_P, "ok"),
        ("render-data-list-markup", ["data", "list", "--dir", "{d}"],
         {"[bold]r[red]/run.json": {**RUN_JSON, "run_id": "[bold]r[/x]", "gpu": "[/x]"},
          "[bold]r[red]/records.jsonl": json.dumps({**RECORD, "model": "[/x]", "backend": "[bold]"}) + "\n"}, "ok"),
        ("gap-nan-requests", ["gap", "--profile", "{d}/p.json", "--json"],
         {"p.json": base_profile(requests=NAN)}, "error:workload.requests"),
        ("--csv-missing-folder", [*PREDICT, "--csv", "{d}/nope/b.csv"], P, "error:--csv"),
        ("--csv-is-dir", [*PREDICT, "--csv", "{d}/out"], {**P, "out": DIR}, "error:--csv"),
        ("--csv-under-file", [*PREDICT, "--csv", "{d}/p.json/b.csv"], P, "error:--csv"),
        ("--csv-ok", [*PREDICT, "--csv", "{d}/b.csv"], P, "ok"),
        ("--plot-is-file", [*PREDICT, "--plot-dir", "{d}/p.json"], P, "error:--plot-dir"),
        ("--plot-under-file", [*PREDICT, "--plot-dir", "{d}/p.json/plots"], P, "error:--plot-dir"),
        ("--model-markup", [*PREDICT, "--energy-model", "[/x]"], P, "error:--energy-model"),
        ("--model-missing-dir", [*PREDICT, "--energy-model", "{d}/nope"], P, "error:--energy-model"),
        ("--model-empty-dir", [*PREDICT, "--energy-model", "{d}/m"], {**P, "m": DIR}, "error:--energy-model"),
        ("data-cells-csv-missing-folder", ["data", "cells", "--csv", "{d}/nope/c.csv"], {}, "error:--csv"),
        ("data-cells-csv-is-dir", ["data", "cells", "--csv", "{d}/out"], {"out": DIR}, "error:--csv"),
    ]
    return cases


# card.json through --energy-model DIR (the loader, model/store.py, is another engineer's).
def _card_cases():
    card_dir = REPO / "artifacts" / "models" / "default"
    shipped = {p.name: p.read_bytes() for p in card_dir.iterdir() if p.is_file()} if card_dir.is_dir() else {}

    def with_card(card):
        files = {f"m/{k}": v for k, v in shipped.items()}
        files["m/card.json"] = card
        return files

    cases = []
    for label, card in [("invalid-json", "{not json"), ("list", [1, 2]), ("number", "3"), ("empty", ""),
                        ("missing-keys", {}), ("null", "null"), ("deep", "[" * 100_000 + "]" * 100_000),
                        ("binary", bytes(range(256))), ("markup", {"name": "[/x]"})]:
        cases.append((f"card-{label}", [*PREDICT, "--energy-model", "{d}/m"], {**P, **with_card(card)},
                      "error:--energy-model"))
    cases.append(("card-is-dir", [*PREDICT, "--energy-model", "{d}/m"],
                  {**P, **{f"m/{k}": v for k, v in shipped.items() if k != "card.json"}, "m/card.json": DIR},
                  "error:--energy-model"))
    return cases


# ---------------------------------------------------------------------------------------------------------------
# data list / data cells --dir, and calibrate with a malformed grid (must measure nothing).
# ---------------------------------------------------------------------------------------------------------------
RUN_JSON = {"run_id": "r1", "grid": {}, "gpu": "H100", "started": "2026-01-01T00:00:00Z", "status": "complete",
            "host": {"hostname": "h", "python": "3.11", "platform": "Linux", "energy_predict": "0.1.0"}}
RECORD = {"run_id": "r1", "model": "Llama-3.1-8B", "config": "vllm", "backend": "vllm", "gpu": "H100", "gpu_count": 1,
          "batch_size": 1, "input_tokens": 32, "output_tokens": 8, "repetition": 0, "status": "ok",
          "timestamp": "2026-01-01T00:00:00Z", "energy_j": 10.0, "duration_s": 1.0}


def _data_cases():
    runs = [
        ("run-json-invalid", {"r1/run.json": "{oops"}),
        ("run-json-list", {"r1/run.json": [1]}),
        ("run-json-binary", {"r1/run.json": bytes(range(256))}),
        ("run-json-deep", {"r1/run.json": "[" * 100_000 + "]" * 100_000}),
        ("records-jsonl-garbage", {"r1/run.json": RUN_JSON, "r1/records.jsonl": "not json\n[1,2]\n"}),
        ("records-jsonl-arrays", {"r1/run.json": RUN_JSON, "r1/records.jsonl": "[1,2]\n[3,4]\n"}),
        ("records-jsonl-missing-columns", {"r1/run.json": RUN_JSON, "r1/records.jsonl": '{"a": 1}\n'}),
        ("records-parquet-garbage", {"r1/run.json": RUN_JSON, "r1/records.parquet": b"PAR1garbagePAR1"}),
        ("records-nan-energy", {"r1/run.json": RUN_JSON,
                                "r1/records.jsonl": json.dumps({**RECORD, "energy_j": None}) + "\n"}),
        ("records-ok", {"r1/run.json": RUN_JSON, "r1/records.jsonl": json.dumps(RECORD) + "\n"}),
        ("run-json-is-dir", {"r1/run.json": DIR}),
        ("empty-dir", {"x": DIR}),
    ]
    cases = []
    for label, files in runs:
        expect = "ok" if label in ("records-ok", "empty-dir", "run-json-is-dir", "records-nan-energy") \
            else "either:--dir"
        cases.append((f"data-list/{label}", ["data", "list", "--json", "--dir", "{d}"], files, expect))
        cases.append((f"data-cells/{label}", ["data", "cells", "--dir", "{d}"], files,
                      "ok" if expect == "ok" else "either:--dir"))
    cases += [
        ("data-list/dir-missing", ["data", "list", "--json", "--dir", "{d}/nope"], {}, "either:--dir"),
        ("data-list/dir-is-file", ["data", "list", "--json", "--dir", "{d}/f"], {"f": "x"}, "either:--dir"),
        ("data-list/markup-dir", ["data", "list", "--json", "--dir", "{d}/[/x]"], {"[/x]": DIR}, "ok"),
    ]
    return cases


GRID_OK = {"name": "g", "models": ["Llama-3.2-1B"], "configs": [{"name": "hf", "backend": "hf"}],
           "blocks": [{"batch_sizes": [1], "input_tokens": [32], "output_tokens": [8]}], "repetitions": 1}


def _grid_cases():
    bad = [
        ("invalid-json", "{oops", "grid"),
        ("list", [GRID_OK], "grid"),
        ("empty", "", "grid"),
        ("deep", "[" * 100_000 + "]" * 100_000, "grid"),
        ("missing-name", {k: v for k, v in GRID_OK.items() if k != "name"}, "grid.name"),
        ("unknown-field", {**GRID_OK, "colour": 1}, "grid.colour"),
        ("backend-markup", {**GRID_OK, "configs": [{"name": "hf", "backend": "[/x]"}]}, "grid.configs"),
        ("batch-zero", {**GRID_OK, "blocks": [{"batch_sizes": [0], "input_tokens": [32], "output_tokens": [8]}]},
         "grid.blocks"),
        ("batch-nan", {**GRID_OK, "blocks": [{"batch_sizes": [NAN], "input_tokens": [32], "output_tokens": [8]}]},
         "grid.blocks"),
        ("input-2p70", {**GRID_OK, "blocks": [{"batch_sizes": [1], "input_tokens": [2**70], "output_tokens": [8]}]},
         "grid.blocks"),
        ("output-negative", {**GRID_OK, "blocks": [{"batch_sizes": [1], "input_tokens": [3], "output_tokens": [-8]}]},
         "grid.blocks"),
        ("blocks-empty", {**GRID_OK, "blocks": []}, "grid.blocks"),
        ("models-empty", {**GRID_OK, "models": []}, "grid.models"),
        ("model-unknown", {**GRID_OK, "models": ["[/x]"]}, "model"),
        ("repetitions-zero", {**GRID_OK, "repetitions": 0}, "grid.repetitions"),
        ("repetitions-str", {**GRID_OK, "repetitions": "3"}, "grid.repetitions"),
        ("window-inf", {**GRID_OK, "min_window_s": INF}, "grid.min_window_s"),
        ("window-nan", {**GRID_OK, "min_window_s": NAN}, "grid.min_window_s"),
        ("idle-inf", {**GRID_OK, "idle_seconds": INF}, "grid.idle_seconds"),
        ("idle-1e308", {**GRID_OK, "idle_seconds": 1e308}, "grid.idle_seconds"),
        ("memory-util-nan", {**GRID_OK, "configs": [{"name": "v", "backend": "vllm", "gpu_memory_utilization": NAN}]},
         "grid.configs"),
        ("block-unknown-config", {**GRID_OK, "blocks": [{"batch_sizes": [1], "input_tokens": [3],
                                                         "output_tokens": [8], "configs": ["nope"]}]},
         "grid.blocks"),
    ]
    cases = [(f"calibrate/{label}", ["calibrate", "{d}/grid.json", "--out", "{d}/run"], {"grid.json": g},
              f"error:{field}") for label, g, field in bad]
    cases += [
        ("calibrate/grid-missing", ["calibrate", "{d}/nope.json", "--out", "{d}/run"], {}, "error:grid"),
        ("calibrate/grid-is-dir", ["calibrate", "{d}/g", "--out", "{d}/run"], {"g": DIR}, "error:grid"),
        ("calibrate/gpus-nan", ["calibrate", "{d}/grid.json", "--out", "{d}/run", "--devices", "nan"],
         {"grid.json": GRID_OK}, "error:--devices"),
        ("calibrate/gpus-negative", ["calibrate", "{d}/grid.json", "--out", "{d}/run", "--devices", "-1"],
         {"grid.json": GRID_OK}, "error:--devices"),
        ("calibrate/gpus-empty", ["calibrate", "{d}/grid.json", "--out", "{d}/run", "--devices", ","],
         {"grid.json": GRID_OK}, "error:--devices"),
        ("calibrate/out-is-file", ["calibrate", "{d}/grid.json", "--out", "{d}/grid.json"], {"grid.json": GRID_OK},
         "error:--out"),
    ]
    return cases


CASES = [*_profile_cases(), *PROFILE_SHAPES, *_trace_cases(), *FROM_TRACE_OUTPUTS, *_config_cases(),
         *_option_cases(), *_card_cases(), *_data_cases(), *_grid_cases()]
if len({c[0] for c in CASES}) != len(CASES):  # pytest would number duplicates silently, and reports name cases by id
    raise ValueError("hostile case ids must be unique")


def _write(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is DIR:
            path.mkdir(exist_ok=True)
        elif content is FIFO:
            os.mkfifo(path)
        elif isinstance(content, tuple) and content[0] == "symlink":
            path.symlink_to(content[1])
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text(json.dumps(content))


def _reject_constant(token):
    raise ValueError(f"non-standard JSON token {token}")


def _numbers(obj):
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, (int, float)):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)


def check_outcome(code: int, stdout: str, stderr: str, expect: str, folder: Path | None = None,
                  json_out: bool = True, argv: list[str] = ()) -> None:
    """Exit 0 with strictly-standard, finite JSON, or exit 2 with one stderr line naming the field."""
    kind, _, field = expect.partition(":")
    text = stdout + stderr
    assert "Traceback" not in text, text[-3000:]
    assert code in (0, 2), f"exit {code}: {text[-3000:]}"
    if code == 0:
        assert kind in ("ok", "either"), f"accepted, expected an error naming {field!r}: {stdout[:1000]}"
        if json_out and stdout.strip():
            data = json.loads(stdout, parse_constant=_reject_constant)
            bad = [x for x in _numbers(data) if not math.isfinite(x)]
            assert not bad, f"non-finite numbers in the output: {bad[:5]}"
        if folder is not None:
            for path in folder.rglob("*.json"):
                if path.name in ("out.json", "o.json", "[bold]o[red].json") and path.is_file():
                    data = json.loads(path.read_text(), parse_constant=_reject_constant)
                    assert all(math.isfinite(x) for x in _numbers(data)), path
    else:
        assert kind in ("error", "either"), f"refused, expected exit 0: {stderr[:1000]}"
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{stderr[:3000]}"
        assert any(f.lower() in lines[0].lower() for f in field.split("|")), \
            f"does not name {field!r}: {lines[0][:500]}"
        quoted = max((len(a) for a in argv), default=0)  # the user's own argument may be quoted back
        assert len(lines[0]) < 2000 + quoted, f"error line of {len(lines[0])} characters"


def _invoke_within_limit(argv: list[str]):
    """The CLI on `argv`, failing the test on a hang (CASE_LIMIT_S) or an uncaught exception."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_LIMIT_S)
    try:
        result = runner.invoke(app, argv)
    except _Hang:
        pytest.fail(f"no answer within {CASE_LIMIT_S} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"uncaught {type(result.exception).__name__}:\n{tb[-3000:]}")
    return result


@pytest.mark.parametrize("cid,args,files,expect", [pytest.param(*c, id=c[0]) for c in CASES])
def test_hostile(cid, args, files, expect, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a command that writes a default file (sweep-rate's plot) writes it here
    _write(tmp_path, files)
    argv = [a.replace("{d}", str(tmp_path)) for a in args]
    result = _invoke_within_limit(argv)
    json_out = "--json" in argv
    check_outcome(result.exit_code, result.stdout, result.stderr, expect, tmp_path, json_out, argv)
    if cid.startswith("calibrate/"):
        run = tmp_path / "run"
        assert not (run.exists() and any(run.rglob("records*"))), "a malformed grid measured something"
    if "passwd" in cid:
        for word in SECRET_WORDS:
            assert word not in result.stdout + result.stderr, f"echoed the foreign file ({word!r})"


# ---------------------------------------------------------------------------------------------------------------
# A real process, where a real process matters: hangs, huge files, what reaches the terminal.
# ---------------------------------------------------------------------------------------------------------------
def _cli(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "energy_predict", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


SUBPROCESS = [
    ("sweep-rate-rates-nan", ["sweep-rate", "--profile", "{d}/p.json", "--rates", "nan", "--plot", "{d}/s.png"], P,
     "error:--rates"),
    ("sweep-rate-rates-inf", ["sweep-rate", "--profile", "{d}/p.json", "--rates", "inf", "--plot", "{d}/s.png"], P,
     "error:--rates"),
    ("rate-1e9", [*PREDICT, "--rate", "1e9"], P, "error:--rate"),
    ("capacity-rate-nan", ["capacity", "--profile", "{d}/p.json", "--rate", "nan"], P, "error:--rate"),
    ("markup-gpu", PREDICT, {"p.json": _set(base_profile(), ("hardware", "gpu"), "[/x][bold]")}, "error:hardware.gpu"),
    ("deep-json", PREDICT, {"p.json": "[" * 200_000 + "]" * 200_000}, "error:profile"),
    ("passwd-trace", ["profile", "from-trace", "{d}/passwd", "-o", "{d}/o.json"], {"passwd": PASSWD}, "error:trace"),
]


# A rate the CLI accepts whose simulation takes about a minute: capacity simulates every request of the period
# (up to the simulator's cap of 2 million) for each GPU count it tries (predict/serving is the lead's).
SLOW_SIMULATION = "capacity at 11,574 req/s simulates ~700k requests per GPU count: about a minute, not seconds"
SLOW = [
    ("capacity-per-day-1e9", ["capacity", "--profile", "{d}/p.json", "--json", "--per-day", "1e9"], P,
     "either:--per-day"),
]


def _subprocess_params():
    params = [pytest.param(*c, CASE_LIMIT_S, id=c[0]) for c in SUBPROCESS]
    # strict: once the simulation answers within 5 s, this fails until the mark goes
    known = pytest.mark.xfail(strict=True, reason=SLOW_SIMULATION)
    params += [pytest.param(*c, 5, id=c[0], marks=known) for c in SLOW]
    return params


@pytest.mark.slow
@pytest.mark.parametrize("cid,args,files,expect,limit_s", _subprocess_params())
def test_hostile_process(cid, args, files, expect, limit_s, tmp_path):
    _write(tmp_path, files)
    argv = [a.replace("{d}", str(tmp_path)) for a in args]
    try:
        proc = _cli(argv, tmp_path, timeout=limit_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no answer within {limit_s} s")
    check_outcome(proc.returncode, proc.stdout, proc.stderr, expect, tmp_path, "--json" in argv)
    if "passwd" in cid:
        assert not any(w in proc.stdout + proc.stderr for w in SECRET_WORDS), proc.stderr


@pytest.mark.slow
def test_150mb_single_line_csv_fails_fast_without_echo(tmp_path):
    """A 150 MB one-line CSV: one short error line, quickly; the error path must not read it into the message."""
    path = tmp_path / "huge.csv"
    chunk = b"A" * (1 << 20)
    with path.open("wb") as fh:
        for _ in range(150):
            fh.write(chunk)
    proc = _cli(["profile", "from-trace", str(path), "-o", str(tmp_path / "o.json")], tmp_path, timeout=60)
    check_outcome(proc.returncode, proc.stdout, proc.stderr, "error:trace", json_out=False)
    assert "AAAAAAAAAAAAAAAAAAAA" not in proc.stderr


@pytest.mark.slow
def test_150mb_single_line_jsonl_fails_fast(tmp_path):
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as fh:
        fh.write(b'{"input_length": "')
        for _ in range(150):
            fh.write(b"A" * (1 << 20))
    proc = _cli(["profile", "from-trace", str(path), "-o", str(tmp_path / "o.json")], tmp_path, timeout=60)
    check_outcome(proc.returncode, proc.stdout, proc.stderr, "error:trace", json_out=False)
    assert "AAAAAAAAAAAAAAAAAAAA" not in proc.stderr


@pytest.mark.parametrize("kind", ["profile", "trace", "config", "grid"])
def test_unreadable_files(kind, tmp_path, monkeypatch):
    """A file that cannot be read (mode 000; as root, where modes do not stop reads, opening it is refused)."""
    _write(tmp_path, {"p.json": base_profile(), "t.csv": CSV_OK, "config.json": tiny_llama_config(),
                      "grid.json": GRID_OK, "pc.json": _config_profile()})
    target, args, field = {
        "profile": ("p.json", PREDICT, "profile"),
        "trace": ("t.csv", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/o.json"], "trace"),
        "config": ("config.json", ["--profile", "{d}/pc.json", "--json", "--energy-model", "roofline"], "model"),
        "grid": ("grid.json", ["calibrate", "{d}/grid.json", "--out", "{d}/run"], "grid"),
    }[kind]
    locked = tmp_path / target
    locked.chmod(0)
    if os.geteuid() == 0:
        real_open = Path.open

        def refuse(self, *args, **kwargs):
            if self == locked:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refuse)  # Path.read_text opens through Path.open
        real_os_open = os.open

        def refuse_os(path, *args, **kwargs):  # jsonio.read_regular opens without blocking, through os.open
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return real_os_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse_os)
    try:
        result = runner.invoke(app, [a.replace("{d}", str(tmp_path)) for a in args])
    finally:
        locked.chmod(0o644)
    check_outcome(result.exit_code, result.stdout, result.stderr, f"error:{field}", json_out=False)


def test_error_line_is_one_line_for_a_newline_in_a_value(tmp_path):
    _write(tmp_path, {"p.json": _set(base_profile(), ("model",), "a\nb\nc")})
    result = runner.invoke(app, ["--profile", str(tmp_path / "p.json")])
    check_outcome(result.exit_code, result.stdout, result.stderr, "error:model", json_out=False)


def test_markup_in_error_is_printed_literally(tmp_path):
    _write(tmp_path, {"p.json": _set(base_profile(), ("hardware", "gpu"), "[bold]GPU[/bold]")})
    result = runner.invoke(app, ["--profile", str(tmp_path / "p.json")])
    assert result.exit_code == 2
    assert "[bold]GPU[/bold]" in result.stderr


def test_from_trace_profile_round_trips(tmp_path):
    """A profile written by from-trace is itself valid input."""
    _write(tmp_path, {"t.csv": AZURE_OK})
    result = runner.invoke(app, ["profile", "from-trace", str(tmp_path / "t.csv"), "-o", str(tmp_path / "o.json")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["--profile", str(tmp_path / "o.json"), "--json"])
    check_outcome(result.exit_code, result.stdout, result.stderr, "ok")



def test_token_counts_never_overflow():
    """2**40 input tokens once gave the answer of 0 tokens (an int64 key overflowed): now refused, and the
    largest accepted length costs more than the smallest."""
    from energy_predict.errors import InputError
    from energy_predict.profile import MAX_TOKENS, parse_profile
    from energy_predict.workload import workload_from_profile

    with pytest.raises(InputError, match="workload.tokens.samples"):
        parse_profile(base_profile(tokens={"kind": "samples", "samples": [[2**40, 5]]}))
    energies = []
    for tokens in (0, MAX_TOKENS):
        profile = base_profile(tokens={"kind": "samples", "samples": [[tokens, 5]]})
        w = workload_from_profile(parse_profile(profile))
        assert w.input_tokens.tolist() == [tokens]
        result = runner.invoke(app, ["--profile", _write_one(profile), "--json", "--energy-model", "roofline"])
        check_outcome(result.exit_code, result.stdout, result.stderr, "either:workload")
        if result.exit_code == 0:
            energies.append(json.loads(result.stdout)["energy_kwh"]["estimate"])
    if len(energies) == 2:
        assert energies[1] > energies[0]


def _write_one(data) -> str:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    (folder / "p.json").write_text(json.dumps(data))
    return str(folder / "p.json")


# ---------------------------------------------------------------------------------------------------------------
# Issue 29: a run's journal tampered with between a kill and --resume (calibrate with a fake engine and meter).
# Each is refused in one line naming the journal, with the records already there kept, or answered with each
# measured repetition once; never a traceback, never a hang (a named pipe), never records lost (a link to /dev/null).
# ---------------------------------------------------------------------------------------------------------------
def _deep_line() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000 + b"\n"


JOURNAL_CASES = [  # (id, how the journal is changed: journal bytes -> bytes, or a thing put in its place, expect)
    ("journal/valid-json-without-keys", lambda b: b'{"a": 1}\n' + b, "error:records.jsonl"),
    ("journal/object-without-keys-last", lambda b: b + b'{"a": 1}\n', "error:records.jsonl"),
    ("journal/100k-deep-line", lambda b: _deep_line() + b, "error:records.jsonl"),
    ("journal/string-for-a-number", lambda b: b.replace(b'"batch_size": 1', b'"batch_size": "one"', 1),
     "error:records.jsonl"),
    ("journal/huge-integer", lambda b: b.replace(b'"batch_size": 1', b'"batch_size": 1' + b"0" * 5000, 1),
     "error:records.jsonl"),
    ("journal/surrogate-bytes", lambda b: b.replace(b'"status"', b'"\xed\xa0\x80status"', 1), "error:records.jsonl"),
    ("journal/duplicated-ok-line", lambda b: b.split(b"\n")[0] + b"\n" + b, "ok"),
    ("journal/is-a-folder", DIR, "error:records.jsonl"),
    ("journal/is-a-fifo", FIFO, "error:records.jsonl"),
    ("journal/links-to-dev-null", ("symlink", "/dev/null"), "error:records.jsonl"),
]


@pytest.fixture
def fake_engine(monkeypatch):
    from energy_predict.calibrate import preflight, sweep
    from energy_predict.calibrate.backends import base
    from tests.fakes import FakeBackend, TickingMeter

    monkeypatch.setattr(base, "make_backend", lambda name, device=None: FakeBackend())
    monkeypatch.setattr(preflight, "check_gpu", lambda device, command="calibrate": None)
    monkeypatch.setattr(preflight, "check_installed", lambda backends: None)
    monkeypatch.setattr(sweep, "open_meter", lambda gpus: TickingMeter())


@pytest.mark.parametrize("cid,change,expect", [pytest.param(*c, id=c[0]) for c in JOURNAL_CASES])
def test_hostile_journal_on_resume(cid, change, expect, tmp_path, fake_engine):
    from energy_predict.calibrate import records as rec
    from tests.test_calibrate import grid_dict

    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(grid_dict("Llama-3.2-1B", min_window_s=0.0,
                                         blocks=[{"batch_sizes": [1], "input_tokens": [8], "output_tokens": [1, 3]}])))
    run = tmp_path / "run"
    first = runner.invoke(app, ["calibrate", str(grid), "--out", str(run)])
    assert first.exit_code == 0, first.output
    journal = run / rec.JOURNAL
    measured = journal.read_bytes()
    (run / rec.TABLE).unlink()  # resume reads the journal, not the table
    if callable(change):
        journal.write_bytes(change(measured))
    else:
        journal.unlink()
        _write(run, {rec.JOURNAL: change})
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and not p.is_symlink()}
    result = _invoke_within_limit(["calibrate", str(grid), "--out", str(run), "--resume"])
    check_outcome(result.exit_code, result.stdout, result.stderr, expect, json_out=False)
    if result.exit_code == 2:  # refused up front: nothing measured is lost or changed
        after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and not p.is_symlink()}
        assert after == before, "side effect: the run folder changed although the resume was refused"
    else:  # each measured repetition once in the table (4 = 2 cells x 2 repetitions)
        table = rec.pd.read_parquet(run / rec.TABLE)
        assert len(table) == 4 and not table.duplicated(["input_tokens", "output_tokens", "repetition"]).any(), \
            f"nonsense: {len(table)} rows for 4 measured repetitions"


# ---------------------------------------------------------------------------------------------------------------
# Issue 29: what is read must be a regular file of bounded size (item 3), numbers must make sense (item 11),
# and everything printed is printable (item 5), whatever the name, currency, trace key or folder holds.
# ---------------------------------------------------------------------------------------------------------------
def _model_dir_with(target: str, thing) -> dict:
    card_dir = REPO / "artifacts" / "models" / "default"
    files = {f"m/{p.name}": p.read_bytes() for p in card_dir.iterdir() if p.is_file() and p.name != target}
    files[f"m/{target}"] = thing
    return files


SPECIAL_FILES = [("fifo", FIFO), ("dev-zero", ("symlink", "/dev/zero")), ("dev-null", ("symlink", "/dev/null")),
                 ("dir", DIR)]


def _special_file_cases():
    cases = []
    for label, thing in SPECIAL_FILES:
        cases += [
            (f"special/card.json={label}", [*PREDICT, "--energy-model", "{d}/m"],
             {**P, **_model_dir_with("card.json", thing)}, "error:--energy-model"),
            (f"special/model.json={label}", [*PREDICT, "--energy-model", "{d}/m"],
             {**P, **_model_dir_with("model.json", thing)}, "error:--energy-model"),
            (f"special/manifest.json={label}", [*PREDICT, "--energy-model", "{d}/m"],
             {**P, **_model_dir_with("manifest.json", thing)}, "error:--energy-model"),
            (f"special/profile={label}", PREDICT, {"p.json": thing}, "error:profile"),
            (f"special/grid={label}", ["calibrate", "{d}/grid.json", "--out", "{d}/run"], {"grid.json": thing},
             "error:grid"),
            (f"special/trace={label}", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/o.json"], {"t.csv": thing},
             "error:trace"),
            (f"special/profile-trace={label}", PREDICT,
             {"p.json": trace_profile("t.csv"), "t.csv": thing}, "error:workload.tokens.path"),
            (f"special/config={label}", CONFIG_PREDICT, {"p.json": _config_profile(), "config.json": thing},
             "error:model"),
        ]
    return cases


def _online(profile: dict) -> dict:
    return {**profile, "serving": {**profile["serving"], "mode": "online"}}


NONSENSE = [
    ("nonsense/subnormal-requests", PREDICT, {"p.json": base_profile(requests=5e-324)}, "error:workload.requests"),
    ("nonsense/subnormal-counts", PREDICT,
     {"p.json": _set(histogram_profile(), ("workload", "tokens", "counts"), [[5e-324, 0], [0, 0]])},
     "either:workload"),  # the shares of a subnormal total (this was a division by zero)
    ("nonsense/histogram-over-cap", PREDICT,
     {"p.json": _set(_set(histogram_profile(), ("workload", "requests"), None), ("workload", "tokens", "counts"),
                     [[1e15, 1e15], [1e15, 1e15]])}, "error:workload"),
    ("nonsense/rate-times-period-over-cap", PREDICT,
     {"p.json": base_profile(requests=None, rate_per_s=1e6, period_s=1e10)}, "error:workload"),
    ("nonsense/online-period-shorter-than-a-request", PREDICT,
     {"p.json": _online(base_profile(requests=1000, period_s=1e-9))}, "error:workload.period_s"),
    ("nonsense/offline-period-shorter-than-a-request", PREDICT,  # offline, the period only spreads the energy
     {"p.json": base_profile(requests=1000, period_s=1e-9)}, "either:workload.period_s"),
    ("nonsense/huge-integer-in-config", CONFIG_PREDICT,
     {"p.json": _config_profile(), "config.json": json.dumps(tiny_llama_config()).replace(
         '"vocab_size": 1024', '"vocab_size": 1' + "0" * 400)}, "error:vocab_size"),
    ("nonsense/gap-zero-input", ["gap", "--profile", "{d}/p.json", "--json"],
     {"p.json": base_profile(tokens={"kind": "samples", "samples": [[0, 20], [0, 100]]})}, "ok"),
]

ESCAPE = "\x1b[2J\x1b]0;pwned\x07\x9b31m"
SURROGATE = "\ud800\udcff"
PRINTED = [
    ("print/profile-name-escapes", ["--profile", "{d}/p.json"], {"p.json": {**base_profile(), "name": ESCAPE}}, "ok"),
    ("print/profile-name-surrogates", ["--profile", "{d}/p.json"], {"p.json": {**base_profile(), "name": SURROGATE}},
     "ok"),
    ("print/currency-escapes", ["--profile", "{d}/p.json"],
     {"p.json": _set(site_profile(), ("site", "currency"), ESCAPE)}, "ok"),
    ("print/currency-surrogates", ["--profile", "{d}/p.json"],
     {"p.json": _set(site_profile(), ("site", "currency"), SURROGATE)}, "ok"),
    ("print/source-escapes-online", ["--profile", "{d}/p.json", "--rate", "1"],
     {"p.json": {**base_profile(), "source": ESCAPE, "name": SURROGATE}}, "ok"),
    ("print/compare-name-escapes", ["compare", "--profile", "{d}/p.json", "--batch-caps", "1,16"],
     {"p.json": {**site_profile(), "name": ESCAPE + SURROGATE}}, "ok"),
    ("print/gap-name-escapes", ["gap", "--profile", "{d}/p.json"], {"p.json": {**base_profile(), "name": ESCAPE}},
     "ok"),
    ("print/capacity-currency", ["capacity", "--profile", "{d}/p.json", "--rate", "1"],
     {"p.json": _set(site_profile(), ("site", "currency"), ESCAPE + SURROGATE)}, "ok"),
    ("print/trace-key-escapes", ["profile", "from-trace", "{d}/t.jsonl", "-o", "{d}/o.json"],
     {"t.jsonl": "".join(json.dumps({"timestamp": k, "input_length": 3 + k, "output_length": 4, ESCAPE: 1}) + "\n"
                         for k in range(5))}, "either:trace"),
    ("print/trace-key-surrogates", ["profile", "from-trace", "{d}/t.csv", "-o", "{d}/o.json"],
     {"t.csv": b"in\xed\xa0\x80put,\x1b[2Jout\n1,2\n"}, "either:trace"),
    ("print/model-name-escapes", PREDICT, {"p.json": _set(base_profile(), ("model",), ESCAPE + SURROGATE)},
     "error:model"),
    ("print/gpu-name-escapes", PREDICT, {"p.json": _set(base_profile(), ("hardware", "gpu"), ESCAPE + SURROGATE)},
     "error:hardware.gpu"),
]


def _surrogate_folder_cases():
    folder = os.fsdecode(b"d\xff\x1b[31m")  # a folder name that is not UTF-8, with an escape in it
    return [
        ("print/folder-name-not-utf8", ["--profile", "{d}/" + folder + "/p.json"],
         {f"{folder}/p.json": base_profile()}, "ok"),
        ("print/folder-name-not-utf8-missing", ["--profile", "{d}/" + folder + "/nope.json"], {folder: DIR},
         "error:--profile"),
        ("print/folder-name-not-utf8-csv", [*PREDICT, "--csv", "{d}/" + folder + "/nope/b.csv"], P, "error:--csv"),
    ]


ISSUE_29_CASES = [*_special_file_cases(), *NONSENSE, *PRINTED, *_surrogate_folder_cases()]
if {c[0] for c in ISSUE_29_CASES} & {c[0] for c in CASES}:
    raise ValueError("hostile case ids must be unique")


def _printable_only(text: str) -> None:
    """No control character but newline reaches the terminal, and no lone surrogate (unencodable)."""
    bad = [c for c in text if (ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000]
    assert not bad, f"unprintable characters reach the terminal: {[hex(ord(c)) for c in bad[:5]]}"


@pytest.mark.parametrize("cid,args,files,expect", [pytest.param(*c, id=c[0]) for c in ISSUE_29_CASES])
def test_hostile_issue_29(cid, args, files, expect, tmp_path, monkeypatch):
    test_hostile(cid, args, files, expect, tmp_path, monkeypatch)
    if cid.startswith("print/"):  # the same again, to read what reached the terminal
        result = runner.invoke(app, [a.replace("{d}", str(tmp_path)) for a in args])
        _printable_only(result.stdout + result.stderr)


def test_hostile_ray_temp_folder_too_long_for_a_socket(tmp_path, monkeypatch, fake_engine):
    """Issue 29, item 7: Ray's temp folder too long for a Unix socket was an OSError traceback from deep in Ray."""
    pytest.importorskip("ray")
    from tests.test_calibrate import grid_dict

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / ("t" * 90)))
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(grid_dict("Llama-3.2-1B")))
    result = runner.invoke(app, ["calibrate", str(grid), "--out", str(tmp_path / "run"), "--ray", "local"])
    check_outcome(result.exit_code, result.stdout, result.stderr, "error:RAY_TMPDIR", json_out=False)
    assert not (tmp_path / "run" / "records.jsonl").exists()


# ---------------------------------------------------------------------------------------------------------------
# Issue 29, round two: the surfaces that landed after the `hostile` merge — `plan`, `estimate` (query.py), models by
# Hugging Face id (hf_ids.py), `--html`, `--summary-csv` (appends), `--plot-dir`, `--save-profile`, `--format`, the
# deprecated aliases, MoE/MLA/text_config/quantization_config parsing and the Python API. Each case runs through the
# real CLI in-process (test_hostile's checks), then: nothing but the path the case asked for is written (a refused
# case writes nothing at all), the file behind a link is untouched, and what reached the terminal is printable.
# ---------------------------------------------------------------------------------------------------------------
PLAN_BASE = ["plan", "--profile", "{d}/p.json", "--json"]
PLAN = [*PLAN_BASE, "--max-gpus", "2", "--tp", "1", "--rate", "1"]
ESTIMATE = ["estimate", "--model", "Llama-3.1-8B", "--gpu", "H100", "--input", "100", "--output", "10", "--json"]
VICTIM = b"keep me\n"
LINKS = {"outside/victim": VICTIM, "link": ("symlink", "outside/victim"), "dirlink": ("symlink", "outside")}
OUTPUT_OPTIONS = [  # (option, command before it, a name it accepts)
    ("--html", PREDICT, "r.html"),
    ("--summary-csv", PREDICT, "s.csv"),
    ("--save-profile", ESTIMATE, "q.json"),
]


def _output_cases():
    cases = []
    for option, command, good in OUTPUT_OPTIONS:
        ext = Path(good).suffix
        files = {**P, **LINKS}
        run = [*command, option]
        cases += [
            (f"out/{option}/ok", [*run, "{d}/" + good], files, "ok"),
            (f"out/{option}/symlink", [*run, "{d}/link" + ext], {**files, "link" + ext: ("symlink", "outside/victim")},
             f"error:{option}"),
            (f"out/{option}/dangling-symlink", [*run, "{d}/gone" + ext], {**files, "gone" + ext: ("symlink", "nope")},
             f"error:{option}"),
            (f"out/{option}/symlinked-folder", [*run, "{d}/dirlink/" + good], files, f"error:{option}"),
            (f"out/{option}/dev-full", [*run, "/dev/full"], files, f"error:{option}"),
            (f"out/{option}/proc", [*run, "/proc/self/" + good], files, f"error:{option}"),
            (f"out/{option}/sys", [*run, "/sys/" + good], files, f"error:{option}"),
            (f"out/{option}/folder", [*run, "{d}/out" + ext], {**files, "out" + ext: DIR}, f"error:{option}"),
            (f"out/{option}/fifo", [*run, "{d}/f" + ext], {**files, "f" + ext: FIFO}, f"error:{option}"),
            (f"out/{option}/too-long-name", [*run, "{d}/" + "x" * 300 + ext], files, f"error:{option}"),
            (f"out/{option}/missing-folder", [*run, "{d}/nope/" + good], files, f"error:{option}"),
            (f"out/{option}/under-a-file", [*run, "{d}/p.json/" + good], files, f"error:{option}"),
            (f"out/{option}/escapes-in-name", [*run, "{d}/" + ESCAPE.replace("\x07", "") + good], files, "ok"),
        ]
        if option != "--save-profile":  # any name is JSON to --save-profile; the others refuse a foreign suffix
            cases.append((f"out/{option}/unsupported-extension", [*run, "{d}/r.txt"], files, f"error:{option}"))
    header = ",".join(_summary_columns())
    row = ",".join("1" for _ in _summary_columns())
    cases += [
        ("out/--summary-csv/other-header", [*PREDICT, "--summary-csv", "{d}/s.csv"],
         {**P, "s.csv": "name,energy\nx,1\n"}, "error:--summary-csv"),
        ("out/--summary-csv/header-only-partly", [*PREDICT, "--summary-csv", "{d}/s.csv"],
         {**P, "s.csv": header.rsplit(",", 1)[0] + "\n"}, "error:--summary-csv"),
        ("out/--summary-csv/not-utf8", [*PREDICT, "--summary-csv", "{d}/s.csv"],
         {**P, "s.csv": header.encode() + b"\n\xff\xfe\n"}, "error:--summary-csv"),
        ("out/--summary-csv/appends", [*PREDICT, "--summary-csv", "{d}/s.csv"],
         {**P, "s.csv": f"{header}\n{row}"}, "ok"),
        ("out/--summary-csv/empty-file", [*PREDICT, "--summary-csv", "{d}/s.csv"], {**P, "s.csv": ""}, "ok"),
        ("out/--plot-dir/symlinked-folder", [*PREDICT, "--plot-dir", "{d}/dirlink"], {**P, **LINKS},
         "error:--plot-dir"),
        ("out/--plot-dir/under-symlinked-folder", [*PREDICT, "--plot-dir", "{d}/dirlink/plots"], {**P, **LINKS},
         "error:--plot-dir"),
        ("out/--plot-dir/proc", [*PREDICT, "--plot-dir", "/proc/self/plots"], P, "error:--plot-dir"),
        ("out/--plot-dir/dev-full", [*PREDICT, "--plot-dir", "/dev/full"], P, "error:--plot-dir"),
        ("out/--plot-dir/fifo", [*PREDICT, "--plot-dir", "{d}/f"], {**P, "f": FIFO}, "error:--plot-dir"),
        ("out/--plot-dir/too-long-name", [*PREDICT, "--plot-dir", "{d}/" + "x" * 300], P, "error:--plot-dir"),
        ("out/--plot/deprecated-symlinked-folder", [*PREDICT, "--plot", "{d}/dirlink"], {**P, **LINKS},
         "error:--plot"),
        ("out/--plot/deprecated-with-new", [*PREDICT, "--plot", "{d}/a", "--plot-dir", "{d}/b"], P, "error:--plot"),
        ("out/--format/unknown", [*PREDICT[:-1], "--format", "xml"], P, "error:--format"),
        ("out/--format/escapes", [*PREDICT[:-1], "--format", ESCAPE], P, "error:--format"),
        ("out/plan--format/unknown", [*PLAN[:-7], "--format", "xml"], P, "error:--format"),
        ("out/plan--format/csv", [*[a for a in PLAN if a != "--json"], "--format", "csv"], P, "ok"),
        ("out/plan--format/markdown", [*[a for a in PLAN if a != "--json"], "--format", "markdown"], P, "ok"),
        ("out/html-summary-plots-together", [*PREDICT, "--html", "{d}/r.html", "--summary-csv", "{d}/s.csv",
                                             "--plot-dir", "{d}/plots"], P, "ok"),
    ]
    return cases


def _summary_columns() -> tuple[str, ...]:
    from energy_predict.summary import SUMMARY_COLUMNS

    return SUMMARY_COLUMNS


def _many(n: int, fmt: str = "{}") -> str:
    return ",".join(fmt.format(k) for k in range(1, n + 1))


HANGS = [  # each refused up front in one line (or answered) well inside CASE_LIMIT_S
    ("hang/plan-max-gpus-4096-rate-1e6", [*PLAN_BASE, "--max-gpus", "4096", "--rate", "1e6"], P,
     "error:plan|--max-gpus|--rate"),
    ("hang/plan-max-gpus-4096", [*PLAN_BASE, "--max-gpus", "4096"], P, "error:plan|--max-gpus"),
    ("hang/plan-10k-batch-caps", [*PLAN_BASE, "--batch-caps", _many(10_000)], P, "error:plan|--batch-caps"),
    ("hang/plan-10k-token-budgets", [*PLAN_BASE, "--token-budgets", _many(10_000, "{}0")], P,
     "error:plan|--token-budgets"),
    ("hang/plan-10k-tp", [*PLAN_BASE, "--tp", _many(10_000), "--rate", "1"], P, "either:plan|--tp"),
    ("hang/plan-10k-gpu-names", [*PLAN_BASE, "--gpu-kinds", _many(10_000, "GPU{}")], P, "error:--gpu-kinds"),
    ("hang/plan-rate-1e6", [*PLAN_BASE, "--rate", "1e6"], P, "error:rate"),
    ("hang/plan-rate-3e4-2048-gpus", [*PLAN_BASE, "--rate", "30000", "--max-gpus", "2048", "--tp", "8"], P,
     "error:plan|--rate"),  # 1.8 million requests a simulation: minutes per candidate
    ("hang/estimate-input-1e9", [*ESTIMATE[:5], "--input", "1000000000", "--output", "5"], {}, "error:--input"),
    ("hang/estimate-input-2p24", [*ESTIMATE[:5], "--input", str(1 << 24), "--output", "5"], {},
     "error:workload.tokens|--input"),
    ("hang/estimate-output-2p24", [*ESTIMATE[:5], "--input", "5", "--output", str(1 << 24)], {},
     "error:workload.tokens|--output"),
    ("hang/estimate-rate-1e6", [*ESTIMATE, "--rate", "1e6"], {}, "error:--rate"),
    ("hang/estimate-requests-1e15", [*ESTIMATE, "--requests", "1e15"], {}, "ok"),
    ("hang/compare-10k-batch-caps", ["compare", "--profile", "{d}/p.json", "--json", "--batch-caps", _many(10_000)], P,
     "error:--batch-caps"),
    ("hang/sweep-rate-4096-gpus-rate-1e6", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "1e6",
                                           "--max-gpus", "4096", "--plot", "{d}/s.png"], P, "error:--max-gpus|--rates"),
    ("hang/config-mlp-only-layers-1e6", [*ESTIMATE[:2], "{d}/config.json", *ESTIMATE[3:], "--energy-model",
                                         "roofline"],
     {"config.json": tiny_llama_config(num_hidden_layers=4096, num_experts=8, num_experts_per_tok=2,
                                       mlp_only_layers=list(range(5000, 1_005_000)))}, "ok"),
]

# Option values no one means: each refused naming the option, or (where it still means something) answered.
SUBNORMAL = "5e-324"
_PLAN_FLOATS = [("nan", "nan"), ("inf", "inf"), ("neg", "-1"), ("zero", "0"), ("subnormal", SUBNORMAL)]


def _nonsense_option_cases():
    cases = []
    for label, value in _PLAN_FLOATS:
        cases += [
            (f"nonsense/plan--headroom={label}", [*PLAN, "--headroom", value], P, "error:--headroom"),
            (f"nonsense/plan--power-budget-w={label}", [*PLAN, "--power-budget-w", value], P,
             "error:--power-budget-w"),
            (f"nonsense/plan--ttft-p90-ms={label}", [*PLAN, "--ttft-p90-ms", value], P, "error:--ttft-p90-ms"),
            (f"nonsense/plan--tpot-p99-ms={label}", [*PLAN, "--tpot-p99-ms", value], P, "error:--tpot-p99-ms"),
            (f"nonsense/plan--rate={label}", [*PLAN[:-2], "--rate", value], P, "error:--rate"),
            (f"nonsense/estimate--rate={label}", [*ESTIMATE, "--rate", value], {}, "error:--rate"),
            (f"nonsense/estimate--requests={label}", [*ESTIMATE, "--requests", value], {}, "error:--requests"),
            (f"nonsense/estimate--period-s={label}", [*ESTIMATE, "--rate", "1", "--period-s", value], {},
             "error:--period-s" if label != "subnormal" else "error:--period-s|--rate"),
        ]
        price = "either" if label in ("zero", "subnormal") else "error"
        cases.append((f"nonsense/plan--gpu-hour-price={label}", [*PLAN, "--gpu-hour-price", value], P,
                      f"{price}:--gpu-hour-price"))
    cases += [
        ("nonsense/plan--gpu-budget=0", [*PLAN, "--gpu-budget", "0"], P, "error:--gpu-budget"),
        ("nonsense/plan--gpu-budget-below-tp", [*PLAN_BASE, "--max-gpus", "2", "--tp", "2", "--rate", "1",
                                                "--gpu-budget", "1"], P,
         "error:--gpu-budget|--tp"),
        ("nonsense/plan--prefix-caching=maybe", [*PLAN, "--prefix-caching", "maybe"], P, "error:--prefix-caching"),
        ("nonsense/plan--precisions=fp4", [*PLAN, "--precisions", "fp4"], P, "error:--precisions"),
        ("nonsense/estimate--requests=1e300", [*ESTIMATE, "--requests", "1e300"], {}, "error:--requests"),
        ("nonsense/estimate--period-s=1e300", [*ESTIMATE, "--rate", "1", "--period-s", "1e300"], {},
         "error:--period-s"),
        ("nonsense/estimate--period-without-rate", [*ESTIMATE, "--period-s", "60"], {}, "error:--period-s"),
        ("nonsense/estimate--tp=0", [*ESTIMATE, "--tp", "0"], {}, "error:--tp"),
        ("nonsense/estimate--tp=65", [*ESTIMATE, "--tp", "65"], {}, "error:--tp"),
        ("nonsense/estimate--max-batch=0", [*ESTIMATE, "--max-batch", "0"], {}, "error:--max-batch"),
        ("nonsense/estimate--precision=fp4", [*ESTIMATE, "--precision", "fp4"], {}, "error:--precision"),
        ("nonsense/estimate--framework=tgi", [*ESTIMATE, "--framework", "tgi"], {}, "error:--framework"),
        ("nonsense/estimate--output=0", [*ESTIMATE[:8], "0", "--json"], {}, "error:--output"),
        ("nonsense/capacity--latency-p90-s=subnormal", ["capacity", "--profile", "{d}/p.json", "--json", "--rate", "1",
                                                       "--latency-p90-s", SUBNORMAL], P,
         "error:--latency-p90-s|--ttft-p90-ms"),
        ("nonsense/sweep-rate--ttft-p90-s=nan", ["sweep-rate", "--profile", "{d}/p.json", "--json", "--rates", "1",
                                                "--max-gpus", "1", "--ttft-p90-s", "nan", "--plot", "{d}/s.png"], P,
         "error:--ttft-p90-s|--ttft-p90-ms"),
    ]
    return cases


def _mla(**changes) -> dict:
    """A tiny DeepSeek-style config: multi-head latent attention, shared experts, a dense first layer."""
    config = tiny_llama_config(model_type="deepseek_v3", kv_lora_rank=64, q_lora_rank=96, qk_rope_head_dim=16,
                               qk_nope_head_dim=32, v_head_dim=32, n_routed_experts=8, num_experts_per_tok=2,
                               n_shared_experts=1, moe_intermediate_size=64, first_k_dense_replace=1)
    config.update(changes)
    return config


def _nested_text_config(depth: int) -> str:
    """A config whose text model is a text_config `depth` levels down (written as text: json.dumps recurses)."""
    return '{"model_type": "wrapper", "text_config": ' * depth + json.dumps(tiny_llama_config()) + "}" * depth


CONFIG_ESTIMATE = [*ESTIMATE[:2], "{d}/config.json", *ESTIMATE[3:], "--energy-model", "roofline"]
CONFIG_NONSENSE = [  # (label, config, expect)
    ("mla-ok", _mla(), "ok"),
    ("mla-kv-lora-rank-0", _mla(kv_lora_rank=0), "error:kv_lora_rank"),
    ("mla-rope-0", _mla(qk_rope_head_dim=0), "error:qk_rope_head_dim"),
    ("mla-nope-0", _mla(qk_nope_head_dim=0), "error:qk_nope_head_dim"),
    ("mla-v-head-0", _mla(v_head_dim=0), "error:v_head_dim"),
    ("mla-q-lora-0", _mla(q_lora_rank=0), "ok"),  # 0: queries projected straight from the hidden state
    ("mla-kv-lora-2p70", _mla(kv_lora_rank=2**70), "error:kv_lora_rank"),
    ("mla-kv-lora-string", _mla(kv_lora_rank="64"), "error:kv_lora_rank"),
    ("experts-1e9", tiny_llama_config(num_experts=10**9, num_experts_per_tok=2), "error:num_experts"),
    ("routed-experts-1e9", _mla(n_routed_experts=10**9), "error:n_routed_experts"),
    ("local-experts-1e9-float", tiny_llama_config(num_local_experts=1e9, num_experts_per_tok=2),
     "error:num_local_experts"),
    ("shared-experts-1e9", _mla(n_shared_experts=10**9), "error:n_shared_experts"),
    ("shared-width-negative", tiny_llama_config(num_experts=8, num_experts_per_tok=2,
                                                shared_expert_intermediate_size=-5), "error:shared_expert"),
    ("first-dense-all-layers", _mla(first_k_dense_replace=2), "error:n_routed_experts"),
    ("first-dense-1e9", _mla(first_k_dense_replace=10**9), "error:first_k_dense_replace"),
    ("moe-layers-strings", tiny_llama_config(num_experts=8, num_experts_per_tok=2, moe_layers=["a"]),
     "error:moe_layers"),
    ("moe-layer-freq-0", _mla(moe_layer_freq=0), "error:moe_layer_freq"),
    ("quant-unknown-method", tiny_llama_config(quantization_config={"quant_method": "bitsandbytes"}),
     "error:quant_method"),
    ("quant-method-escapes", tiny_llama_config(quantization_config={"quant_method": ESCAPE}), "error:quant_method"),
    ("quant-method-number", tiny_llama_config(quantization_config={"quant_method": 8}), "error:quant_method"),
    ("quant-not-an-object", tiny_llama_config(quantization_config="fp8"), "error:quantization_config"),
    ("quant-empty-object", tiny_llama_config(quantization_config={}), "error:quant_method"),
    ("quant-awq-3-bits", tiny_llama_config(quantization_config={"quant_method": "awq", "bits": 3}), "error:bits"),
    ("quant-awq-bits-nan", tiny_llama_config(quantization_config={"quant_method": "awq", "bits": NAN}),
     "error:bits"),
    ("quant-gptq-group-0", tiny_llama_config(quantization_config={"quant_method": "gptq", "bits": 4,
                                                                  "group_size": 0}), "error:group_size"),
    ("quant-fp8-block-0", tiny_llama_config(quantization_config={"quant_method": "fp8", "fmt": "e4m3",
                                                                 "weight_block_size": [0, 0]}),
     "error:weight_block_size"),
    ("text-config-ok", {"model_type": "llava", "text_config": tiny_llama_config()}, "ok"),
    ("text-config-string", {"model_type": "llava", "text_config": "llama"}, "error:text_config"),
    ("text-config-nested-1000", _nested_text_config(1000), "error:config"),
    ("text-config-nested-5", _nested_text_config(5), "error:hidden_size"),
]


def _config_nonsense_cases():
    cases = [(f"nonsense/config-{label}", CONFIG_ESTIMATE, {"config.json": config}, expect)
             for label, config, expect in CONFIG_NONSENSE]
    cases += [
        ("nonsense/config-fifo", CONFIG_ESTIMATE, {"config.json": FIFO}, "error:model"),
        ("nonsense/config-folder-fifo", [*ESTIMATE[:2], "{d}/m", *ESTIMATE[3:]], {"m/config.json": FIFO},
         "error:model"),
        ("nonsense/config-dev-zero", [*ESTIMATE[:2], "{d}/m", *ESTIMATE[3:]],
         {"m/config.json": ("symlink", "/dev/zero")}, "error:model"),
    ]
    return cases


# A config.json of another shape under a name that claims a registry model (or a Hugging Face id that ships one):
# the shape decides; never answered from the claimed model's measurements.
TWO_LAYERS = tiny_llama_config()
LIES = [
    ("lie/hf-id-folder-of-another-shape", ["meta-llama/Llama-3.1-8B"], {"meta-llama/Llama-3.1-8B/config.json":
                                                                       TWO_LAYERS}),
    ("lie/hf-alias-folder-of-another-shape", ["meta-llama/Llama-3.1-8B-Instruct"],
     {"meta-llama/Llama-3.1-8B-Instruct/config.json": TWO_LAYERS}),
    ("lie/registry-folder-lower-case", ["{d}/llama-3.1-8b"], {"llama-3.1-8b/config.json": TWO_LAYERS}),
    ("lie/registry-config-path", ["{d}/Llama-3.1-8B/config.json"], {"Llama-3.1-8B/config.json": TWO_LAYERS}),
    ("lie/name-or-path-claims", ["{d}/x/config.json"],
     {"x/config.json": {**TWO_LAYERS, "_name_or_path": "meta-llama/Llama-3.1-8B"}}),
    ("lie/renamed-suffix-claims", ["{d}/Llama-3.1-8B (config.json)"],
     {"Llama-3.1-8B (config.json)/config.json": TWO_LAYERS}),
    ("lie/dense-under-moe-name", ["{d}/OLMoE-1B-7B"], {"OLMoE-1B-7B/config.json": TWO_LAYERS}),
    ("lie/text-config-under-registry-name", ["{d}/Llama-3.1-8B"],
     {"Llama-3.1-8B/config.json": {"model_type": "llava", "text_config": TWO_LAYERS}}),
]


def _lie_cases():
    cases = []
    for cid, (model,), files in LIES:
        cases.append((cid, [*ESTIMATE[:2], model, *ESTIMATE[3:]], files, "either:model"))
        cases.append((cid + "/profile", PREDICT, {**files, "p.json": _set(base_profile(), ("model",), model)},
                      "either:model"))
    return cases


PRINTED_2 = [
    ("print/estimate-model-escapes", [*ESTIMATE[:2], ESCAPE, *ESTIMATE[3:]], {}, "error:model"),
    ("print/estimate-model-surrogates", [*ESTIMATE[:2], SURROGATE, *ESTIMATE[3:]], {}, "error:model"),
    ("print/estimate-hf-id-escapes", [*ESTIMATE[:2], "meta-llama/Llama-3.1-8B" + ESCAPE, *ESTIMATE[3:]], {},
     "error:model"),
    ("print/estimate-hf-id-surrogates", [*ESTIMATE[:2], "Qwen/" + SURROGATE, *ESTIMATE[3:]], {}, "error:model"),
    ("print/estimate-unknown-hf-id-escapes", [*ESTIMATE[:2], "org/na\x1b]0;pwned\x07me", *ESTIMATE[3:]], {},
     "error:model"),
    ("print/estimate-gpu-escapes", [*ESTIMATE[:4], ESCAPE + SURROGATE, *ESTIMATE[5:]], {}, "error:gpu"),
    ("print/estimate-table-model-folder-escapes", [*ESTIMATE[:2], "{d}/" + ESCAPE.replace("\x07", "") + "m",
                                                   *ESTIMATE[3:-1], "--energy-model", "roofline"],
     {ESCAPE.replace("\x07", "") + "m/config.json": TWO_LAYERS}, "ok"),
    ("print/estimate-table-text-config-type-escapes", [*CONFIG_ESTIMATE[:-3], "--energy-model", "roofline"],
     {"config.json": {"model_type": ESCAPE + SURROGATE, "text_config": TWO_LAYERS}}, "ok"),
    ("print/plan-profile-name-escapes", [a for a in PLAN if a != "--json"],
     {"p.json": {**site_profile(), "name": ESCAPE + SURROGATE}}, "ok"),
    ("print/plan-currency-escapes", [a for a in PLAN if a != "--json"],
     {"p.json": _set(site_profile(), ("site", "currency"), ESCAPE + SURROGATE)}, "ok"),
    ("print/plan-markdown-name-escapes", [*[a for a in PLAN if a != "--json"], "--format", "markdown"],
     {"p.json": {**site_profile(), "name": ESCAPE + SURROGATE}}, "ok"),
    ("print/plan-gpus-escapes", [*PLAN, "--gpu-kinds", ESCAPE + SURROGATE], P, "error:--gpu-kinds"),
    ("print/plan-precisions-escapes", [*PLAN, "--precisions", ESCAPE + SURROGATE], P, "error:--precisions"),
    ("print/html-profile-name-escapes", [*PREDICT, "--html", "{d}/r.html", "--summary-csv", "{d}/s.csv"],
     {"p.json": {**base_profile(), "name": ESCAPE + SURROGATE}}, "ok"),
]

ROUND_2_CASES = [*_output_cases(), *HANGS, *_nonsense_option_cases(), *_config_nonsense_cases(), *_lie_cases(),
                 *PRINTED_2]
if len({c[0] for c in ROUND_2_CASES}) != len(ROUND_2_CASES):
    raise ValueError("hostile case ids must be unique")


def _tree(root: Path) -> dict[str, object]:
    """Every entry under `root` (links not followed): a file's bytes, else its kind."""
    tree: dict[str, object] = {}
    for path in root.rglob("*"):
        if path.is_symlink():
            tree[str(path.relative_to(root))] = ("link", os.readlink(path))
        elif path.is_file():
            tree[str(path.relative_to(root))] = path.read_bytes()
        else:
            tree[str(path.relative_to(root))] = "dir" if path.is_dir() else "other"
    return tree


OUTPUT_FLAGS = ("--html", "--summary-csv", "--save-profile", "--plot-dir", "--plot", "--csv")


def _asked(argv: list[str], root: Path) -> set[str]:
    """The paths (relative to root) a command was asked to write, and what lies under an asked folder."""
    asked = set()
    for flag, value in zip(argv, argv[1:]):
        if flag in OUTPUT_FLAGS:
            path = Path(value)
            if path.is_absolute() and path.is_relative_to(root):
                asked.add(str(path.relative_to(root)))
    return asked


def _deprecation_lines_dropped(stderr: str) -> str:
    """A deprecated spelling prints one warning line before whatever follows; the rest is checked as usual."""
    return "\n".join(line for line in stderr.splitlines() if not (line.startswith("warning: --")
                                                                   and "is deprecated" in line))


@pytest.mark.parametrize("cid,args,files,expect", [pytest.param(*c, id=c[0]) for c in ROUND_2_CASES])
def test_hostile_round2(cid, args, files, expect, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative model folder (meta-llama/...) is found here
    _write(tmp_path, files)
    argv = [a.replace("{d}", str(tmp_path)) for a in args]
    before = _tree(tmp_path)
    result = _invoke_within_limit(argv)
    stderr = _deprecation_lines_dropped(result.stderr)
    check_outcome(result.exit_code, result.stdout, stderr, expect, tmp_path, "--json" in argv, argv)
    after = _tree(tmp_path)
    asked = _asked(argv, tmp_path) if result.exit_code == 0 else set()
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
               and not any(k == a or k.startswith(a + "/") for a in asked)}
    assert not changed, f"side effect: {sorted(changed)[:5]} changed (asked: {sorted(asked)})"
    if cid.startswith("out/") and result.exit_code == 0 and any(a in OUTPUT_FLAGS for a in argv):
        assert asked and all((tmp_path / a).exists() for a in asked), f"nonsense: exit 0, {sorted(asked)} not written"
    _printable_only(result.stdout + result.stderr)
    if cid.startswith("lie/") and result.exit_code == 0:
        report = json.loads(result.stdout)
        assert report["basis"]["kind"] != "measured", f"nonsense: a lying name answered measured: {report['basis']}"
        assert report["deployment"]["model"] not in ("Llama-3.1-8B", "OLMoE-1B-7B"), report["deployment"]["model"]


def _cyclic_profile() -> dict:
    data = base_profile()
    data["workload"]["self"] = data
    return data


API_PROFILES = [  # (id, the profile argument, a field its refusal must name, or "ok")
    ("int", 42, "profile"), ("none", None, "profile"), ("list", [base_profile()], "profile"),
    ("bytes", b"{}", "profile"), ("object", object(), "profile"), ("set", {1}, "profile"),
    ("yaml-path", "p.yaml", "profile"), ("missing-path", "/nonexistent/p.json", "profile"),
    ("non-string-keys", {1: 2}, "model"),
    ("non-string-key-inside", _set(base_profile(), ("workload",), {**base_profile()["workload"], 3: 4}), "workload"),
    ("cyclic", _cyclic_profile(), "workload"),
    ("tuple-samples", _set(base_profile(), ("workload", "tokens", "samples"), ((100, 20),)), "ok"),
    ("complex-requests", _set(base_profile(), ("workload", "requests"), 1 + 2j), "workload.requests"),
    ("huge-int-requests", _set(base_profile(), ("workload", "requests"), 10**400), "workload.requests"),
    ("function-name", _set(base_profile(), ("name",), print), "name"),
    ("bytes-name", _set(base_profile(), ("name",), b"\xff"), "name"),
    ("escapes-model", _set(base_profile(), ("model",), ESCAPE + SURROGATE), "model"),
    ("model-missing", _without(("model",)), "model"),
    ("workload-none", _set(base_profile(), ("workload",), None), "workload"),
]
API_OPTIONS = [  # (id, keyword arguments, the field named)
    ("rate-string", {"rate": "1"}, "rate"), ("rate-bool", {"rate": True}, "rate"),
    ("rate-nan", {"rate": NAN}, "rate"), ("rate-subnormal", {"rate": 5e-324}, "rate"),
    ("rate-1e9", {"rate": 1e9}, "rate"), ("gpu-count-float", {"gpu_count": 1.5}, "gpu_count"),
    ("gpu-count-bool", {"gpu_count": True}, "gpu_count"), ("gpu-count-zero", {"gpu_count": 0}, "gpu_count"),
    ("gpu-count-huge", {"gpu_count": 2**70}, "gpu_count"), ("energy-model-int", {"energy_model": 123}, "energy_model"),
    ("energy-model-none", {"energy_model": None}, "ok"),  # None: the default model, as the CLI's default
    ("energy-model-object", {"energy_model": object()}, "energy_model"),
    ("energy-model-escapes", {"energy_model": ESCAPE}, "energy-model"),
    ("old-gpus-with-new", {"gpus": 2, "gpu_count": 2}, "gpus"),  # a deprecated spelling beside its new one
]


def _api_cases():
    return [pytest.param(profile, {}, field, id=f"profile-{cid}") for cid, profile, field in API_PROFILES] + \
        [pytest.param(base_profile(), kwargs, field, id=cid) for cid, kwargs, field in API_OPTIONS]


@pytest.mark.parametrize("profile,kwargs,field", _api_cases())
def test_hostile_api(profile, kwargs, field, tmp_path, monkeypatch):
    """The Python API given hostile values: a Report of finite numbers, or the package's error naming the field,
    never a raw KeyError, TypeError or AttributeError (issue 29, round two)."""
    from energy_predict import api
    from energy_predict.errors import EnergyPredictError

    monkeypatch.chdir(tmp_path)
    try:
        report = api.predict(profile, **kwargs)
    except EnergyPredictError as exc:
        assert field != "ok", f"refused, expected an answer: {exc}"
        message = str(exc)
        assert len(message.splitlines()) == 1 and field.lower() in message.lower(), \
            f"does not name {field!r}: {message[:300]}"
        return
    except Exception as exc:  # noqa: BLE001 - the property is about what is raised
        pytest.fail(f"uncaught {type(exc).__name__}: {exc}")
    assert field == "ok", f"accepted, expected an error naming {field!r}"
    data = report.to_json()
    json.dumps(data, allow_nan=False)
    assert all(math.isfinite(x) for x in _numbers(data))


STDOUT_CASES = [  # (id, arguments, where standard output goes)
    ("estimate-json-closed", ESTIMATE, "closed"),
    ("estimate-table-full", ESTIMATE[:-1], "/dev/full"),
    ("plan-csv-full", [*[a for a in PLAN if a != "--json"], "--format", "csv"], "/dev/full"),
    ("html-summary-closed", [*PREDICT, "--html", "{d}/r.html", "--summary-csv", "{d}/s.csv"], "closed"),
]


@pytest.mark.parametrize("cid,args,stdout", [pytest.param(*c, id=c[0]) for c in STDOUT_CASES])
def test_hostile_lost_stdout(cid, args, stdout, tmp_path):
    """Standard output closed (`>&-`) or full: one line and exit 2, never exit 0 with the answer lost, never
    "Exception ignored"; closed, it is refused before any work, so nothing is written (issue 29, items 1 and 9)."""
    _write(tmp_path, P)
    argv = [a.replace("{d}", str(tmp_path)) for a in args]
    env = {**os.environ, "COLUMNS": "80", "PYTHONWARNINGS": "ignore"}
    target = subprocess.DEVNULL if stdout == "closed" else open(stdout, "wb")  # noqa: SIM115 - closed below
    preexec = (lambda: os.close(1)) if stdout == "closed" else None
    try:
        proc = subprocess.run([sys.executable, "-m", "energy_predict", *argv], cwd=tmp_path, stdout=target,
                              stderr=subprocess.PIPE, text=True, timeout=CASE_LIMIT_S * 2, env=env,
                              preexec_fn=preexec)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no answer within {CASE_LIMIT_S * 2} s")
    finally:
        if target is not subprocess.DEVNULL:
            target.close()
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert len(lines) == 1 and "standard output" in lines[0], proc.stderr[-2000:]
    if stdout == "closed":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"], "side effect: written with no stdout"

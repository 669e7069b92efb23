"""Issue 28's promise, as a new user meets it: from a vLLM bench result or an OpenAI usage log to an HTML report in
two commands, `energy-predict profile from-trace TRACE -o p.json` then `energy-predict --profile p.json --html
r.html`, each a whole process on the small real-shaped traces in examples/traces/.

The page must hold the JSON report's numbers (each `data-value`, and the digits it shows) and be readable offline:
no http(s) or protocol-relative URL in any src or href, no linked style sheet, no script from a file.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
HEADLINE = {"energy_kwh.estimate", "energy_kwh.low", "energy_kwh.high", "requests", "energy_per_request_j",
            "per_token_j.energy_j_per_output_token", "site.facility_kwh", "site.co2e_kg", "site.cost"}


def energy_predict(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "energy_predict", *args], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=300)


class Page(HTMLParser):
    """The cells that carry a number (data-key, data-value, the text shown) and every src/href of the page."""

    def __init__(self):
        super().__init__()
        self.cells, self.links, self.tags, self._open = [], [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        self.links += [value or "" for name, value in attrs if name in ("src", "href")]
        if "data-key" in a:
            self._open = [a["data-key"], a.get("data-value"), ""]

    def handle_data(self, data):
        if self._open is not None:
            self._open[2] += data

    def handle_endtag(self, tag):
        if self._open is not None and tag == "td":
            self.cells.append(tuple(self._open))
            self._open = None


def json_value(report: dict, key: str):
    """The report's value at a page cell's data-key (`bins.I.O.column` for a bin's cell)."""
    parts = key.split(".")
    if parts[0] == "bins":
        row = next(b for b in report["bins"] if b["input_bin"] == int(parts[1]) and b["output_bin"] == int(parts[2]))
        return row[parts[3]]
    value = report
    for part in parts:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def shown_number(text: str) -> tuple[float, float]:
    """The number a cell shows (thousands separators, a % sign, a unit after it) and half a unit of its last digit."""
    found = re.search(r"([-+]?[\d,]*)(\.\d+)?(e[-+]?\d+)?", text)
    number = float(found.group().replace(",", ""))
    half = 0.5 * 10.0 ** (-len((found.group(2) or ".")[1:]) + int((found.group(3) or "e0")[1:]))
    return number, half


@pytest.mark.parametrize("trace", ["vllm_bench_detailed.json", "openai_chat_completions.jsonl"])
def test_a_trace_becomes_an_html_report_in_two_commands(tmp_path, trace):
    made = energy_predict("profile", "from-trace", str(REPO / "examples" / "traces" / trace), "-o", "p.json",
                          cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert json.loads((tmp_path / "p.json").read_text())["workload"]["requests"] > 0

    done = energy_predict("--profile", "p.json", "--html", "r.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = tmp_path / "r.html"
    assert page.is_file() and page.read_text().startswith("<!DOCTYPE html>")

    # the numbers: the JSON report of the same profile, from its own process
    asked = energy_predict("--profile", "p.json", "--json", cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    report = json.loads(asked.stdout)
    parsed = Page()
    parsed.feed(page.read_text())
    keys = {key for key, _, _ in parsed.cells}
    assert HEADLINE <= keys
    assert {f"bins.{b['input_bin']}.{b['output_bin']}.energy_wh" for b in report["bins"]} <= keys  # every bin
    for key, value, shown in parsed.cells:
        expected = json_value(report, key)
        if expected is None:
            assert value is None and shown.strip() == "n/a", key
            continue
        assert float(value) == pytest.approx(expected, rel=1e-12), key
        number, half = shown_number(shown)
        scale = 100 if shown.strip().endswith("%") else 1
        assert abs(number - expected * scale) <= half * (1 + 1e-9), (key, shown, expected)
    energy = f"{report['energy_kwh']['estimate']:.4g} kWh"
    assert any(shown == energy for key, _, shown in parsed.cells if key == "energy_kwh.estimate")

    # self-contained: nothing fetched from anywhere; the plots (where matplotlib is installed) inline
    if importlib.util.find_spec("matplotlib") is not None:
        assert sum(link.startswith("data:image/png;base64,") for link in parsed.links) >= 1
    for link in parsed.links:
        assert not re.match(r"\s*(https?:)?//", link, re.IGNORECASE), link
        assert link.startswith(("data:", "#")), link
    assert not [a for tag, a in parsed.tags if tag == "link" or (tag == "script" and "src" in a)]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page.read_text(), re.IGNORECASE)

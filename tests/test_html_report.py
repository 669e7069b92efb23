"""The --html report, opened in a real headless browser (Debian's chromium): its screenshot is a page, and the
numbers in its rendered DOM are the JSON report's. Marked slow (CI's `-m "slow or ray"` step, where .ci/run
installs chromium); skipped with a reason where no browser is installed, except under ENERGY_PREDICT_REQUIRE_BROWSER."""

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser(tmp_path, page: Path, *args) -> subprocess.CompletedProcess:
    if BROWSER is None:
        if os.environ.get("ENERGY_PREDICT_REQUIRE_BROWSER"):
            pytest.fail("no chromium on this machine, and CI requires it (.ci/run installs it)")
        pytest.skip("no chromium on this machine (apt-get install -y chromium); CI installs it")
    return subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'browser-profile'}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


class _Numbers(HTMLParser):
    """Every element with data-key: its key, data-value and the text it shows; every img's src."""

    def __init__(self):
        super().__init__()
        self.cells, self.images, self._open = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-key" in a:
            self._open = [a["data-key"], a.get("data-value"), ""]
        if tag == "img":
            self.images.append(a.get("src", ""))

    def handle_data(self, data):
        if self._open is not None:
            self._open[2] += data

    def handle_endtag(self, tag):
        if self._open is not None and tag == "td":
            self.cells.append(tuple(self._open))
            self._open = None


def lookup(report: dict, key: str):
    value = report
    for part in key.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


def _json_value(report: dict, key: str):
    parts = key.split(".")
    if parts[0] == "bins":
        row = next(b for b in report["bins"] if b["input_bin"] == int(parts[1]) and b["output_bin"] == int(parts[2]))
        return row[parts[3]]
    return lookup(report, key)


def check_cells(cells, expected_at) -> None:
    """Each number shown is its JSON value: data-value exactly, the text to the digits it shows."""
    for key, value, shown in cells:
        expected = expected_at(key)
        if expected is None:
            assert value is None and shown.strip() == "n/a"
            continue
        assert float(value) == pytest.approx(expected, rel=1e-12), key
        found = re.search(r"([-+]?[\d,]*)(\.\d+)?(e[-+]?\d+)?", shown)
        number = float(found.group().replace(",", ""))
        scale = 100 if shown.strip().endswith("%") else 1
        # as close as the digits shown can say: half a unit of the last digit
        last_digit = 10.0 ** (-len((found.group(2) or ".")[1:]) + int((found.group(3) or "e0")[1:]))
        assert abs(number - expected * scale) <= 0.5 * last_digit * (1 + 1e-9), (key, shown)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--rate", "2"]])
def test_the_html_report_renders_offline_with_the_json_numbers(tmp_path, extra):
    profile = REPO / "examples" / "code_gen.json"
    page = tmp_path / "report.html"
    made = subprocess.run([sys.executable, "-m", "energy_predict", "--profile", str(profile), *extra, "--html",
                           str(page), "--json"], capture_output=True, text=True, env=ENV, timeout=120)
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    source = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", source)  # nothing fetched: readable offline
    assert "<link" not in source

    dom = _browser(tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Numbers()
    parsed.feed(dom.stdout)
    assert len(parsed.cells) >= 8 * len(report["bins"]) + 10  # the headline and every bin's 8 columns
    keys = {key for key, _, _ in parsed.cells}
    assert {"energy_kwh.estimate", "energy_kwh.low", "energy_kwh.high", "per_token_j.energy_j_per_output_token",
            "site.co2e_kg"} <= keys
    if extra:
        assert "latency.ttft_p90_ms" in keys
    check_cells(parsed.cells, lambda key: _json_value(report, key))
    assert len(parsed.images) == 3
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"

    shot = tmp_path / "shot.png"
    taken = _browser(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,1800")
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1200, 1800)
    assert len(data) > 50_000  # a rendered page of text and tables, not a blank one


PLAN_ARGS = ["plan", "--profile", str(REPO / "examples" / "code_gen.json"), "--rate", "1", "--max-gpus", "2",
             "--gpu-kinds", "H100-SXM-80GB", "--precisions", "bf16,fp8", "--ttft-p90-ms", "2000"]


def _plan_page(tmp_path) -> tuple[dict, Path]:
    page = tmp_path / "plan.html"
    made = subprocess.run([sys.executable, "-m", "energy_predict", *PLAN_ARGS, "--html", str(page), "--json"],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout), page


def _check_plan_numbers(plan: dict, dom: str) -> None:
    parsed = _Numbers()
    parsed.feed(dom)
    keys = {key for key, _, _ in parsed.cells}
    columns = 16  # the numbers of a front row (html_report.PLAN_COLUMNS)
    assert len(parsed.cells) >= columns * (1 + len(plan["front"])) + len(plan["counts"])
    assert {"recommended.energy_kwh_per_day", "recommended.low_kwh_per_day", "recommended.high_kwh_per_day",
            "front.0.energy_kwh_per_day", "front.0.ttft_p90_ms", "front.0.site.co2e_kg_per_day",
            "targets.ttft_p90_ms", "counts.simulated"} <= keys
    check_cells(parsed.cells, lambda key: lookup(plan, key))
    assert plan["why"] in dom and plan["recommended"]["label"] in dom  # the recommendation and why, in words


def test_the_plan_page_holds_the_front_the_recommendation_and_why(tmp_path):
    """Without a browser: the page's source against the JSON plan printed beside it."""
    plan, page = _plan_page(tmp_path)
    source = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", source) and "<link" not in source
    _check_plan_numbers(plan, source)
    embedded = re.search(r'<script type="application/json" id="plan-json">(.*?)</script>', source, re.S).group(1)
    assert json.loads(embedded) == plan


@pytest.mark.slow
def test_the_plan_page_renders_in_a_browser_with_the_json_numbers(tmp_path):
    plan, page = _plan_page(tmp_path)
    dom = _browser(tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    _check_plan_numbers(plan, dom.stdout)
    shot = tmp_path / "shot.png"
    taken = _browser(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,1400")
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000  # a page of text and tables, not a blank one


def test_plan_refuses_an_html_path_that_is_not_html_before_searching(tmp_path):
    made = subprocess.run([sys.executable, "-m", "energy_predict", *PLAN_ARGS, "--html", str(tmp_path / "p.txt")],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert made.returncode == 2 and made.stderr.startswith("error: --html") and len(made.stderr.splitlines()) == 1

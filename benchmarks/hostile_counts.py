"""The hostile suite's cases against two commits' code: per class, how many end in a traceback, a hang, a side
effect or a nonsense answer (issue 29's measure), before and after.

The suite is this checkout's (tests/test_hostile.py and the fixed output-path cases of tests/test_fuzz.py, the
default markers: the slow 150 MB files and subprocess cases left out); the code under test is each commit's src/
(with its artifacts/), unpacked with `git archive` and put first on PYTHONPATH. A case's failure is classed by its
message: "no answer within" a hang; "uncaught", a traceback printed, an exit code other than 0 and 2, or an exception
other than a failed assertion a traceback;
"side effect", "measured something" or "echoed" a side effect; anything else (accepted where it should be refused,
refused without naming the field, several lines, non-finite or unprintable output, a wrong count) nonsense.

    python benchmarks/hostile_counts.py [--before c83fe8d] [--after HEAD]

c83fe8d is the merge of the first round (branch `hostile`); the second round's classes (the surfaces that landed
after it: plan, estimate, --html, --summary-csv, the Python API, MoE configs) are counted against it.

Writes benchmarks/results/hostile.{json,md}. Both runs take a few minutes of CPU each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SUITE = ["tests/test_hostile.py", "tests/test_fuzz.py::test_tricky_output_paths"]
KINDS = ("traceback", "hang", "side effect", "nonsense")
CLASSES = [  # (pattern on the test id, class) — the first that matches
    (r"test_tricky_output_paths", "1 output targets (--csv names, links, devices)"),
    (r"test_hostile_issue_29\[special/", "3 a pipe, a device or a folder as an input file"),
    (r"test_hostile_issue_29\[print/", "5 escapes and surrogates in printed text"),
    (r"test_hostile_ray_temp", "7 Ray temp path too long for a socket"),
    (r"test_hostile_journal_on_resume", "10 a journal tampered with before --resume"),
    (r"test_hostile_round2\[out/", "1 output targets of the new options (--html, --summary-csv, --save-profile, "
                                  "--plot-dir, --format, deprecated aliases)"),
    (r"test_hostile_lost_stdout", "1/9 standard output closed or full (estimate, plan, --html)"),
    (r"test_hostile_round2\[hang/", "4 runaway work (plan, estimate, a config's layer lists)"),
    (r"test_hostile_round2\[nonsense/config-", "11 nonsense in config.json (MoE, MLA, quantization_config, "
                                              "text_config, a FIFO)"),
    (r"test_hostile_round2\[nonsense/", "11 nonsense options (plan, estimate, deprecated aliases)"),
    (r"test_hostile_round2\[lie/", "2 names that lie (a config of another shape under a registry name or an HF id)"),
    (r"test_hostile_round2\[print/", "5 escapes and surrogates (estimate's --model, HF ids, plan's names)"),
    (r"test_hostile_api", "the Python API given hostile values"),
    (r"test_hostile_issue_29\[nonsense/", "11 nonsense numbers accepted"),
    (r"test_hostile\[(--csv|--plot|sweep-rate-plot|data-cells-csv)", "1 output targets (earlier cases)"),
    (r"test_hostile\[card-", "3 model cards (earlier cases)"),
    (r"test_hostile\[calibrate/", "4/10 grids (earlier cases)"),
    (r"test_hostile\[(data-list|data-cells)/", "10 run folders (earlier cases)"),
    (r"test_hostile\[render-", "5 markup in printed text (earlier cases)"),
    (r"test_unreadable_files", "3 unreadable files (earlier cases)"),
    (r".", "profiles, traces, configs, options (earlier suite, issue 13)"),
]


def unpack(commit: str, into: Path) -> Path:
    """The commit's src/, with the artifacts/ and pyproject.toml that make it a source checkout (its data)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit, "src", "artifacts", "pyproject.toml"], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def classify(message: str) -> str:
    """The kind of a failure from its message (the exception line, not the source listing the report adds)."""
    if "no answer within" in message:
        return "hang"
    if re.search(r"side effect|measured something|echoed the foreign", message):
        return "side effect"
    if re.search(r"uncaught|Traceback \(most recent|exit (1|120|-?\d{3})\b", message) or \
            not re.match(r"(AssertionError|Failed|assert)", message):  # an exception that escaped the code
        return "traceback"
    return "nonsense"


def run_suite(src: Path, report: Path) -> dict[str, str | None]:
    """Each case's outcome: None (passed), or the kind of its failure."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(REPO)])}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                    "-m", "not slow and not ray", f"--junitxml={report}", *SUITE], cwd=REPO, env=env,
                   capture_output=True)
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name")
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if case.find("skipped") is not None:
            continue
        outcomes[name] = None if problem is None else classify(problem.get("message") or "")
    return outcomes


def class_of(name: str) -> str:
    return next(label for pattern, label in CLASSES if re.match(pattern, name))


def tally(outcomes: dict[str, str | None]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter] = defaultdict(Counter)
    for name, kind in outcomes.items():
        table[class_of(name)]["cases"] += 1
        if kind is not None:
            table[class_of(name)][kind] += 1
    return {k: dict(v) for k, v in table.items()}


def write(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hostile.json").write_text(json.dumps(result, indent=1) + "\n")
    before, after = result["before"]["classes"], result["after"]["classes"]
    order = [label for _, label in CLASSES if label in before or label in after]
    lines = [
        "# Hostile input: failures per class, before and after", "",
        f"The suite of this branch ({result['after']['commit']}: tests/test_hostile.py and test_fuzz.py's fixed "
        f"output-path cases, default markers) run against the code of {result['before']['commit']} (before) and "
        f"{result['after']['commit']} (after). Cells: tracebacks / hangs / side effects / nonsense. "
        "`python benchmarks/hostile_counts.py` writes this file.", "",
        "| class (issue 29 item) | cases | before | after |", "|---|---:|---|---|",
    ]
    totals = {"before": Counter(), "after": Counter()}
    for label in order:
        cells = []
        for side, table in (("before", before), ("after", after)):
            row = table.get(label, {})
            totals[side].update({k: row.get(k, 0) for k in (*KINDS, "cases")})
            cells.append(" / ".join(str(row.get(k, 0)) for k in KINDS))
        cases = after.get(label, before.get(label, {})).get("cases", 0)
        lines.append(f"| {label} | {cases} | {cells[0]} | {cells[1]} |")
    lines.append(f"| **all** | {totals['after']['cases']} | "
                 + " | ".join(" / ".join(str(totals[s][k]) for k in KINDS) for s in ("before", "after")) + " |")
    still = [n for n, k in result["after"]["outcomes"].items() if k is not None]
    lines += ["", f"Cases still failing after: {len(still)}" + (f" ({', '.join(still[:20])})" if still else "."), ""]
    (RESULTS / "hostile.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="c83fe8d")
    parser.add_argument("--after", default="HEAD")
    args = parser.parse_args()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for side, commit in (("before", args.before), ("after", args.after)):
            sha = subprocess.run(["git", "rev-parse", "--short", commit], cwd=REPO, check=True, capture_output=True,
                                 text=True).stdout.strip()
            outcomes = run_suite(unpack(sha, Path(tmp) / side), Path(tmp) / f"{side}.xml")
            result[side] = {"commit": sha, "classes": tally(outcomes), "outcomes": outcomes}
            print(side, sha, json.dumps(result[side]["classes"]), flush=True)
    write(result)


if __name__ == "__main__":
    main()

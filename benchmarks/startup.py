"""Start-up cost of a plain install (issue 28, item 7): its size and the CPU seconds of two whole processes.

A fresh virtual environment gets `pip install .` (the base install, no extras), then each command runs as a new
process `--repeats` times; CPU seconds are user + system of the child (resource.getrusage), the median reported.
Targets: base install < 250 MB, `energy-predict --help` < 0.3 s, the report on examples/code_gen.json < 0.6 s.

    python benchmarks/startup.py [--venv DIR] [--repeats 5]

`--venv DIR` measures an existing environment (made here when absent). Writes benchmarks/results/startup.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TARGETS = {"install_mb": 250.0, "help_cpu_s": 0.3, "report_cpu_s": 0.6}
VENV_TOOLING = ("pip", "setuptools", "_distutils_hack", "pkg_resources")  # what any venv has, not what we pull


def tree_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def make_venv(venv: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(REPO)], check=True)


def site_packages(venv: Path) -> Path:
    (path,) = (venv / "lib").glob("python3*/site-packages")
    return path


def install_size(venv: Path) -> dict:
    site = site_packages(venv)
    sizes = {p.name: tree_mb(p) if p.is_dir() else p.stat().st_size / 1e6 for p in site.iterdir()}
    tooling = sum(v for k, v in sizes.items() if k.split("-")[0] in VENV_TOOLING)
    top = sorted(((k, round(v, 1)) for k, v in sizes.items() if not k.endswith(".dist-info")),
                 key=lambda kv: -kv[1])[:8]
    return {"site_packages_mb": round(sum(sizes.values()), 1), "venv_tooling_mb": round(tooling, 1),
            "install_mb": round(sum(sizes.values()) - tooling, 1), "largest_mb": dict(top)}


def cpu_s(argv: list[str], cwd: Path) -> float:
    """User + system CPU seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(venv: Path, repeats: int) -> dict:
    exe = str(venv / "bin" / "energy-predict")
    commands = {"help_cpu_s": [exe, "--help"],
                "report_cpu_s": [exe, "--profile", str(REPO / "examples" / "code_gen.json")]}
    result = {"install": install_size(venv)}
    with tempfile.TemporaryDirectory() as cwd:  # not the checkout: the installed package is the one imported
        cpu_s(commands["help_cpu_s"], Path(cwd))  # warm the file cache and the .pyc files
        for key, argv in commands.items():
            runs = [cpu_s(argv, Path(cwd)) for _ in range(repeats)]
            result[key] = {"median": round(statistics.median(runs), 3), "runs": [round(r, 3) for r in runs]}
    return result


def verdicts(result: dict) -> dict[str, str]:
    got = {"install_mb": result["install"]["install_mb"], "help_cpu_s": result["help_cpu_s"]["median"],
           "report_cpu_s": result["report_cpu_s"]["median"]}
    out = {}
    for key, target in TARGETS.items():
        miss = got[key] - target
        out[key] = "met" if miss <= 0 else f"missed by {miss:.2f} ({got[key] / target - 1:+.0%})"
    return out


def write(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "startup.json").write_text(json.dumps(result, indent=1) + "\n")
    v, i = result["verdicts"], result["install"]
    lines = [
        "# Start-up cost of a plain install", "",
        f"Fresh venv, `pip install .` (no extras), {result['machine']}; CPU seconds = user + system of the whole "
        f"process, median of {result['repeats']} runs, load average {result['load_average']} (1, 5, 15 min) when "
        f"measured: on a busy machine the same process takes more CPU seconds. `python benchmarks/startup.py` "
        "writes this file.", "",
        "| what | measured | target | verdict |", "|---|---|---|---|",
        f"| base install (site-packages less pip/setuptools) | {i['install_mb']} MB | < 250 MB | {v['install_mb']} |",
        f"| `energy-predict --help` | {result['help_cpu_s']['median']} s CPU | < 0.3 s | {v['help_cpu_s']} |",
        f"| report on examples/code_gen.json | {result['report_cpu_s']['median']} s CPU | < 0.6 s | "
        f"{v['report_cpu_s']} |", "",
        f"site-packages in all: {i['site_packages_mb']} MB ({i['venv_tooling_mb']} MB of it pip and setuptools). "
        "Largest: " + ", ".join(f"{k} {mb} MB" for k, mb in i["largest_mb"].items()) + ".", "",
        "Before issue 28 item 7 the base install carried pyarrow, scikit-learn, scipy, xgboost and matplotlib "
        "(709 MB, the issue's measure); they are the `data`, `fit` and `plots` extras now.", "",
    ]
    (RESULTS / "startup.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="an environment with the base install (made when absent)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        venv = args.venv or Path(tmp) / "venv"
        if not (venv / "bin" / "energy-predict").exists():
            make_venv(venv)
        result = measure(venv, args.repeats)
    result.update(repeats=args.repeats, machine=f"{platform.machine()} Python {platform.python_version()}",
                  load_average=[round(x, 2) for x in os.getloadavg()])  # CPU seconds grow on a busy machine
    result["verdicts"] = verdicts(result)
    write(result)
    print(json.dumps({k: result[k] for k in ("install", "help_cpu_s", "report_cpu_s", "verdicts")}, indent=1))


if __name__ == "__main__":
    main()

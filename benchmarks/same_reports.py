"""Do two versions of the code give the same reports? The JSON report of every example, saved or compared.

A speed change must not move an answer: run `--save DIR` on the old code, then `--compare DIR` on the new. Each
case is a whole `energy-predict ... --json` process (the CLI path, imports included) on an example profile, with
the shipped default model, a roofline baseline and online at a rate. Numbers must agree to `--rtol` (1e-12
relative), everything else exactly.

    python benchmarks/same_reports.py --save /tmp/before
    python benchmarks/same_reports.py --compare /tmp/before
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"default": [], "roofline": ["--model", "roofline"], "online": ["--rate", "2"]}
# code_gen.json changed to reach the model's other routes: HF padded batches, the tensor-parallel law, fp8, a GPU
# transfer, a decoding option's rule, a mixture of experts, prefix caching, several replicas, a trace file
DERIVED = {
    "hf": {"serving": {"framework": "hf", "cuda_graphs": False, "max_batch": 64}},
    "tp8": {"serving": {"tensor_parallel": 8}, "hardware": {"count": 8}, "model": "Llama-3.1-70B"},
    "fp8": {"serving": {"quantization": "fp8"}},
    "a100": {"hardware": {"gpu": "A100-SXM-80GB"}},
    "beam": {"serving": {"framework": "hf", "cuda_graphs": False, "max_batch": 32, "decoding": "beam",
                         "beam_width": 4}},
    "sampling": {"serving": {"decoding": "sampling", "temperature": 0.7}},
    "moe": {"model": "Mixtral-8x7B", "serving": {"tensor_parallel": 2}, "hardware": {"count": 2}},
    "prefix": {"serving": {"prefix_caching": True}, "workload": {"prefix_hit_rate": 0.3}},
    "replicas": {"hardware": {"count": 4}},
    "trace": {"workload": {"requests": None, "period_s": None, "rate_per_s": None,
                           "tokens": {"kind": "trace", "path": str(REPO / "examples/traces/vllm_bench_detailed.json"),
                                      "format": "vllm"}}},
}


def _merged(base: dict, change: dict) -> dict:
    out = dict(base)
    for key, value in change.items():
        out[key] = _merged(base.get(key, {}), value) if isinstance(value, dict) and key != "tokens" else value
    return {k: v for k, v in out.items() if v is not None}


def cases(folder: Path) -> dict[str, list[str]]:
    """Case name -> CLI arguments: every example profile under every variant, and the derived profiles."""
    out = {f"{p.stem}-{v}": ["--profile", str(p), *args, "--json"]
           for p in sorted((REPO / "examples").glob("*.json")) for v, args in VARIANTS.items()}
    base = json.loads((REPO / "examples" / "code_gen.json").read_text())
    for name, change in DERIVED.items():
        path = folder / f"profile-{name}.json"
        path.write_text(json.dumps(_merged(base, change)))
        out[f"code_gen_{name}-default"] = ["--profile", str(path), "--json"]
    return out


def report(args: list[str]) -> object:
    """The JSON report of one whole CLI process."""
    done = subprocess.run([sys.executable, "-m", "energy_predict", *args], capture_output=True, text=True)
    if done.returncode != 0:
        return {"exit": done.returncode, "stderr": done.stderr.strip()}
    return json.loads(done.stdout)


def differences(a: object, b: object, rtol: float, where: str = "") -> list[str]:
    """Where two JSON values differ: numbers beyond `rtol` relative, anything else at all."""
    if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        if isinstance(a, dict) and isinstance(b, dict):
            if a.keys() != b.keys():
                return [f"{where}: keys {sorted(a.keys() ^ b.keys())} differ"]
            return [d for k in a for d in differences(a[k], b[k], rtol, f"{where}.{k}")]
        if isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                return [f"{where}: length {len(a)} != {len(b)}"]
            return [d for n, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, rtol, f"{where}[{n}]")]
        return [] if a == b else [f"{where}: {a!r} != {b!r}"]
    if math.isclose(a, b, rel_tol=rtol, abs_tol=0.0):
        return []
    return [f"{where}: {a!r} != {b!r} (relative {abs(a - b) / max(abs(a), abs(b)):.2e})"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--save", type=Path, help="write each case's report into this folder")
    mode.add_argument("--compare", type=Path, help="compare each case's report with the one saved here")
    parser.add_argument("--rtol", type=float, default=1e-12)
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        todo = cases(Path(tmp))
        for name, argv in todo.items():
            failed += run_case(name, argv, args)
    if args.compare:
        print(f"{len(todo) - failed} of {len(todo)} reports identical to {args.rtol:g} relative")
    return 1 if failed else 0


def run_case(name: str, argv: list[str], args: argparse.Namespace) -> bool:
    """Save one case's report, or compare it with the saved one; True where it differs."""
    got = report(argv)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / f"{name}.json").write_text(json.dumps(got, indent=1) + "\n")
        print(f"saved {name}" + (f" (exit {got['exit']}: {got['stderr']})" if "exit" in got else ""))
        return False
    diffs = differences(json.loads((args.compare / f"{name}.json").read_text()), got, args.rtol)
    print(f"{'same' if not diffs else 'DIFFERENT'} {name}" + "".join(f"\n  {d}" for d in diffs[:10]))
    return bool(diffs)


if __name__ == "__main__":
    sys.exit(main())

"""ML.ENERGY's closed loop on our own GPU: measured steady state against the tool and against the published run
(issue 25, item 5: why the tool reads 0.7-0.9x ML.ENERGY's Llama-3.1-8B on the H100 at 64-768 running requests).

    python benchmarks/closed_loop.py     # writes benchmarks/results/closed_loop.{json,md}

Requests: `campaigns/next-closed-loop/traces/` (ML.ENERGY's published output histogram for Llama-3.1-8B-Instruct on
one H100 at max_num_seqs 64 and 256, inputs of 256 and 1024 tokens; a = head + tail, b = head + middle + tail, every
request arriving at 0 s). Steady state = b - a, so ramp-up and drain cancel: energy per output token, time per
engine step (the b - a time x max_num_seqs / the b - a output tokens: the mean step at max_num_seqs running) and
mean power.
- measured: the replays in `artifacts/replays/closed-loop/` (vLLM 0.26, random weights, greedy), where present;
- tool: the online simulator on the same two request files (the same path `benchmarks/published.py` uses for its
  closed-loop column), on the H100 the replays ran on;
- published: ML.ENERGY v3 at that max_num_seqs (vLLM 0.11.1, real weights, the model's sampling settings, prompts
  of unpublished length): energy per output token, mean step (running batch / output throughput), median
  inter-token latency, power.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TRACES = ROOT / "campaigns" / "next-closed-loop" / "traces"
REPLAYS = ROOT / "artifacts" / "replays" / "closed-loop"
OUT = HERE / "results"
MODEL = "Llama-3.1-8B"
SEQS = (64, 256)
INPUTS = (256, 1024)
GPU = "H100-SXM-80GB"  # the card the campaign ran on
POINT = "mlenergy-v3/lm-arena-chat/Llama-3.1-8B-Instruct/H100x1/seqs{seqs}"

sys.path.insert(0, str(HERE))


def steady(a: dict, b: dict, cap: int) -> dict:
    """b - a: energy per output token (J), mean step at `cap` running (ms), mean power (W)."""
    e, t, s = b["energy_j"] - a["energy_j"], b["output_tokens"] - a["output_tokens"], b["time_s"] - a["time_s"]
    return {"j_per_token": e / t, "step_ms": 1000 * s * cap / t, "power_w": e / s, "tokens": t}


def tool_run(path: Path, cap: int, gpu: str, model) -> dict:
    """The online simulator on one request file: energy (J), output tokens, busy time (s), basis."""
    from energy_predict.predict.serving import simulate_deployment
    from energy_predict.profile import Profile
    from energy_predict.serving import deployment_from_profile
    from energy_predict.workload import workload_from_profile

    raw = {"name": path.stem, "model": MODEL, "hardware": {"gpu": gpu, "count": 1},
           "serving": {"framework": "vllm", "cuda_graphs": True, "max_batch": cap, "max_num_batched_tokens": 8192,
                       "mode": "offline"},
           "workload": {"tokens": {"kind": "trace", "path": str(path), "format": "csv"}}}
    profile = Profile.model_validate(raw)
    dep = deployment_from_profile(profile, TRACES)
    r = simulate_deployment(workload_from_profile(profile, TRACES), dep, model).result
    assert r.completed == r.requests and not r.overloaded, f"{path.name}: the simulation did not finish"
    return {"energy_j": r.busy_energy_j, "output_tokens": r.output_tokens, "time_s": r.busy_s}


def measured_run(cap: int, stem: str, folder: str = "") -> dict | None:
    """The replay's one measured run of a request file (in `cap{cap}{folder}/`), or None where it was not measured."""
    for f in sorted(REPLAYS.glob(f"cap{cap}{folder}/*{stem}-*.json")) if REPLAYS.exists() else []:
        rec = json.loads(f.read_text())
        run = rec["runs"][0]
        if run.get("energy_j") is None:
            return None
        return {"energy_j": run["energy_j"], "output_tokens": float(sum(rec["requests"]["output_tokens"])),
                "time_s": run["duration_s"], "gpu": rec["meter"]["gpus"][0]["name"],
                "idle_w": rec.get("loaded_idle_power_w"), "record": str(f.relative_to(ROOT))}
    return None


def published_point(seqs: int) -> dict:
    import published

    _, points, _ = published.load_data()
    p = {q.id: q for q in points}[POINT.format(seqs=seqs)]
    m = {k: v.value for k, v in p.measured.items()}
    return {"id": p.id, "j_per_token": m["energy_per_output_token"],
            "step_ms": 1000 * m["avg_batch_size"] / m["output_throughput"], "median_itl_ms": m["median_itl"],
            "power_w": m["avg_power"], "running": m["avg_batch_size"]}


def compute() -> dict:
    from energy_predict.model.store import load_default_model

    model = load_default_model()
    rows = []
    for cap in SEQS:
        pub = published_point(cap)
        for tokens_in in INPUTS:
            stem = f"cap{cap}-in{tokens_in}"
            a, b = TRACES / f"{stem}-a.csv", TRACES / f"{stem}-b.csv"
            row = {"max_num_seqs": cap, "input_tokens": tokens_in, "published": pub,
                   "tool": steady(tool_run(a, cap, GPU, model), tool_run(b, cap, GPU, model), cap)}
            ma, mb = measured_run(cap, f"{stem}-a"), measured_run(cap, f"{stem}-b")
            row["measured"] = ({**steady(ma, mb, cap), "gpu": ma["gpu"], "records": [ma["record"], mb["record"]]}
                               if ma and mb else None)
            ra, rb = measured_run(cap, f"{stem}-a", "-rep2"), measured_run(cap, f"{stem}-b", "-rep2")
            row["repeated"] = ({**steady(ra, rb, cap), "gpu": ra["gpu"], "records": [ra["record"], rb["record"]]}
                               if ra and rb else None)
            rows.append(row)
    return {"rows": rows}


def _line(row: dict, source: str, x: dict, extra: str = "") -> str:
    """One table row: a source's steady state, and its energy per token over the measured one."""
    m = row["measured"]
    over = f"{x['j_per_token'] / m['j_per_token']:.3f}" if m else "-"
    return (f"| {row['max_num_seqs']} | {row['input_tokens']} | {source} | {x['j_per_token']:.4f} | {over} | "
            f"{x['step_ms']:.1f}{extra} | {x['power_w']:.0f} |")


def render(res: dict) -> str:
    lines = ["# ML.ENERGY's closed loop, Llama-3.1-8B on one H100: measured, the tool, the published run", "",
             "Written by `benchmarks/closed_loop.py` (its docstring says how each figure is made). Steady state = "
             "b - a of two request files served with every request at once; power is that difference's energy over "
             "its time.", "",
             "| max_num_seqs | input tokens | source | J / output token | over measured | mean step (ms) | power (W) |",
             "|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        m = r["measured"]
        if m:
            lines.append(_line(r, f"measured ({m['gpu']}, vLLM 0.26)", m))
        if r.get("repeated"):
            lines.append(_line(r, "measured again, a new engine", r["repeated"]))
        lines.append(_line(r, "tool (online simulator)", r["tool"]))
        p = r["published"]
        lines.append(_line(r, "ML.ENERGY v3 (input not published)", p, f" (median ITL {p['median_itl_ms']:.1f})"))
    return "\n".join(lines) + "\n"


def main() -> None:
    res = compute()
    OUT.mkdir(exist_ok=True)
    (OUT / "closed_loop.json").write_text(json.dumps(res, indent=1) + "\n")
    (OUT / "closed_loop.md").write_text(render(res))
    print(render(res))


if __name__ == "__main__":
    main()

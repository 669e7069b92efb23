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

The campaign's files are short (head 1 x max_num_seqs, middle 2 x, at least 200 requests, to fit one lease). At 64
running requests with ML.ENERGY's long-tailed outputs their b - a has not converged to the steady state: the tool
on longer files (`LONGER`, head 2 x and middle 4 x: `benchmarks/published.py`'s own closed-loop mapping) reads more.
So each row also gives the tool on the longer files and `measured, scaled`: the measurement times the tool's
longer-over-campaign ratio (an estimate, labelled so), the figure to set beside ML.ENERGY's steady state; and the
prompt length at which that scaled measurement would equal ML.ENERGY's (linear between 256 and 1,024 tokens).
Last, Llama-3.1-70B (and 3.3) TP4 on the H100 against ML.ENERGY at 256 and 512-token prompts (the offline mapping
of `benchmarks/published.py`), because the same prompts went to both models.
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
LONGER = (2, 4)  # head and middle, in batches of max_num_seqs: benchmarks/published.py's closed-loop mapping
PROMPTS_70B = (256, 512)

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
    if r.completed < r.requests or r.overloaded:
        raise RuntimeError(f"{path.name}: the simulation stopped before every request finished")
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


def tool_longer(cap: int, tokens_in: int, model) -> dict:
    """The tool's steady state on the longer files (`LONGER`) for the same published point and prompt length."""
    import tempfile

    import published

    files = published.closed_loop_files(published.load_data()[1], {(cap, tokens_in): LONGER}, POINT)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for stem, requests in files.items():  # a, then b
            path = Path(tmp) / f"{stem}.csv"
            path.write_text(published.requests_csv(requests))
            runs.append(tool_run(path, cap, GPU, model))
    return steady(*runs, cap)


def implied_prompt(rows: list[dict], cap: int, key: str) -> float | None:
    """The prompt length (tokens) at which `key`'s energy per token equals ML.ENERGY's: linear in the prompt
    between the two measured lengths; None where a side is missing."""
    two = sorted((r for r in rows if r["max_num_seqs"] == cap and r.get(key)), key=lambda r: r["input_tokens"])
    if len(two) != 2:
        return None
    (lo, hi), target = two, two[0]["published"]["j_per_token"]
    a, b = lo[key]["j_per_token"], hi[key]["j_per_token"]
    return lo["input_tokens"] + (target - a) / (b - a) * (hi["input_tokens"] - lo["input_tokens"])


def seventy_b(model) -> list[dict]:
    """Llama-3.1-70B and 3.3-70B TP4 on the H100 (ML.ENERGY chat): tool over published at each `PROMPTS_70B`."""
    import published

    _, points, _ = published.load_data()
    out = []
    for p in points:
        d = p.deployment
        if p.workload.task != "lm-arena-chat" or d.gpu != "H100" or "70B" not in d.model:
            continue
        row = {"id": p.id, "max_num_seqs": d.max_num_seqs}
        for n in PROMPTS_70B:
            a = published.ask_tool(published.query_for(p, input_tokens=n), model)["offline"]
            row[str(n)] = (None if a.refused else
                           published.predicted_per_token(p, a)[0] / p.measured["energy_per_output_token"].value)
        out.append(row)
    return out


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
            row["tool_longer"] = tool_longer(cap, tokens_in, model)
            scale = row["tool_longer"]["j_per_token"] / row["tool"]["j_per_token"]
            row["measured_scaled"] = ({"j_per_token": row["measured"]["j_per_token"] * scale, "scale": scale}
                                      if row["measured"] else None)
            rows.append(row)
    implied = {str(cap): {"measured": implied_prompt(rows, cap, "measured"),
                          "measured_scaled": implied_prompt(rows, cap, "measured_scaled")} for cap in SEQS}
    return {"rows": rows, "implied_prompt_tokens": implied, "llama_70b_tp4": seventy_b(model)}


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
        lines.append(_line(r, f"tool, longer files (head {LONGER[0]}x, middle {LONGER[1]}x)", r["tool_longer"]))
        if r.get("measured_scaled"):
            x = r["measured_scaled"]
            lines.append(f"| {r['max_num_seqs']} | {r['input_tokens']} | measured, scaled to the longer files "
                         f"(x{x['scale']:.3f}, an estimate) | {x['j_per_token']:.4f} | "
                         f"{x['j_per_token'] / m['j_per_token']:.3f} | - | - |")
        p = r["published"]
        lines.append(_line(r, "ML.ENERGY v3 (input not published)", p, f" (median ITL {p['median_itl_ms']:.1f})"))
    lines += ["", "## The prompt length at which our measurement would equal ML.ENERGY's", "",
              "Linear in the prompt between the two measured lengths (256 and 1,024 tokens).", "",
              "| max_num_seqs | from the measurement | from the measurement scaled to the longer files |",
              "|---|---|---|"]
    for cap, v in res["implied_prompt_tokens"].items():
        fmt = lambda x: f"{x:.0f} tokens" if x is not None else "-"  # noqa: E731
        lines.append(f"| {cap} | {fmt(v['measured'])} | {fmt(v['measured_scaled'])} |")
    lines += ["", "## Llama-3.1-70B and 3.3-70B TP4 on the H100: tool over ML.ENERGY at "
              + " and ".join(f"{n}-token" for n in PROMPTS_70B) + " prompts (offline mapping)", "",
              "| point | " + " | ".join(f"{n} tokens" for n in PROMPTS_70B) + " |",
              "|---|" + "---|" * len(PROMPTS_70B)]
    for r in res["llama_70b_tp4"]:
        cells = [f"{r[str(n)]:.2f}" if r[str(n)] is not None else "refused" for n in PROMPTS_70B]
        lines.append(f"| {r['id'].split('/', 2)[2]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    res = compute()
    OUT.mkdir(exist_ok=True)
    (OUT / "closed_loop.json").write_text(json.dumps(res, indent=1) + "\n")
    (OUT / "closed_loop.md").write_text(render(res))
    print(render(res))


if __name__ == "__main__":
    main()

"""Held-out accuracy of every estimator on the shipped calibration data.

    python benchmarks/accuracy.py            # prints the table, writes benchmarks/results/accuracy.{csv,md}

Median and p90 absolute percentage error of batch energy under grouped cross-validation (whole input
bins, output bins, batch sizes or models held out), and the measured coverage of 90% conformal intervals.
"""

from pathlib import Path

from energy_predict.model.dataset import training_table
from energy_predict.model.scoring import accuracy_table
from energy_predict.model.structured import PhaseModel
from energy_predict.provenance import git_commit, now_iso

OUT = Path(__file__).parent / "results"


def pct(x) -> str:
    if x != x:
        return "n/a"
    return f"{100 * x:.1f}" if x < 10 else ">1000"


def main() -> None:
    table = training_table()
    scores = accuracy_table(table)
    OUT.mkdir(exist_ok=True)
    scores.to_csv(OUT / "accuracy.csv", index=False)
    counts = ", ".join(f"{b}: {n}" for b, n in table.groupby("backend").size().items())
    gpus = "; ".join(f"{b} on {g}: {n}" for (b, g), n in table.groupby(["backend", "gpu"]).size().items())
    least = PhaseModel().min_cells
    per_config = table.groupby("config").size()
    few = ", ".join(f"{c} has {n}" for c, n in per_config[per_config < least].items()) or "none has fewer"
    lines = ["# Held-out accuracy (batch energy)", "",
             f"Made by `python3 benchmarks/accuracy.py` at commit {git_commit() or 'unknown'} on {now_iso()[:10]}.", "",
             f"{len(table)} measured cells ({counts}; by GPU, pooled in each backend's scores: {gpus}), "
             "runs: " + ", ".join(sorted(table["run_id"].unique())), "",
             "median / p90 absolute percentage error, and coverage of the 90% interval, per hold-out scheme;",
             "(n/N cells) where an estimator could not predict every held-out cell: the phase model does not model",
             f"a configuration with fewer than {least} cells ({few}), nor one left with fewer in a fold.", ""]
    schemes = list(dict.fromkeys(scores["scheme"]))
    lines.append("| backend | estimator | " + " | ".join(schemes) + " |")
    lines.append("|---|---|" + "---|" * len(schemes))
    for (backend, est), g in scores.groupby(["backend", "estimator"], sort=False):
        cells = []
        for s in schemes:
            r = g[g["scheme"] == s].iloc[0]
            known = r.coverage_90 is not None and r.coverage_90 == r.coverage_90
            cov = f"{100 * r.coverage_90:.0f}%" if known else "n/a"
            total = int((table["backend"] == backend).sum())
            scored = f" ({r.n}/{total} cells)" if r.n < total else ""
            cells.append(f"{pct(r.median_ape)} / {pct(r.p90_ape)} / {cov}{scored}")
        lines.append(f"| {backend} | {est} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    (OUT / "accuracy.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

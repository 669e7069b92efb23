"""Regenerate docs/findings.md and its figures from the committed calibration data and default model.

    python docs/make_findings.py

The edge: `load_inputs` reads every file the page depends on, `main` writes the page and its figures; what lies
between is pure (`findings_data.compute`, `findings_page.render`, `figures`).
"""

from __future__ import annotations

import json
from pathlib import Path

from energy_predict.analysis.figures import draw_per_token_vs_batch, draw_phase_split, draw_rate_sweep
from energy_predict.analysis.findings_data import FindingsInputs, compute
from energy_predict.analysis.findings_page import FIGURES, render
from energy_predict.analysis.paths import repository_docs
from energy_predict.datasets import all_records, run_dirs
from energy_predict.model.dataset import training_table
from energy_predict.model.padding import read_ab
from energy_predict.model.store import load_default_model
from energy_predict.predict.replays import load_replays
from energy_predict.predict.run import load_case


def load_inputs(docs: Path) -> FindingsInputs:
    """Every input of the page, read from the checkout that holds `docs`."""
    root = docs.parent
    results = root / "benchmarks" / "results"
    padding = root / "artifacts" / "padding"
    meters = sorted((docs / "measurements").glob("*meter-overhead*.txt"))
    return FindingsInputs(
        model=load_default_model(), table=training_table(), records=all_records(),
        run_meta={run.name: json.loads((run / "run.json").read_text()) for run in run_dirs()},
        replays=load_replays(root / "artifacts" / "replays"),
        padding_rows=[r for f in sorted(padding.glob("*.jsonl")) for r in read_ab(f)[1]],
        padding_fits=[(f.name, json.loads(f.read_text())) for f in sorted(padding.glob("*.fit.json"), reverse=True)],
        meter=(f"docs/measurements/{meters[-1].name}", meters[-1].read_text()) if meters else None,
        tp_transfer=json.loads((results / "tp_transfer.json").read_text()),
        model_transfer=json.loads((results / "model_transfer.json").read_text()),
        gpu_transfer=json.loads((results / "gpu_transfer.json").read_text()),
        case=load_case(root / "examples" / "conversation.json"),
        outside=tuple((f"measurements/{f.name}", first_heading(f.read_text())) for f in
                      sorted((docs / "measurements").glob("*.md"))))


def first_heading(text: str) -> str:
    """A markdown file's first heading, without its '#' marks and a leading 'Finding:' (its title)."""
    line = next((x for x in text.splitlines() if x.startswith("#")), "untitled")
    title = line.lstrip("#").strip()
    return title.removeprefix("Finding:").strip()


def main() -> None:
    """Write docs/findings.md and docs/figures/*.png."""
    docs = repository_docs()
    (docs / "figures").mkdir(parents=True, exist_ok=True)
    inputs = load_inputs(docs)
    findings = compute(inputs)
    paths = {name: docs / rel for name, rel in FIGURES.items()}
    draw_per_token_vs_batch(findings.curve, findings.table, paths["per_token"])
    draw_phase_split(inputs.model, paths["phases"])
    draw_rate_sweep(findings.sweep, findings.best, paths["rate"])
    (docs / "findings.md").write_text(render(findings))
    print(f"wrote {docs / 'findings.md'}, {paths['per_token']}, {paths['phases']}, {paths['rate']}")


if __name__ == "__main__":
    main()

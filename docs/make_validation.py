"""Regenerate docs/validation.md: measured replays of real traces against the shipped model's prediction.

    python docs/make_validation.py [REPLAY_DIR]     # default: artifacts/replays
"""

from __future__ import annotations

import sys
from pathlib import Path

from energy_predict.model.store import artifacts_dir, load_default_model
from energy_predict.predict.replays import load_replays, predict_replay

DOCS = Path(__file__).parent


def render(rows: list[dict]) -> str:
    lines = ["# Validation: measured replays against predictions", "",
             "Made by `python docs/make_validation.py` from the replay records in `artifacts/replays/` "
             "(`energy-predict replay`) and the default model.", ""]
    if not rows:
        lines += ["No replay has been measured yet: the replays of the first GPU session were lost when its lease",
                  "ended (see the closing note of issue 7). Run `calibrate/campaigns/next/run.sh` on a GPU machine.", ""]
        return "\n".join(lines)
    lines += ["| trace | backend | mode | arrivals at rate (req/s) | requests | measured kWh (runs) | spread | predicted kWh "
              "[90% interval] | error | covered |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        measured = ", ".join(f"{m / 3.6e6:.4g}" for m in r["measured_j"])
        spread = f"{r['measured_spread_pct']:.1f}%" if r["measured_spread_pct"] is not None else "n/a"
        err = f"{r['error_pct']:+.1f}%" if r["error_pct"] is not None else "n/a"
        lines.append(f"| {r['trace']} | {r['backend']} | {r['mode']} | {_arrivals(r)} | {r['requests']} | "
                     f"{measured} | {spread} | {r['predicted_j'] / 3.6e6:.4g} [{r['low_j'] / 3.6e6:.4g}, "
                     f"{r['high_j'] / 3.6e6:.4g}] | {err} | {'yes' if r['covered'] else 'no'} |")
    return "\n".join(lines) + "\n"


def _arrivals(row: dict) -> str:
    return f"{row['arrivals']} {row['rate_per_s']:g}" if row["rate_per_s"] else "all at once"


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else artifacts_dir() / "replays"
    model = load_default_model()
    rows = [predict_replay(r, model) for r in load_replays(folder)] if folder.is_dir() else []
    (DOCS / "validation.md").write_text(render(rows))
    print(render(rows))


if __name__ == "__main__":
    main()

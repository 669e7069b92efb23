"""Copy the TP campaign's runs from a collected out.tgz (unpacked) into artifacts/calibration/, with the lease.

Run from the repository root:
  python calibrate/campaigns/h100-x2-tp/import.py COLLECTED/out PREFIX KIND "DEVICE"
COLLECTED/out/runs/<date>-<name> becomes artifacts/calibration/<PREFIX>-<name> (run_id column and run.json
rewritten, commit from COLLECTED/out/COMMIT, the source snapshot the machine ran).

The TP1 config was named `vllm-graphs` on the machine; it is imported as `vllm-graphs-tp1` (RENAME), so the
default model's training set (model/dataset.py MODELED_CONFIGS, H100 runs) stays what the shipped model was
fitted on until the TP model is fitted; the engine configuration is unchanged (run.json keeps the note).
"""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from import_runs import import_run  # noqa: E402

RENAME = {"vllm-graphs": "vllm-graphs-tp1"}


def rename_configs(run_dir: Path) -> None:
    """Apply RENAME to the records' config column and to run.json, and say so in run.json."""
    frame = pd.read_parquet(run_dir / "records.parquet")
    if not frame["config"].isin(list(RENAME)).any():
        return
    frame["config"] = frame["config"].replace(RENAME)
    frame.to_parquet(run_dir / "records.parquet", index=False)
    run = json.loads((run_dir / "run.json").read_text())
    for c in run["grid"]["configs"]:
        c["name"] = RENAME.get(c["name"], c["name"])
    run["configs"] = {RENAME.get(k, k): {**v, "name": RENAME.get(k, k)} for k, v in run["configs"].items()}
    for table in ("idle_power_w", "idle_power_per_gpu_w"):
        run[table] = {":".join([*k.split(":")[:-1], RENAME.get(k.split(":")[-1], k.split(":")[-1])])
                      if k.startswith("loaded:") else k: v for k, v in run[table].items()}
    run["import_note"] = (f"configs renamed at import: {RENAME} (same engine configuration), so the default model's "
                          "training set stays as shipped until the TP model is fitted")
    (run_dir / "run.json").write_text(json.dumps(run, indent=1) + "\n")


def main() -> None:
    out, prefix, kind, device = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    commit = (out / "COMMIT").read_text().strip()
    lease = {"kind": kind, "device": device, "gpus_busy_at_once": 2, "campaign": "calibrate/campaigns/h100-x2-tp",
             "commit": commit, "script": "calibrate/campaigns/h100-x2-tp/pipeline.sh"}
    for run in sorted(p for p in (out / "runs").iterdir() if (p / "records.parquet").exists()):
        dst = Path("artifacts/calibration") / f"{prefix}-{run.name.split('-', 3)[3]}"
        import_run(run, dst, lease)
        rename_configs(dst)
        print(run, "->", dst)


if __name__ == "__main__":
    main()

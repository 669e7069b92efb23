"""Copy the TP campaign's runs from a collected out.tgz (unpacked) into artifacts/calibration/, with the lease.

Run from the repository root:
  python calibrate/campaigns/h100-x2-tp/import.py COLLECTED/out PREFIX KIND "DEVICE"
COLLECTED/out/runs/<date>-<name> becomes artifacts/calibration/<PREFIX>-<name> (run_id column and run.json
rewritten, commit from COLLECTED/out/COMMIT, the source snapshot the machine ran).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from import_runs import import_run  # noqa: E402


def main() -> None:
    out, prefix, kind, device = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    commit = (out / "COMMIT").read_text().strip()
    lease = {"kind": kind, "device": device, "gpus_busy_at_once": 2, "campaign": "calibrate/campaigns/h100-x2-tp",
             "commit": commit, "script": "calibrate/campaigns/h100-x2-tp/pipeline.sh"}
    for run in sorted(p for p in (out / "runs").iterdir() if (p / "records.parquet").exists()):
        dst = Path("artifacts/calibration") / f"{prefix}-{run.name.split('-', 3)[3]}"
        import_run(run, dst, lease)
        print(run, "->", dst)


if __name__ == "__main__":
    main()

"""Import what the lease brought back: the replay records into artifacts/replays/plan-validation/, the logs here.

    python campaigns/next-plan-validation/import_replays.py COLLECTED COMMIT [KIND]

COLLECTED: `planval.tgz` unpacked (the folder holding `replays/`, `pipeline.log`, `<config>.log`, `nvidia-smi-*`);
COMMIT: the commit whose code the lease ran (the machine's copy has no .git); KIND: the device kind, default
nvidia-h100-x1. Each record gets its lease (kind, campaign, commit, script), as `campaigns/import_runs.py` writes it.
"""

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent
CAMPAIGN = "campaigns/next-plan-validation"
OUT = Path("artifacts/replays/plan-validation")


def main() -> None:
    collected, commit = Path(sys.argv[1]), sys.argv[2]
    kind = sys.argv[3] if len(sys.argv) > 3 else "nvidia-h100-x1"
    lease = {"kind": kind, "gpus_busy_at_once": 1, "campaign": CAMPAIGN, "commit": commit,
             "script": f"{CAMPAIGN}/run.sh"}
    records = sorted((collected / "replays").glob("*.json"))
    if not records:
        sys.exit(f"no replay records in {collected / 'replays'}")
    OUT.mkdir(parents=True, exist_ok=True)
    for path in records:
        record = json.loads(path.read_text())
        record["lease"] = lease
        (OUT / path.name).write_text(json.dumps(record) + "\n")
        print(path, "->", OUT / path.name)
    logs = HERE / "logs"
    logs.mkdir(exist_ok=True)
    for path in sorted(collected.iterdir()):
        if path.is_file() and path.suffix in (".log", ".csv", ".stdout") or path.name in ("commit", "launched"):
            shutil.copy(path, logs / path.name)
    print(f"logs -> {logs}; name the records ({len(records)}) and the commit in {CAMPAIGN}/README.md and "
          "campaigns/README.md, then run python docs/make_plan_validation.py")


if __name__ == "__main__":
    main()

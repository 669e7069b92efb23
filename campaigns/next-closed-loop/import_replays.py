"""Import what the lease brought back: the records into artifacts/replays/closed-loop/cap*/, the logs here.

    python campaigns/next-closed-loop/import_replays.py COLLECTED COMMIT [KIND]

COLLECTED: `closedloop.tgz` unpacked (the folder holding `records/cap*/`, `closed_loop.log`, `nvidia-smi-*`);
COMMIT: the commit whose code the lease ran (the machine's copy has no .git); KIND: the device kind, default
nvidia-h100-x1. Each record gets its lease (kind, campaign, commit, script), as `campaigns/import_runs.py` writes it.
"""

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent
CAMPAIGN = "campaigns/next-closed-loop"
OUT = Path("artifacts/replays/closed-loop")


def main() -> None:
    collected, commit = Path(sys.argv[1]), sys.argv[2]
    kind = sys.argv[3] if len(sys.argv) > 3 else "nvidia-h100-x1"
    lease = {"kind": kind, "gpus_busy_at_once": 1, "campaign": CAMPAIGN, "commit": commit,
             "script": f"{CAMPAIGN}/run.sh"}
    records = sorted((collected / "records").glob("cap*/*.json"))
    if not records:
        sys.exit(f"no replay records in {collected / 'records'}")
    for path in records:
        record = json.loads(path.read_text())
        record["lease"] = lease
        dest = OUT / path.parent.name / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(record) + "\n")
        print(path, "->", dest)
    logs = HERE / "logs"
    logs.mkdir(exist_ok=True)
    for path in sorted(collected.iterdir()):
        if path.is_file() and path.suffix in (".log", ".csv", ".stdout") or path.name in ("commit", "launched"):
            shutil.copy(path, logs / path.name)
    print(f"logs -> {logs}; then python benchmarks/closed_loop.py")


if __name__ == "__main__":
    main()

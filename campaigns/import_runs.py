"""Copy runs and replays collected from a GPU lease into artifacts/, renamed and with their provenance.

Run from the repository root:
  python campaigns/import_runs.py COLLECTED PREFIX CAMPAIGN COMMIT KIND
COLLECTED holds gpuN/ folders (unpacked from collect.sh's gpuN.tgz); each run folder `<date>-<name>` becomes
artifacts/calibration/<PREFIX>-<name> (run_id column and run.json rewritten), each replay JSON is copied to
artifacts/replays/<PREFIX>/. The machine's copy has no .git, so the campaign's commit is written here.
"""

import json
import shutil
import sys
from pathlib import Path

import pandas as pd


def import_run(src: Path, dst: Path, lease: dict) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    frame = pd.read_parquet(src / "records.parquet")
    frame["run_id"] = dst.name
    frame.to_parquet(dst / "records.parquet", index=False)
    run = json.loads((src / "run.json").read_text())
    run["run_id"] = dst.name
    run["host"] = {**run.get("host", {}), "commit": lease["commit"]}
    run["lease"] = lease
    (dst / "run.json").write_text(json.dumps(run, indent=1) + "\n")


def main() -> None:
    collected, prefix, campaign, commit, kind = sys.argv[1:6]
    calibration, replays = Path("artifacts/calibration"), Path("artifacts/replays") / prefix
    for gpu in sorted(Path(collected).glob("gpu*")):
        if not gpu.is_dir():
            continue
        lease = {"kind": kind, "gpus_busy_at_once": 4, "campaign": campaign, "commit": commit,
                 "script": f"{campaign}/{gpu.name}.sh"}
        for run in sorted(p for p in gpu.iterdir() if (p / "records.parquet").exists()):
            name = run.name.split("-", 3)[3].replace("hf-hf-", "hf-")  # drop the date
            import_run(run, calibration / f"{prefix}-{name}", lease)
            print(run, "->", calibration / f"{prefix}-{name}")
        for replay in sorted((gpu / "replays").glob("*.json")):
            record = json.loads(replay.read_text())
            record["lease"] = lease
            replays.mkdir(parents=True, exist_ok=True)
            (replays / replay.name).write_text(json.dumps(record) + "\n")
            print(replay, "->", replays / replay.name)
        if (gpu / "meter_overhead.txt").exists():
            shutil.copy(gpu / "meter_overhead.txt", Path("docs/measurements") / f"{prefix}-meter-overhead-h100.txt")


if __name__ == "__main__":
    main()

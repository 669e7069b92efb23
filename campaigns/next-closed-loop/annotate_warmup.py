"""Write `warmed_up` into this lease's records from its logs (the field came after the lease).

    python campaigns/next-closed-loop/annotate_warmup.py

`closed_loop.py` warmed up only each engine's first replay; its log says so per replay ("<stem>: start (N requests,
warm-up True|False)"). logs/closed_loop.log covers cap256/ and cap64/, logs/rep2-closed_loop.log cap256-rep2/.
"""

import json
import re
from pathlib import Path

HERE = Path(__file__).parent
RECORDS = HERE.parents[1] / "artifacts" / "replays" / "closed-loop"
LOGS = {"closed_loop.log": ("cap256", "cap64"), "rep2-closed_loop.log": ("cap256-rep2",)}
LINE = re.compile(r"(cap\d+-in\d+-[ab]): start \(\d+ requests, warm-up (True|False)\)")


def main() -> None:
    for log, folders in LOGS.items():
        warm = {stem: flag == "True" for stem, flag in LINE.findall((HERE / "logs" / log).read_text())}
        for folder in folders:
            for path in sorted((RECORDS / folder).glob("*.json")):
                stem = next(s for s in warm if f"-{s}-" in f"-{path.stem}-")
                record = json.loads(path.read_text())
                record["warmed_up"] = warm[stem]
                path.write_text(json.dumps(record) + "\n")
                print(path.relative_to(RECORDS), warm[stem])


if __name__ == "__main__":
    main()

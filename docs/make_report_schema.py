"""Regenerate docs/report.schema.json from the report's type (energy_predict.predict.report_types.Report)."""

import json
from pathlib import Path

from energy_predict.predict.report_types import report_schema

SCHEMA = Path(__file__).parent / "report.schema.json"

if __name__ == "__main__":
    SCHEMA.write_text(json.dumps(report_schema(), indent=1) + "\n")
    print(f"wrote {SCHEMA}")

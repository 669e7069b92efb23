import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from energy_predict.errors import InputError
from energy_predict.outputs import append_csv_row
from energy_predict.predict.run import predict_profile
from energy_predict.summary import SUMMARY_COLUMNS, summary_row

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report():
    from energy_predict.model.persistence import load_default_model

    return predict_profile(REPO / "examples" / "code_gen.json", load_default_model()).report.to_json()


def test_each_run_appends_one_row_with_the_reports_numbers(report, tmp_path):
    path = tmp_path / "runs.csv"
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    append_csv_row(path, "--summary-csv", SUMMARY_COLUMNS, summary_row(report, when))
    append_csv_row(path, "--summary-csv", SUMMARY_COLUMNS, summary_row(report, when))
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 2 and list(rows[0]) == list(SUMMARY_COLUMNS)
    row = rows[0]
    assert row["timestamp"] == "2026-01-02T03:04:05+00:00" and row["workload"] == "code_gen"
    assert float(row["energy_kwh"]) == report["energy_kwh"]["estimate"]
    assert float(row["energy_low_kwh"]) <= float(row["energy_kwh"]) <= float(row["energy_high_kwh"])
    assert float(row["facility_energy_kwh"]) == pytest.approx(report["site"]["facility_kwh"])
    assert float(row["co2e_kg"]) == pytest.approx(report["site"]["co2e_kg"])
    assert row["basis"] == report["basis"]["kind"] and row["currency"] == report["site"]["currency"]


def test_a_csv_with_other_columns_is_refused_not_appended_to(report, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="--summary-csv"):
        append_csv_row(path, "--summary-csv", SUMMARY_COLUMNS, summary_row(report))
    assert path.read_text() == "a,b\n1,2\n"


def test_no_site_leaves_the_site_columns_empty(report):
    row = summary_row({**report, "site": None})
    assert row["facility_energy_kwh"] is None and row["co2e_kg"] is None
    json.dumps(row)


def test_a_workload_named_like_a_formula_is_written_as_text_not_run_by_a_spreadsheet(report, tmp_path):
    path = tmp_path / "runs.csv"
    hostile = dict(report, profile='=HYPERLINK("http://x","y")')
    append_csv_row(path, "--summary-csv", SUMMARY_COLUMNS, summary_row(hostile))
    row = next(csv.DictReader(path.open()))
    assert row["workload"] == "'" + hostile["profile"]
    assert float(row["energy_kwh"]) == report["energy_kwh"]["estimate"]  # numbers are left as numbers

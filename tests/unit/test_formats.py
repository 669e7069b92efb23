import csv
import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from energy_predict.formats import Column, TableView, csv_text, markdown, plain, wrap_words
from energy_predict.units import J_PER_KWH, J_PER_WH, kwh, ms, per, wh

COLUMNS = (Column("option", numeric=False), Column("gpu", numeric=False), Column("energy_kwh", "{:.4g}"),
           Column("energy_j_per_output_token", "{:.3g}"), Column("energy_over_reference", "{:.3g}x"))
ROWS = ({"option": "vllm graphs fp8", "gpu": "H100-SXM-80GB", "energy_kwh": 0.06292, "energy_j_per_output_token": 0.923,
         "energy_over_reference": 0.69},
        {"option": "hf compile", "gpu": "H100-SXM-80GB", "energy_kwh": 2.8, "energy_j_per_output_token": None,
         "energy_over_reference": 34.5})
VIEW = TableView("serving options, offline GPU energy (kWh) with its 90% interval", COLUMNS, ROWS, key_columns=2)


def test_units_are_named_once():
    assert kwh(J_PER_KWH) == 1 and wh(J_PER_WH) == 1 and wh(J_PER_KWH) == 1000
    assert ms(0.25) == 250 and ms(None) is None and per(1, 0) is None


def test_a_narrow_table_is_wrapped_a_column_group_at_a_time_never_inside_a_cell():
    text = plain(VIEW, width=60)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 60
    words = set(re.findall(r"\S+", text))
    for c in COLUMNS:  # every column, by its key
        assert c.key in words
    for cell in ("H100-SXM-80GB", "0.06292", "0.923", "0.69x", "34.5x", "n/a"):
        assert cell in words
    assert text.count("vllm graphs fp8") >= 2  # the key columns repeat in each group
    assert plain(VIEW, width=None).count("H100-SXM-80GB") == 2  # no width: one block


def test_a_word_longer_than_the_line_stays_whole():
    long = "H100-SXM-80GB-with-a-very-long-name"
    assert wrap_words(f"a {long} b", 10) == ["a", long, "b"]


@settings(max_examples=60, deadline=None)
@given(st.integers(20, 140), st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                                               max_size=24), min_size=1, max_size=7))
def test_any_width_keeps_every_cell_whole(width, cells):
    view = TableView("t", tuple(Column(f"c{k}", numeric=False) for k in range(len(cells))),
                     ({f"c{k}": v for k, v in enumerate(cells)},))
    words = set(plain(view, width).split())
    assert all(v in words for v in cells) and all(f"c{k}" in words for k in range(len(cells)))


def test_markdown_and_csv_use_the_same_names_and_csv_keeps_full_precision():
    md = markdown(VIEW)
    assert "| option | gpu | energy_kwh | energy_j_per_output_token | energy_over_reference |" in md
    assert "|---|---|---:|---:|---:|" in md
    rows = list(csv.DictReader(io.StringIO(csv_text(VIEW))))
    assert list(rows[0]) == [c.key for c in COLUMNS]
    assert rows[0]["energy_kwh"] == "0.06292" and rows[1]["energy_j_per_output_token"] == ""


def test_markdown_escapes_a_pipe_in_a_cell():
    view = TableView("", (Column("name", numeric=False),), ({"name": "a|b"},))
    assert "a\\|b" in markdown(view)


def test_keys_too_wide_to_repeat_beside_a_column_print_a_row_at_a_time():
    label = "1 x TP1 H100-SXM-80GB bf16 cap 256 budget 8192"  # plan's deployment label: 46 characters
    view = TableView("plan", (Column("rec", numeric=False), Column("deployment", numeric=False),
                              Column("basis", numeric=False), Column("energy_kwh_per_day", "{:.4g}")),
                     ({"rec": "*", "deployment": label, "basis": "extrapolated", "energy_kwh_per_day": 7.447},),
                     key_columns=2)
    text = plain(view, width=60)
    assert max(len(line) for line in text.splitlines()) <= 60  # nothing for a 60-column terminal to fold
    assert set(label.split()) | {"extrapolated", "7.447", "energy_kwh_per_day"} <= set(text.split())
    assert "basis               extrapolated" in text
    assert plain(view, width=80).startswith("plan\nrec  deployment")  # where the keys and a column fit: a table

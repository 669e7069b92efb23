"""The tables the commands print (compare, gap, sweep-rate, capacity, data list), as `TableView`s.

In the units of energy_predict.units; their column keys are the keys of the commands' JSON and CSV.
"""

from __future__ import annotations

from energy_predict.formats import Column, TableView
from energy_predict.units import ms, per, wh

COMPARE_COLUMNS = (Column("option", numeric=False), Column("gpu", numeric=False), Column("basis", numeric=False),
                   Column("energy_kwh", "{:.4g}"), Column("low_kwh", "{:.3g}"), Column("high_kwh", "{:.3g}"),
                   Column("energy_j_per_output_token", "{:.3g}"), Column("energy_over_reference", "{:.3g}x"),
                   Column("saving_against", numeric=False))


def compare_rows(rows: list[dict]) -> list[dict]:
    """Compare's rows with the unit-named keys added (the v1 keys stay).

    energy_j_per_output_token is all the energy over output tokens (the v1 total_j_per_output_token);
    energy_over_reference is the row's energy over the row it is compared with (2.0: twice the energy), which
    reads where a percentage saving would be -4478%.
    """
    done, by_option = [], {}
    for row in rows:
        if row["option"] == row["saving_against"]:
            by_option.setdefault(row["option"], row)
    for row in rows:
        ref = by_option.get(row["saving_against"])
        done.append({**row, "energy_j_per_output_token": row["total_j_per_output_token"],
                     "energy_over_reference": per(row["energy_kwh"], ref["energy_kwh"]) if ref else None})
    return done


def compare_view(rows: list[dict], profile: str, notes: list[str], rate_per_s: float | None = None) -> TableView:
    """Serving options ranked by offline energy, or online at `rate_per_s`, each against its reference row."""
    what = ("serving options, offline GPU energy (kWh)" if rate_per_s is None else
            f"serving options online at {rate_per_s:.3g} req/s, GPU energy over the period (busy + idle, kWh)")
    return TableView(f"{profile}: {what} with its 90% interval (compare the "
                     "intervals: rows rest on different evidence); energy_over_reference: the row's energy over "
                     "the saving_against row's (an analytic row is only compared with an analytic row)",
                     COMPARE_COLUMNS, tuple(rows), key_columns=2, notes=tuple(notes))


GAP_COLUMNS = (Column("input_bin"), Column("output_bin"), Column("requests", "{:,.0f}"), Column("energy_wh", "{:.4g}"),
               Column("flops_tdp_wh", "{:.4g}"), Column("roofline_wh", "{:.4g}"),
               Column("measured_over_flops_tdp", "{:.2f}x"), Column("measured_over_roofline", "{:.2f}x"))


def gap_rows(records: list[dict]) -> list[dict]:
    """Gap's rows (joules, v1) with the same energies in Wh."""
    return [{**r, "energy_wh": wh(r["energy_j"]), "flops_tdp_wh": wh(r["flops_tdp_j"]),
             "roofline_wh": wh(r["roofline_j"])} for r in records]


def gap_view(rows: list[dict], title: str) -> TableView:
    """Per bin and in total (the `all` row): the model against FLOPs/TDP and roofline, in Wh."""
    return TableView(title, GAP_COLUMNS, tuple(rows), key_columns=2)


SWEEP_COLUMNS = (Column("rate_per_s", "{:g}"), Column("gpus"), Column("state", numeric=False),
                 Column("energy_per_request_j", "{:.3g}"), Column("gpu_utilization", "{:.2f}"),
                 Column("idle_share", "{:.2f}"), Column("ttft_p90_ms", "{:.3g}"), Column("tpot_p90_ms", "{:.3g}"),
                 Column("best", numeric=False))


def sweep_json(data: dict) -> dict:
    """A sweep's JSON with each point's latencies in ms beside the v1 seconds, its state and whether it is best."""
    best = data["best_gpus"]
    points = []
    for p in data["points"]:
        state = "overloaded" if p["overloaded"] else ("ok" if p["meets_latency"] else "slow")
        points.append({**p, "ttft_p90_ms": ms(p["ttft_p90_s"]), "tpot_p90_ms": ms(p["tpot_p90_s"]), "state": state,
                       "best": "*" if best.get(str(p["rate_per_s"])) == p["gpus"] else ""})
    return {**data, "points": points}


def sweep_view(data: dict, within_target: bool) -> TableView:
    """Energy per request against rate and GPU count (the rows of sweep_json)."""
    target = " within the TTFT target" if within_target else ""
    return TableView(f"energy per request (J) against rate and GPUs (best *: energy-optimal{target}; overloaded: "
                     "the GPUs cannot keep up; latencies in ms)", SWEEP_COLUMNS, tuple(data["points"]), key_columns=2)


CAPACITY_COLUMNS = (Column("rate_per_s", "{:.3g}"), Column("requests_per_day", "{:,.0f}"), Column("gpus"),
                    Column("gpu", numeric=False), Column("replicas"), Column("utilization", "{:.3f}"),
                    Column("ttft_p90_ms", "{:.3g}"), Column("ttft_target_ms", "{:.3g}"),
                    Column("total_kwh_per_day", "{:.3g}"), Column("busy_kwh_per_day", "{:.3g}"),
                    Column("idle_kwh_per_day", "{:.3g}"), Column("energy_per_request_j", "{:.3g}"),
                    Column("mean_power_per_gpu_w", "{:.0f}"), Column("idle_power_w", "{:.0f}"))


def capacity_json(data: dict) -> dict:
    """Capacity's JSON with its latencies in ms beside the v1 seconds."""
    return {**data, "ttft_p90_ms": ms(data["ttft_p90_s"]), "tpot_p90_ms": ms(data["tpot_p90_s"]),
            "ttft_target_ms": ms(data["latency_target_s"])}


def capacity_view(data: dict) -> TableView:
    """The one-row answer of capacity."""
    return TableView("capacity: the fewest GPUs that serve the rate (energy per day in kWh)", CAPACITY_COLUMNS,
                     (data,), key_columns=1)


DATA_LIST_COLUMNS = (Column("run_id", numeric=False), Column("backend", numeric=False), Column("gpu", numeric=False),
                     Column("model", numeric=False), Column("n_cells"), Column("n_records"),
                     Column("median_cv", "{:.2%}"))


def data_list_view(runs: list[dict]) -> TableView:
    """Calibration runs (median_cv: the median spread of a cell's repetitions)."""
    return TableView("calibration runs", DATA_LIST_COLUMNS, tuple(runs), key_columns=1)

"""energy-predict from Python: a profile in (a dict, a path or a Profile), a typed report out.

Run it from the repository root: `python examples/python_api.py`. CI runs it and checks its numbers against
`energy-predict --profile examples/code_gen.json --json` (tests/unit/test_python_api.py).
"""

import json
from pathlib import Path

import energy_predict

HERE = Path(__file__).parent

# A path to a profile JSON: the report `energy-predict --profile examples/code_gen.json` prints.
report = energy_predict.predict(HERE / "code_gen.json")
print(f"offline energy_kwh {report.energy_kwh.estimate!r} [{report.energy_kwh.low!r}, {report.energy_kwh.high!r}]")
print(f"offline energy_per_request_j {report.energy_per_request_j!r}")
print(f"offline basis {report.basis.kind}")

# A dict, served online at 2.57 requests/s (as --rate 2.57): the continuous-batching simulation, idle included.
profile = json.loads((HERE / "code_gen.json").read_text())
online = energy_predict.predict(profile, rate=2.57)
print(f"online energy_kwh {online.energy_kwh.estimate!r}")

# The same profile on the roofline baseline, and the per-bin table as a pandas DataFrame.
print(f"roofline energy_kwh {energy_predict.predict(profile, energy_model='roofline').energy_kwh.estimate!r}")
bins = report.to_dataframe()
print(f"bins {len(bins)} rows, the largest: {bins.loc[bins.energy_kwh.idxmax(), ['input_bin', 'output_bin']].tolist()}")

# The report as the page `--html FILE` writes (self-contained, readable offline).
print(f"html {len(report.to_html(with_plots=False))} characters")

# The energy-optimal deployment at the profile's rate, as `energy-predict plan`: here among 1 or 2 H100s, TP1, bf16.
plan = energy_predict.plan(profile, gpu_kinds=["H100-SXM-80GB"], tp=[1], precisions=["bf16"], max_gpus=2)
print(f"plan recommended {plan.recommended.candidate.label}: {plan.recommended.energy_kwh_per_day!r} kWh a day")
front = plan.to_dataframe()
print(f"plan front {len(front)} rows: {front['label'].tolist()}")

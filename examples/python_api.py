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

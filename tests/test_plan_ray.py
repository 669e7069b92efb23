"""`plan --ray` (issue 27 item 5): each workload a Ray task on a local CPU Ray, the plans those of a serial run."""

import json

import pytest
from typer.testing import CliRunner

from energy_predict.cli import app
from tests.fakes import ray_runtime_env
from tests.test_cli_plan import SMALL, TWO

ray = pytest.importorskip("ray")


@pytest.mark.ray
def test_plan_on_ray_gives_the_serial_plans():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=ray_runtime_env())
    try:
        on_ray = CliRunner().invoke(app, ["plan", *map(str, TWO), *SMALL, "--json", "--ray"])
    finally:
        ray.shutdown()
    serial = CliRunner().invoke(app, ["plan", *map(str, TWO), *SMALL, "--json"])
    assert on_ray.exit_code == serial.exit_code == 0, on_ray.output
    assert json.loads(on_ray.stdout) == json.loads(serial.stdout)
    assert len(json.loads(serial.stdout)["plans"]) == 2

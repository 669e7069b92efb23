from pathlib import Path

import pytest
from matplotlib.colors import LogNorm

from energy_predict.model.persistence import load_default_model
from energy_predict.predict.plots import report_figures
from energy_predict.predict.run import predict_profile

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("rate", "mode"), [(None, "offline, full batches"), (2.0, "online at 2 req/s")])
def test_plots_say_their_mode_and_the_heat_map_uses_a_log_colour_scale(rate, mode):
    report = predict_profile(REPO / "examples" / "code_gen.json", load_default_model(), rate).report
    figures = {f.name: f.figure for f in report_figures(report)}
    heat = figures["energy_by_bin.png"].axes[0]
    assert isinstance(heat.images[0].norm, LogNorm)
    assert "offline full batches" in heat.get_title()
    if rate:  # the online report's heat map is the offline breakdown, and says so
        assert "online report's offline breakdown" in heat.get_title()
    for name in ("prefill_decode.png", "estimate_vs_flops.png"):
        assert mode in figures[name].axes[0].get_title()

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from energy_predict.calibrate.grid import expand_grid, parse_grid
from energy_predict.calibrate.meter import NullMeter, measure_repeated
from energy_predict.calibrate.sweep import run_sweep
from energy_predict.cli import app
from energy_predict.datasets import cell_stats, list_runs, load_records
from energy_predict.errors import InputError
from tests.conftest import tiny_llama_config
from tests.fakes import FakeBackend, TickingMeter

runner = CliRunner()


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(tiny_llama_config()))
    return str(path)


def grid_dict(model: str, **overrides) -> dict:
    grid = {"name": "cpu", "models": [model], "configs": [{"name": "hf-eager", "backend": "hf"}],
            "blocks": [{"batch_sizes": [1, 2], "input_tokens": [8, 16], "output_tokens": [1, 3]}],
            "repetitions": 2, "min_window_s": 0.02, "idle_seconds": 0.01}
    grid.update(overrides)
    return grid


@pytest.mark.slow
def test_sweep_end_to_end_with_tiny_llama_records_null_energy(tmp_path, tiny_config):
    pytest.importorskip("torch")
    run_dir = run_sweep(parse_grid(grid_dict(tiny_config)), tmp_path / "run", meter=NullMeter("no sensor on CPU"))
    records = pd.read_parquet(run_dir / "records.parquet")
    assert len(records) == 8 * 2 and (records["status"] == "ok").all()
    assert records["energy_j"].isna().all() and (records["null_reason"] == "no sensor on CPU").all()
    assert (records["duration_s"] > 0).all() and (records["repeats"] >= 1).all()
    assert (records["generated_tokens"] == records["output_tokens"]).all()  # exactly O new tokens
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete" and meta["host"]["python"]
    assert {"run_id", "backend", "config", "model", "gpu", "batch_size", "input_tokens", "output_tokens",
            "repetition", "energy_j", "duration_s", "idle_power_w"} <= set(records.columns)


def test_resume_after_kill_has_no_duplicate_or_lost_rows(tmp_path):
    grid = parse_grid(grid_dict("Llama-3.2-1B", min_window_s=0.0, warmup_runs=1))
    first = FakeBackend(kill_after=7)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(grid, tmp_path / "run", backend_factory=lambda name: first, meter=TickingMeter())
    partial = load_records(tmp_path / "run")
    assert 0 < len(partial) < 16
    with pytest.raises(InputError, match="--resume"):
        run_sweep(grid, tmp_path / "run", backend_factory=lambda name: FakeBackend(), meter=TickingMeter())
    run_sweep(grid, tmp_path / "run", resume=True, backend_factory=lambda name: FakeBackend(), meter=TickingMeter())
    records = load_records(tmp_path / "run")
    keys = records[["batch_size", "input_tokens", "output_tokens", "repetition"]]
    assert len(records) == 16 and not keys.duplicated().any()
    assert set(map(tuple, partial[["batch_size", "input_tokens", "output_tokens", "repetition"]].values)) <= \
        set(map(tuple, keys.values))
    assert json.loads((tmp_path / "run" / "run.json").read_text())["resumed"]


def test_out_of_memory_and_failures_are_recorded_and_the_sweep_goes_on(tmp_path):
    grid = parse_grid(grid_dict("Llama-3.2-1B", min_window_s=0.0))
    backend = FakeBackend(oom_batch=2, fail_input=16)
    run_sweep(grid, tmp_path / "run", backend_factory=lambda name: backend, meter=TickingMeter())
    records = load_records(tmp_path / "run")
    infeasible = records[records["status"] == "infeasible"]
    assert set(infeasible["batch_size"]) == {2} and infeasible["error"].str.contains("out of memory").all()
    errors = records[records["status"] == "error"]
    assert set(errors["input_tokens"]) == {16} and errors["error"].str.contains("kernel exploded").all()
    ok = records[records["status"] == "ok"]
    assert len(ok) == 2 * 2 and (ok["energy_j"] > 0).all()  # B=1, I=8, both O, two repetitions
    stats = cell_stats(records)
    assert len(stats) == 2 and (stats["n"] == 2).all()
    # a resumed run leaves infeasible cells alone and retries the failed ones
    again = FakeBackend(oom_batch=2)
    run_sweep(grid, tmp_path / "run", resume=True, backend_factory=lambda name: again, meter=TickingMeter())
    assert (load_records(tmp_path / "run")["status"] == "ok").sum() == 8


def test_measure_repeated_spans_the_window():
    window = measure_repeated(NullMeter(""), lambda: None, 0.01)
    assert window.reading.duration_s >= 0.01 and window.repeats > 1


def test_expand_grid_keeps_block_order_and_skips_big_batches():
    grid = parse_grid({"name": "g", "models": ["Llama-3.2-1B"],
                       "configs": [{"name": "a", "backend": "hf"}, {"name": "b", "backend": "vllm"}],
                       "blocks": [{"batch_sizes": [64], "input_tokens": [512], "output_tokens": [1]},
                                  {"batch_sizes": [1, 64], "input_tokens": [32, 8192], "output_tokens": [1]}],
                       "max_tokens_in_batch": 100000})
    cells = expand_grid(grid)
    assert [c.config for c in cells] == ["a"] * 4 + ["b"] * 4
    assert [(c.batch_size, c.input_tokens) for c in cells[:4]] == [(64, 512), (1, 32), (1, 8192), (64, 32)]


@pytest.mark.parametrize("mutate, field", [
    (lambda g: g["blocks"][0].update(batch_sizes=[0]), "grid.blocks.0.batch_sizes"),
    (lambda g: g["configs"][0].update(backend="tgi"), "grid.configs.0.backend"),
    (lambda g: g["blocks"][0].update(configs=["nope"]), "grid.blocks.0.configs"),
    (lambda g: g.pop("models"), "grid.models"),
    (lambda g: g["configs"][0].update(cuda_graph=True), "grid.configs.0.cuda_graph"),
])
def test_malformed_grid_exits_2_with_one_line(tmp_path, mutate, field):
    grid = grid_dict("Llama-3.2-1B")
    mutate(grid)
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(grid))
    result = runner.invoke(app, ["calibrate", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and field in lines[0]
    assert not (tmp_path / "run").exists()


def test_data_list_json_on_shipped_runs():
    result = runner.invoke(app, ["data", "list", "--json"])
    assert result.exit_code == 0
    runs = json.loads(result.output)
    assert runs and all({"run_id", "backend", "gpu", "model", "n_cells", "n_records", "median_cv"} <= set(r)
                        for r in runs)
    assert {"hf", "vllm"} <= {r["backend"] for r in runs}
    # catalog names: the TP1 campaigns ran on H100s, the TP campaign's lease came on two H200s
    assert {r["gpu"] for r in runs} == {"H100-SXM-80GB", "H200-SXM-141GB"}


def test_data_cells_reports_each_cells_spread(tmp_path):
    grid = parse_grid(grid_dict("Llama-3.2-1B", min_window_s=0.0))
    run_sweep(grid, tmp_path / "r1", backend_factory=lambda name: FakeBackend(), meter=TickingMeter())
    result = runner.invoke(app, ["data", "cells", "--dir", str(tmp_path), "--csv", str(tmp_path / "c.csv")])
    assert result.exit_code == 0, result.output
    cells = pd.read_csv(tmp_path / "c.csv")
    assert len(cells) == 8 and (cells["n"] == 2).all() and (cells["runs"] == 1).all()
    assert cells["cv"].notna().all() and "8 distinct cells" in result.output


def test_list_runs_counts_a_fresh_run(tmp_path):
    grid = parse_grid(grid_dict("Llama-3.2-1B", min_window_s=0.0))
    run_sweep(grid, tmp_path / "r1", backend_factory=lambda name: FakeBackend(), meter=TickingMeter())
    (summary,) = list_runs(tmp_path)
    assert summary["n_cells"] == 8 and summary["n_records"] == 16 and summary["median_cv"] is not None


def test_select_one_engine_of_a_grid():
    from energy_predict.calibrate.grid import select

    grid = parse_grid({"name": "g", "models": ["Llama-3.1-8B", "Llama-3.2-1B"],
                       "configs": [{"name": "a", "backend": "vllm"}, {"name": "b", "backend": "vllm"}],
                       "blocks": [{"batch_sizes": [1], "input_tokens": [8], "output_tokens": [1], "configs": ["a"]},
                                  {"batch_sizes": [2], "input_tokens": [8], "output_tokens": [1]}]})
    cells = expand_grid(select(grid, "b", "Llama-3.2-1B"))
    assert [(c.model, c.config, c.batch_size) for c in cells] == [("Llama-3.2-1B", "b", 2)]
    assert len(expand_grid(select(grid, "a"))) == 4
    with pytest.raises(InputError, match="--only-config"):
        select(grid, "c")


class FakeGpu:
    """An NVML device whose counter ticks every 10 ms at a constant power (W)."""

    def __init__(self, index, watts):
        self.index, self.watts, self.t0 = index, watts, __import__("time").perf_counter()

    def energy_j(self):
        import time

        return int((time.perf_counter() - self.t0) / 0.01) * 0.01 * self.watts

    def power_w(self):
        return self.watts

    def sm_clock_mhz(self):
        return 1980.0

    def temperature_c(self):
        return 40.0

    def supports_energy_counter(self):
        return True

    def info(self):
        from energy_predict.contracts.records import GpuInfo

        return GpuInfo(index=self.index, name="NVIDIA H100 80GB HBM3")


def test_one_window_sums_every_gpu_and_keeps_each(monkeypatch):
    from energy_predict.calibrate import meter as meter_module

    watts = {0: 100.0, 1: 300.0}
    monkeypatch.setattr(meter_module.nvml, "Device", lambda i: FakeGpu(i, watts[i]))
    meter = meter_module.NvmlMeter([0, 1])
    window = measure_repeated(meter, lambda: __import__("time").sleep(0.01), 0.2)
    r = window.reading
    assert r.sensor == "nvml-energy-counter" and len(r.gpu_energy_j) == 2
    assert sum(r.gpu_energy_j) == pytest.approx(r.energy_j)
    assert r.gpu_energy_j[1] == pytest.approx(3 * r.gpu_energy_j[0], rel=0.05)
    assert r.energy_j / r.duration_s == pytest.approx(400, rel=0.15)
    idle = meter_module.measure_idle(meter, 0.2)
    total_w, per_gpu_w = idle.total_w, idle.per_gpu_w
    assert total_w == pytest.approx(sum(per_gpu_w)) and per_gpu_w[1] == pytest.approx(300, rel=0.15)


def two_gpu_meter():
    """A fake meter over two GPUs: 100 W and 200 W."""
    return TickingMeter(gpus=(0, 1), watts=(100.0, 200.0))


def test_tensor_parallel_sweep_records_the_degree_per_gpu_energy_and_idle(tmp_path):
    grid = parse_grid(grid_dict("Llama-3.2-1B", min_window_s=0.0,
                                configs=[{"name": "tp2", "backend": "vllm", "tensor_parallel_size": 2}]))
    assert grid.configs[0].tensor_parallel == 2  # vLLM's older name is accepted
    run_sweep(grid, tmp_path / "run", gpus=(0, 1), backend_factory=lambda name: FakeBackend(), meter=two_gpu_meter())
    records = load_records(tmp_path / "run")
    assert (records["tensor_parallel"] == 2).all() and (records["gpu_count"] == 2).all()
    for total, per_gpu in zip(records["energy_j"], records["gpu_energy_j"]):
        assert sum(per_gpu) == pytest.approx(total) and per_gpu[1] == pytest.approx(2 * per_gpu[0])
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["idle_power_per_gpu_w"]["before"] == [100, 200] and meta["idle_power_w"]["before"] == 300
    assert meta["idle_power_per_gpu_w"]["loaded:Llama-3.2-1B:tp2"] == [100, 200]
    assert meta["configs"]["tp2"]["tensor_parallel"] == 2


def test_tensor_parallel_must_match_the_metered_gpus(tmp_path):
    grid = parse_grid(grid_dict("Llama-3.2-1B", configs=[{"name": "tp2", "backend": "vllm", "tensor_parallel": 2}]))
    with pytest.raises(InputError, match="--devices"):
        run_sweep(grid, tmp_path / "run", gpus=(0,), backend_factory=lambda name: FakeBackend(), meter=two_gpu_meter())
    assert not (tmp_path / "run").exists()


def test_vllm_engine_gets_tensor_parallel_and_compilation_options():
    from energy_predict.calibrate.backends.vllm import engine_kwargs
    from energy_predict.calibrate.grid import ServingConfig

    config = ServingConfig(name="tp2", backend="vllm", cuda_graphs=True, tensor_parallel=2,
                           compilation_config={"pass_config": {"fuse_allreduce_rms": False}},
                           disable_custom_all_reduce=True)
    kw = engine_kwargs(config, "/tmp/m", 100)
    assert kw["tensor_parallel_size"] == 2 and kw["disable_custom_all_reduce"] is True
    assert kw["compilation_config"] == {"pass_config": {"fuse_allreduce_rms": False}}
    assert "compilation_config" not in engine_kwargs(ServingConfig(name="e", backend="vllm"), "/tmp/m", 100)


def test_the_power_sampler_runs_only_in_cross_check_windows_where_the_counter_works(monkeypatch):
    """A sampler thread beside a launch-bound engine slows it: with a working counter it runs in 1 window of 3."""
    import threading

    from energy_predict.calibrate import meter as meter_module

    monkeypatch.setattr(meter_module.nvml, "Device", lambda i: FakeGpu(i, 200.0))
    meter = meter_module.NvmlMeter([0], cross_check_every=3)
    seen = []

    def work():
        seen.append(any(isinstance(t, meter_module._Sampler) for t in threading.enumerate()))
        __import__("time").sleep(0.01)

    readings = [measure_repeated(meter, work, 0.15).reading for _ in range(6)]
    assert [r.cross_checked for r in readings] == [True, False, False, True, False, False]
    assert all(r.sensor == "nvml-energy-counter" for r in readings)
    for r in readings:
        assert r.energy_j / r.duration_s == pytest.approx(200, rel=0.2)  # the counter alone, tail included
        assert (r.sampled_energy_j is not None) == r.cross_checked
    assert any(seen) and not all(seen)  # no thread beside the work in the windows without a cross-check
    assert meter.describe().power_sampling == "every 3 windows"


class CountingBackend(FakeBackend):
    """Counts loads; serves per-request options without reloading; its counters advance 3 drafts a run."""

    def __init__(self):
        super().__init__()
        self.loads, self.served = 0, []

    def load(self, arch, config):
        self.loads += 1
        self.config = config

    def reconfigure(self, config):
        self.config = config

    def prepare(self, cell):
        self.served.append(self.config.name)
        return super().prepare(cell)

    def counters(self):
        return {"drafts": 3 * self.calls, "accepted_tokens": self.calls}


def test_configs_differing_only_in_per_request_options_share_one_engine(tmp_path):
    grid = parse_grid(grid_dict("Llama-3.2-1B", min_window_s=0.0, configs=[
        {"name": "greedy", "backend": "hf"}, {"name": "sampling", "backend": "hf", "decoding": "sampling"},
        {"name": "eager-attn", "backend": "hf", "attn_implementation": "eager"}]))
    backends = []

    def factory(name):
        backends.append(CountingBackend())
        return backends[-1]

    run_sweep(grid, tmp_path / "run", backend_factory=factory, meter=TickingMeter())
    records = load_records(tmp_path / "run")
    assert len(backends) == 2 and [b.loads for b in backends] == [1, 1]  # greedy+sampling share; eager-attn reloads
    assert set(backends[0].served) == {"greedy", "sampling"} and set(backends[1].served) == {"eager-attn"}
    assert set(records["config"]) == {"greedy", "sampling", "eager-attn"}
    # the engine's counters, read outside each window, per run of the window
    assert (records["counter_drafts"] == 3).all() and (records["counter_accepted_tokens"] == 1).all()


def test_a_capped_warm_up_runs_the_cell_s_batch_and_prompt_with_fewer_outputs_and_measures_the_full_cell(tmp_path):
    class Recording(FakeBackend):
        def __init__(self) -> None:
            super().__init__()
            self.runs: list[tuple[int, int, int]] = []

        def prepare(self, cell):
            inner = super().prepare(cell)

            def run() -> int:
                self.runs.append((cell.batch_size, cell.input_tokens, cell.output_tokens))
                return inner()
            return run

    backend = Recording()
    grid = parse_grid(grid_dict("Llama-3.2-1B", blocks=[{"batch_sizes": [2], "input_tokens": [16],
                                                         "output_tokens": [3, 40]}],
                                min_window_s=0.0, warmup_runs=1, warmup_output_tokens=8))
    run_dir = run_sweep(grid, tmp_path / "run", backend_factory=lambda name: backend, meter=TickingMeter())
    # 3 outputs is under the cap: warmed up as it is; 40 is warmed up at 8, then measured at 40
    assert backend.runs == [(2, 16, 3)] * 3 + [(2, 16, 8)] + [(2, 16, 40)] * 2
    records = load_records(run_dir)
    assert sorted(records["generated_tokens"]) == [3, 3, 40, 40]
    assert json.loads((run_dir / "run.json").read_text())["grid"]["warmup_output_tokens"] == 8


def test_the_engine_s_running_counts_over_each_window_land_in_its_record(tmp_path):
    """A backend that watches its engine's stats lines (vLLM) gives each repetition's running/waiting summary.

    The fake engine logs vLLM's stats line through the "vllm" logger while it runs, as vLLM's offline engine does;
    the watch (calibrate/vllm_stats.watch_logger) sees only the measured window's lines, not the warm-up's.
    """
    import logging

    from energy_predict.calibrate.vllm_stats import summarize, watch_logger

    class Logging(FakeBackend):
        def prepare(self, cell):
            inner = super().prepare(cell)

            def run() -> int:
                logging.getLogger("vllm.v1.metrics.loggers").info(
                    "Engine 000: Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: 9.0 tokens/s, "
                    "Running: %d reqs, Waiting: %d reqs, GPU KV cache usage: 1.0%%", cell.batch_size, 1)
                return inner()
            return run

        def watch_running(self):
            stop = watch_logger("vllm")
            return lambda: summarize(stop()).record_fields()

    grid = parse_grid(grid_dict("Llama-3.2-1B", blocks=[{"batch_sizes": [2, 4], "input_tokens": [16],
                                                         "output_tokens": [3]}], min_window_s=0.0))
    vllm_logger = logging.getLogger("vllm")
    level = vllm_logger.level
    vllm_logger.setLevel(logging.INFO)  # as vLLM sets its logger (VLLM_LOGGING_LEVEL, INFO by default)
    try:
        run_dir = run_sweep(grid, tmp_path / "run", backend_factory=lambda name: Logging(), meter=TickingMeter())
    finally:
        vllm_logger.setLevel(level)
    records = load_records(run_dir).sort_values("batch_size")
    assert records["running_max"].tolist() == [2, 2, 4, 4] and (records["waiting_max"] == 1).all()
    assert (records["running_samples"] >= 1).all() and records["running_null_reason"].isna().all()
    assert not logging.getLogger("vllm").handlers or all(
        type(h).__name__ != "_Collect" for h in logging.getLogger("vllm").handlers)  # every watch was removed
    # a backend without a watch (HF) writes none of the fields
    plain = run_sweep(grid, tmp_path / "plain", backend_factory=lambda name: FakeBackend(), meter=TickingMeter())
    assert "running_max" not in load_records(plain).columns  # a record keeps no field without a value
    # the vLLM backend with its stat logging off says why there are no counts
    from energy_predict.calibrate.backends.vllm import VLLMBackend

    fields = VLLMBackend().watch_running()()
    assert fields["running_max"] is None and "stat logging is off" in fields["running_null_reason"]

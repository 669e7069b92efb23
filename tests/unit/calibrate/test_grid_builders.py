"""Grid builders (calibrate/grid_builders.py): pure, and able to write every committed grid that campaigns built
from shared pieces, byte for byte (each campaign's own make_grids.py stays as its lease ran it)."""

import json

import pytest

from energy_predict.calibrate import grid_builders as gb
from energy_predict.calibrate.grid import expand_grid, parse_grid
from tests.conftest import REPO

CAMPAIGNS = REPO / "campaigns"
L8, L1 = "Llama-3.1-8B", "Llama-3.2-1B"
HF = [gb.hf_config("hf-eager"), gb.hf_config("hf-compile", compile=True),
      gb.hf_config("hf-sampling", decoding="sampling"), gb.hf_config("hf-beam4", decoding="beam", beam_width=4)]


def spec_grid(prefix: str, name: str, draft: str, k: int, acceptance: float | None, shapes) -> dict:
    return gb.grid(f"{prefix}-{name}", [gb.speculative_config(name, draft, k, acceptance)],
                   gb.cell_blocks(shapes, L8, name))


def x4_issue17() -> dict[str, dict]:
    splits = gb.COMPILE_SPLITS
    prefix = [gb.vllm_config(f"vllm-graphs-prefix-h{int(h * 100)}", enable_prefix_caching=True, log_stats=True,
                             prefix_hit_rate=h) for h in (0.0, 0.5, 0.9)]
    spec = {"vllm-spec-1b-k4": (L1, 4, None), "vllm-spec-1b-k2": (L1, 2, None), "vllm-spec-self-k4": (L8, 4, None),
            "vllm-spec-1b-k4-a100": (L1, 4, 1.0), "vllm-spec-1b-k4-a60": (L1, 4, 0.6)}
    grids = {
        "gpu0-hf": gb.grid("x4-issue17-gpu0-hf", HF, gb.cell_blocks([(1, i, o) for i, o in splits], L8, "hf-eager")
                           + gb.cell_blocks([(b, i, o) for b in (1, 2, 4, 8) for i, o in splits], L8, "hf-compile")
                           + gb.cell_blocks(gb.DECODING_CELLS, L8, "hf-sampling")
                           + gb.cell_blocks(gb.DECODING_CELLS, L8, "hf-beam4")),
        "gpu1-hf": gb.grid("x4-issue17-gpu1-hf", [HF[1]],
                           gb.cell_blocks([(b, i, o) for b in (16, 32, 64, 128) for i, o in splits], L8, "hf-compile")),
        "gpu1-prefix": gb.grid("x4-issue17-gpu1-prefix", prefix,
                               [b for c in prefix for b in gb.cell_blocks(gb.PREFIX_CELLS, L8, c["name"])]),
    }
    for k, name in enumerate(spec):
        shapes = gb.SPEC_CELLS[:3] if "self" in name else gb.SPEC_CELLS
        grids[f"gpu{2 if k < 3 else 3}-{name}"] = spec_grid("x4-issue17", name, *spec[name], shapes)
    baseline = [gb.vllm_config("vllm-graphs"), gb.vllm_config("vllm-graphs-sampling", decoding="sampling")]
    grids["gpu3-baseline"] = gb.grid(
        "x4-issue17-baseline", baseline,
        gb.cell_blocks(gb.SPEC_CELLS, L8, "vllm-graphs") + gb.cell_blocks(gb.SPEC_CELLS, L8, "vllm-graphs-sampling"))
    return grids


def x4_issue17b() -> dict[str, dict]:
    spec = {"vllm-spec-1b-k4-a60": (2, L1, 4, 0.6), "vllm-spec-1b-k2": (2, L1, 2, None),
            "vllm-spec-1b-k5": (2, L1, 5, None), "vllm-spec-1b-k2-a100": (3, L1, 2, 1.0),
            "vllm-spec-1b-k5-a100": (3, L1, 5, 1.0), "vllm-spec-self-k4": (3, L8, 4, None),
            "vllm-spec-1b-k3-a60": (1, L1, 3, 0.6),
            # the second block (extra.sh): one engine per GPU, in GPU order
            "vllm-spec-1b-k4-a30": (0, L1, 4, 0.3), "vllm-spec-1b-k4-a80": (1, L1, 4, 0.8),
            "vllm-spec-1b-k3-a100": (2, L1, 3, 1.0), "vllm-spec-1b-k2-a60": (3, L1, 2, 0.6)}
    decoding = gb.DECODING_CELLS
    compile_shapes = [(b, i, o) for b in (64, 128) for i, o in gb.COMPILE_SPLITS]
    grids = {
        "gpu0-hf": gb.grid("x4-issue17b-gpu0-hf", HF,
                           gb.cell_blocks(compile_shapes, L8, "hf-compile")
                           + gb.cell_blocks(decoding[2:], L8, "hf-sampling") + gb.cell_blocks(decoding, L8, "hf-beam4")
                           + gb.cell_blocks(decoding, L8, "hf-eager")),
        "gpu1-baseline": gb.grid("x4-issue17b-baseline",
                                 [gb.vllm_config("vllm-graphs"), gb.vllm_config("vllm-graphs-sampling",
                                                                                decoding="sampling")],
                                 [b for c in ("vllm-graphs-sampling", "vllm-graphs")
                                  for b in gb.cell_blocks(gb.SPEC_CELLS + decoding, L8, c)]),
    }
    for name, (gpu, draft, k, acceptance) in spec.items():
        shapes = gb.SPEC_CELLS[:3] if "self" in name else gb.SPEC_CELLS
        grids[f"gpu{gpu}-{name}"] = spec_grid("x4-issue17b", name, draft, k, acceptance, shapes)
    return grids


def x1_spec_lengths() -> dict[str, dict]:
    shapes = [(1, 2048, 256), (16, 2048, 256), (64, 256, 256), (8, 4096, 64), (128, 1024, 64)]
    return {name: spec_grid("x1-spec-lengths", name, L1, 4, acceptance, shapes)
            for name, acceptance in (("vllm-spec-1b-k4-a100", 1.0), ("vllm-spec-1b-k4", None))}


def x4_tp4_families() -> dict[str, dict]:
    configs = [gb.vllm_config("vllm-graphs-tp4-noarfusion", tensor_parallel=4, compilation_config=gb.NO_AR_FUSION),
               gb.vllm_config("vllm-graphs-tp2-noarfusion", tensor_parallel=2, compilation_config=gb.NO_AR_FUSION),
               gb.vllm_config("vllm-graphs-tp4-notppasses", tensor_parallel=4, compilation_config=gb.NO_TP_PASSES),
               gb.vllm_config("vllm-graphs", tensor_parallel=1),
               gb.vllm_config("vllm-graphs-mem95", tensor_parallel=1, gpu_memory_utilization=0.95),
               gb.hf_config("hf-eager")]
    grids = {}
    for card in ("h100", "h200"):
        h100 = card == "h100"
        parts = [(L8, "vllm-graphs-tp4-noarfusion", gb.TP_CELLS_8B)]
        if h100:
            parts.append((L8, "vllm-graphs-tp2-noarfusion", gb.TP_CELLS_8B[:12]))
        parts += [("Qwen2.5-32B", "vllm-graphs-tp2-noarfusion", gb.BIG_MODEL_CELLS),
                  (L8, "hf-eager", gb.HF_NOISY_CELLS),
                  ("OLMoE-1B-7B", "vllm-graphs", gb.NEW_MODEL_CELLS), ("OLMo-1B", "vllm-graphs", gb.NEW_MODEL_CELLS),
                  ("OLMo-7B", "vllm-graphs", gb.NEW_MODEL_CELLS),
                  ("Qwen3-30B-A3B", "vllm-graphs-mem95" if h100 else "vllm-graphs", gb.NEW_MODEL_CELLS),
                  ("Mixtral-8x7B", "vllm-graphs-tp2-noarfusion" if h100 else "vllm-graphs", gb.NEW_MODEL_CELLS),
                  ("Qwen2.5-7B", "vllm-graphs", gb.NEW_MODEL_CELLS),
                  ("Llama-3.1-70B", "vllm-graphs-tp4-notppasses", gb.BIG_MODEL_CELLS)]
        grids[f"campaign-{card}"] = gb.campaign_grid(f"x4-tp4-families-{card}", parts, configs)
    return grids


def h200_x1() -> dict[str, dict]:
    configs = [gb.hf_config("hf-eager"), gb.vllm_config("vllm-graphs", tensor_parallel=1),
               gb.vllm_config("vllm-graphs-fp8", tensor_parallel=1, quantization="fp8"),
               gb.vllm_config("vllm-eager", cuda_graphs=False, tensor_parallel=1)]
    parts = [(L8, "hf-eager", gb.HF_NOISY_CELLS), ("Mixtral-8x7B", "vllm-graphs", gb.NEW_MODEL_CELLS),
             (L8, "vllm-graphs-fp8", gb.NEW_MODEL_CELLS), (L8, "vllm-eager", gb.NEW_MODEL_CELLS),
             (L1, "vllm-graphs", gb.NEW_MODEL_CELLS), ("Llama-3.2-3B", "vllm-graphs", gb.NEW_MODEL_CELLS)]
    return {"campaign": gb.campaign_grid("h200-x1", parts, configs)}


def h100_x2_tp() -> dict[str, dict]:
    def tp_grid(name, model, configs, shapes):
        return gb.grid(name, configs, gb.cell_blocks(shapes), models=[model])

    tp1 = [gb.vllm_config("vllm-graphs", tensor_parallel=1)]  # imported as vllm-graphs-tp1 (import.py)
    tp2 = [gb.vllm_config("vllm-graphs-tp2", tensor_parallel=2),
           gb.vllm_config("vllm-graphs-tp2-noarfusion", tensor_parallel=2, compilation_config=gb.NO_AR_FUSION),
           gb.vllm_config("vllm-eager-tp2", cuda_graphs=False, tensor_parallel=2)]
    fp8 = [gb.vllm_config("vllm-graphs-fp8-tp2-notppasses", tensor_parallel=2, quantization="fp8",
                          compilation_config=gb.NO_TP_PASSES)]
    return {"tp1-a": tp_grid("tp-8b-tp1", L8, tp1, gb.TP_CELLS_8B[0::2]),
            "tp1-b": tp_grid("tp-8b-tp1", L8, tp1, gb.TP_CELLS_8B[1::2]),
            "tp2": tp_grid("tp-8b-tp2", L8, tp2, gb.TP_CELLS_8B),
            "tp2-70b-fp8": tp_grid("tp-70b-fp8-tp2", "Llama-3.1-70B", fp8, gb.BIG_MODEL_CELLS)}


# Grids in those folders that other code writes: the merge of a campaign's grids (campaigns/merge_grids.py).
MERGED = {"h100-x2-tp": {"campaign"}}
RECIPES = {"x4-issue17": x4_issue17, "x4-issue17b": x4_issue17b, "x1-spec-lengths": x1_spec_lengths,
           "x4-tp4-families": x4_tp4_families, "h200-x1": h200_x1, "h100-x2-tp": h100_x2_tp}


@pytest.mark.parametrize("campaign", sorted(RECIPES))
def test_the_builders_write_each_committed_grid_byte_for_byte(campaign):
    grids = RECIPES[campaign]()
    committed = sorted(p.stem for p in (CAMPAIGNS / campaign).glob("*.json") if p.stem not in MERGED.get(campaign, ()))
    assert sorted(grids) == committed
    for name, g in grids.items():
        assert gb.grid_text(g) == (CAMPAIGNS / campaign / f"{name}.json").read_text(), name
        parse_grid(g)  # and each is a valid grid


def test_campaign_grid_keeps_the_parts_order_and_only_the_configs_used():
    configs = [gb.hf_config("a"), gb.vllm_config("b"), gb.vllm_config("unused")]
    g = gb.campaign_grid("c", [("Llama-3.2-1B", "b", [(1, 8, 8)]), ("Llama-3.1-8B", "a", [(2, 8, 8), (4, 8, 8)])],
                         configs)
    assert [c["name"] for c in g["configs"]] == ["b", "a"] and g["models"] == ["Llama-3.2-1B", "Llama-3.1-8B"]
    assert [(c.model, c.config, c.batch_size) for c in expand_grid(parse_grid(g))] == [
        ("Llama-3.2-1B", "b", 1), ("Llama-3.1-8B", "a", 2), ("Llama-3.1-8B", "a", 4)]
    with pytest.raises(ValueError, match="not given: missing"):
        gb.campaign_grid("c", [("Llama-3.2-1B", "missing", [(1, 8, 8)])], configs)


def test_builders_are_pure_and_write_only_where_asked(tmp_path):
    shapes = [(1, 128, 128)]
    first, second = gb.cell_blocks(shapes, L8, "a"), gb.cell_blocks(shapes, L8, "a")
    assert first == second and first[0] is not second[0]
    assert gb.cell_blocks(shapes) == [{"batch_sizes": [1], "input_tokens": [128], "output_tokens": [128]}]
    assert list(gb.vllm_config("x", tensor_parallel=2)) == ["name", "backend", "cuda_graphs", "tensor_parallel",
                                                            "max_num_seqs", "enable_prefix_caching"]
    assert "tensor_parallel" not in gb.vllm_config("x")
    g = gb.grid("g", [gb.hf_config("a")], first)
    paths = gb.write_grids(tmp_path, {"g": g})
    assert paths == [tmp_path / "g.json"] and json.loads(paths[0].read_text()) == g
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]

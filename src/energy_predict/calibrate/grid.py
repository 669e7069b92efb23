"""Calibration grids: models x serving configs x cells, read from JSON and expanded by pure functions.

```json
{"name": "h100-hf", "models": ["Llama-3.1-8B"],
 "configs": [{"name": "hf-eager", "backend": "hf", "attn_implementation": "sdpa"}],
 "blocks": [{"batch_sizes": [1, 8], "input_tokens": [128, 512], "output_tokens": [1, 128]}],
 "repetitions": 3, "min_window_s": 2.0, "max_tokens_in_batch": 300000}
```
Each block is a product of its lists; a block may narrow `models` and `configs` by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from energy_predict.architectures import resolve_architecture
from energy_predict.errors import InputError
from energy_predict.jsonio import read_json
from energy_predict.profile import MAX_TOKENS


class ServingConfig(BaseModel):
    """One engine configuration. Options a backend does not know are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    name: str
    backend: Literal["hf", "vllm"]
    dtype: Literal["bfloat16", "float16"] = "bfloat16"
    # HF
    attn_implementation: Literal["eager", "sdpa"] = "sdpa"
    compile: bool = False
    decoding: Literal["greedy", "sampling", "beam"] = "greedy"
    beam_width: int = Field(1, ge=1)
    # vLLM
    cuda_graphs: bool = False
    quantization: Literal["fp8"] | None = None
    max_num_seqs: int = Field(256, ge=1)
    max_num_batched_tokens: int | None = Field(None, ge=1)
    enable_chunked_prefill: bool | None = None
    enable_prefix_caching: bool = False
    log_stats: bool = False  # vLLM's stat loggers (off by default in LLM): its prefix-cache counters need them
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    # GPUs of one engine (vLLM's tensor_parallel_size, the older name, is accepted); the sweep meters as many
    tensor_parallel: int = Field(1, ge=1, validation_alias=AliasChoices("tensor_parallel", "tensor_parallel_size"))
    max_model_len: int | None = Field(None, ge=16)
    # passed to vLLM as they are, e.g. {"pass_config": {"fuse_allreduce_rms": false}} (docs/measurements)
    compilation_config: dict[str, Any] | None = None
    disable_custom_all_reduce: bool = False
    # vLLM speculative decoding (issue 17): a registry model as the draft (dummy weights like the target's: a draft
    # of the target's own architecture gets the target's very weights, so it proposes what the target will choose),
    # `num_speculative_tokens` drafted per step; `synthetic_acceptance` (0..1, per drafted token, independent) makes
    # vLLM's rejection sampler accept at that rate whatever the draft proposes (its 'synthetic' method).
    speculative_model: str | None = None
    num_speculative_tokens: int = Field(0, ge=0, le=16)
    synthetic_acceptance: float | None = Field(None, ge=0, le=1)
    # Cells with a shared prompt prefix (issue 17): this share of each prompt's tokens is one prefix common to the
    # batch and cached by the warm-up; the rest is new in every run. Needs enable_prefix_caching.
    prefix_hit_rate: float | None = Field(None, ge=0, le=1)

    def engine_fields(self) -> dict:
        """What the engine is built from: configs equal here share one loaded engine in a sweep.

        Per-request options (the name, decoding, the prompts' shared prefix) may differ.
        """
        per_request = {"name", "decoding", "beam_width", "prefix_hit_rate"}
        # HF compiles inside `generate` (a static cache per call): the loaded model is the same with or without it
        return self.model_dump(exclude=per_request | ({"compile"} if self.backend == "hf" else set()))


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    batch_sizes: list[Annotated[int, Field(le=65536)]] = Field(min_length=1)
    input_tokens: list[Annotated[int, Field(le=MAX_TOKENS)]] = Field(min_length=1)
    output_tokens: list[Annotated[int, Field(le=MAX_TOKENS)]] = Field(min_length=1)
    models: list[str] | None = None
    configs: list[str] | None = None
    max_tokens_in_batch: int | None = Field(None, ge=1, description="the grid's limit, for this block alone")


class Grid(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    name: str
    models: list[str] = Field(min_length=1)
    configs: list[ServingConfig] = Field(min_length=1)
    blocks: list[Block] = Field(min_length=1)
    repetitions: int = Field(3, ge=1, le=1000)
    min_window_s: float = Field(2.0, ge=0, le=600)
    warmup_runs: int = Field(1, ge=0, le=100)
    max_tokens_in_batch: int | None = Field(None, ge=1, description="skip cells with B x (I + O) above this")
    idle_seconds: float = Field(3.0, ge=0, le=600)


@dataclass(frozen=True, order=True)
class Cell:
    """One measured shape: every request of the batch has the same lengths."""

    model: str
    config: str
    batch_size: int
    input_tokens: int
    output_tokens: int

    @property
    def key(self) -> tuple[str, str, int, int, int]:
        return (self.model, self.config, self.batch_size, self.input_tokens, self.output_tokens)


def parse_grid(data: object) -> Grid:
    """Validate a decoded grid; InputError names the first bad field."""
    try:
        grid = Grid.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        field = "".join(["grid", *(f".{p}" for p in e["loc"])])
        raise InputError(field, e["msg"].lower(), "fix the grid file (see calibrate/grid.py for its format)") from None
    names = [c.name for c in grid.configs]
    for k, c in enumerate(grid.configs):
        _check_config(c, f"grid.configs.{k}")
    for k, block in enumerate(grid.blocks):
        for name in block.configs or []:
            if name not in names:
                raise InputError(f"grid.blocks.{k}.configs", f"unknown config {name!r}", f"use one of {names}")
        for name in block.models or []:
            if name not in grid.models:
                raise InputError(f"grid.blocks.{k}.models", f"unknown model {name!r}", f"use one of {grid.models}")
        for axis in ("batch_sizes", "input_tokens", "output_tokens"):
            low = 0 if axis == "input_tokens" else 1
            if min(getattr(block, axis)) < low:
                raise InputError(f"grid.blocks.{k}.{axis}", f"values must be >= {low}", "fix the value")
    return grid


def _check_config(c: ServingConfig, field: str) -> None:
    """Options that only make sense together (InputError naming the field)."""
    if c.backend == "hf" and (c.speculative_model or c.prefix_hit_rate is not None):
        raise InputError(f"{field}.backend", "speculative decoding and prefix-hit cells are vLLM options",
                         "use backend 'vllm' for them")
    if c.backend == "vllm" and c.decoding == "beam":
        raise InputError(f"{field}.decoding", "vLLM 0.26 has no beam-search serving path (LLM.beam_search is a "
                         "Python loop of one-token generate calls that needs a tokenizer)", "use greedy or sampling")
    if bool(c.speculative_model) != (c.num_speculative_tokens > 0):
        raise InputError(f"{field}.num_speculative_tokens", "speculative_model and num_speculative_tokens go together",
                         "give both (e.g. 'Llama-3.2-1B' and 4) or neither")
    if c.synthetic_acceptance is not None and not c.speculative_model:
        raise InputError(f"{field}.synthetic_acceptance", "needs speculative decoding", "set speculative_model too")
    if c.prefix_hit_rate is not None and not c.enable_prefix_caching:
        raise InputError(f"{field}.prefix_hit_rate", "a shared prefix is only a hit with prefix caching on",
                         "set enable_prefix_caching: true")
    if c.speculative_model:
        resolve_architecture(c.speculative_model)


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid JSON file."""
    return parse_grid(read_json(path, "grid", "a grid JSON"))


def select(grid: Grid, config: str | None = None, model: str | None = None) -> Grid:
    """The part of a grid for one config and/or one model (one engine per process, for instance)."""
    configs = [c for c in grid.configs if config is None or c.name == config]
    models = [m for m in grid.models if model is None or m == model]
    if not configs or not models:
        names = [c.name for c in grid.configs] if not configs else grid.models
        flag = "--only-config" if not configs else "--only-model"
        raise InputError(flag, f"{config if not configs else model!r} is not in the grid", f"use one of {names}")
    keep_c, keep_m = {c.name for c in configs}, set(models)
    blocks = []
    for b in grid.blocks:
        cs = [c for c in (b.configs or keep_c) if c in keep_c]
        ms = [m for m in (b.models or keep_m) if m in keep_m]
        if cs and ms:
            blocks.append(b.model_copy(update={"configs": cs, "models": ms}))
    if not blocks:
        raise InputError("--only-config", "no cells of the grid are left", "choose a config and model it measures")
    return grid.model_copy(update={"configs": configs, "models": models, "blocks": blocks})


def expand_grid(grid: Grid) -> list[Cell]:
    """All cells, deduplicated, grouped by (model, config) so each engine loads once.

    Within a group cells keep the order of the blocks, so a grid lists what matters most first:
    a sweep cut short still holds the most useful cells.
    """
    seen: dict[tuple, Cell] = {}
    for block in grid.blocks:
        limit = block.max_tokens_in_batch or grid.max_tokens_in_batch
        for model in block.models or grid.models:
            for config in block.configs or [c.name for c in grid.configs]:
                for b in block.batch_sizes:
                    for i in block.input_tokens:
                        for o in block.output_tokens:
                            if limit and b * (i + o) > limit:
                                continue
                            cell = Cell(model, config, b, i, o)
                            seen.setdefault(cell.key, cell)
    order = {c.name: k for k, c in enumerate(grid.configs)}
    cells = list(seen.values())
    position = {c.key: k for k, c in enumerate(cells)}
    return sorted(cells, key=lambda c: (grid.models.index(c.model), order[c.config], position[c.key]))


def engine_order(grid: Grid) -> list[tuple[str, str]]:
    """(model, config) engines in the order their first block appears: a campaign's priority (most important first)."""
    order: dict[tuple[str, str], None] = {}
    for block in grid.blocks:
        for model in block.models or grid.models:
            for config in block.configs or [c.name for c in grid.configs]:
                order.setdefault((model, config), None)
    return list(order)


def merge_grids(name: str, grids: list[Grid]) -> Grid:
    """One grid measuring every cell of `grids` (a campaign): one run, one `calibrate --ray` command.

    Each block keeps its grid's models, configs and token limit; a config named in two grids must be the
    same config. Repetitions, windows, warm-up and idle time are per grid, so they must agree.
    """
    shared = ("repetitions", "min_window_s", "warmup_runs", "idle_seconds")
    configs: dict[str, ServingConfig] = {}
    models: list[str] = []
    blocks = []
    for g in grids:
        for field in shared:
            if getattr(g, field) != getattr(grids[0], field):
                raise InputError(f"grid.{field}", f"{g.name!r} and {grids[0].name!r} differ",
                                 "merge only grids measured the same way")
        for c in g.configs:
            if configs.setdefault(c.name, c) != c:
                raise InputError("grid.configs", f"two configs named {c.name!r} differ", "rename one of them")
        models += [m for m in g.models if m not in models]
        for b in g.blocks:
            blocks.append(b.model_copy(update={
                "models": b.models or list(g.models), "configs": b.configs or [c.name for c in g.configs],
                "max_tokens_in_batch": b.max_tokens_in_batch or g.max_tokens_in_batch}))
    return parse_grid({**{f: getattr(grids[0], f) for f in shared}, "name": name, "models": models,
                       "configs": [c.model_dump() for c in configs.values()],
                       "blocks": [b.model_dump(exclude_none=True) for b in blocks]})

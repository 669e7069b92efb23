"""Calibration grids: models x serving configs x cells, read from JSON and expanded by pure functions.

```json
{"name": "h100-vllm", "models": ["Llama-3.1-8B"],
 "configs": [{"name": "vllm-graphs-tp2", "framework": "vllm", "tensor_parallel": 2,
              "engine": {"compilation_config": {"pass_config": {"fuse_allreduce_rms": false}}}},
             {"name": "hf-eager", "framework": "hf"}],
 "blocks": [{"batch_sizes": [1, 8], "input_tokens": [128, 512], "output_tokens": [1, 128]}],
 "repetitions": 3, "min_window_s": 2.0, "max_tokens_in_batch": 300000}
```
A config is a serving spec with the profile's field names (`energy_predict.serving_spec.ServingConfig`), its
engine knobs apart under `engine`; grids in the former spelling (`backend`, `max_num_seqs`, flat knobs) still parse.
Each block is a product of its lists; a block may narrow `models` and `configs` by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from energy_predict.architectures import resolve_architecture
from energy_predict.errors import InputError
from energy_predict.jsonio import json_type, read_json
from energy_predict.profile import MAX_TOKENS
from energy_predict.serving_spec import EngineKnobs, ServingConfig

__all__ = ["Block", "Cell", "EngineKnobs", "Grid", "ServingConfig", "engine_order", "expand_grid", "load_grid",
           "load_serving_config", "merge_grids", "parse_grid", "select"]


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
    warmup_output_tokens: int | None = Field(
        None, ge=1, le=MAX_TOKENS, description="warm up with at most this many output tokens (same batch and input: "
        "the same prefill shape and decode graphs), so that an 8k-token output is not generated once unmeasured")
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


def _first_error(exc: ValidationError, root: str, fix: str) -> InputError:
    """A validation error's first problem as one line naming its field under `root` (grid, --serving)."""
    e = exc.errors()[0]
    return InputError("".join([root, *(f".{p}" for p in e["loc"])]), e["msg"].lower(), fix)


def parse_grid(data: object) -> Grid:
    """Validate a decoded grid; InputError names the first bad field."""
    try:
        grid = Grid.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, "grid", "fix the grid file (see calibrate/grid.py for its format)") from None
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
    if c.framework == "hf" and (c.speculative or c.prefix_hit_rate is not None):
        raise InputError(f"{field}.framework", "speculative decoding and prefix-hit cells are vLLM options",
                         "use framework 'vllm' for them (backend, in grids of the former spelling)")
    if c.framework == "vllm" and c.decoding == "beam":
        raise InputError(f"{field}.decoding", "vLLM 0.26 has no beam-search serving path (LLM.beam_search is a "
                         "Python loop of one-token generate calls that needs a tokenizer)", "use greedy or sampling")
    if (c.decoding == "beam") != (c.beam_width is not None):
        raise InputError(f"{field}.beam_width", "beam search needs its width, and only beam search has one",
                         "give beam_width (2-16) with decoding 'beam', and drop it otherwise")
    if c.prefix_hit_rate is not None and not c.prefix_caching:
        raise InputError(f"{field}.prefix_hit_rate", "a shared prefix is only a hit with prefix caching on",
                         "set prefix_caching: true")
    if c.speculative:
        resolve_architecture(c.speculative.draft)


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a config name that is safe in a file name


def load_serving_config(path: str | Path, field: str = "--serving") -> ServingConfig:
    """Read one serving config (a grid's config, the same spelling) from a JSON file; InputError names the field.

    Its name goes into record file names, so it is kept to letters, digits, '.', '_' and '-'.
    """
    data = read_json(path, field, "a serving config JSON (a grid's config: name, framework, quantization, ...)")
    if not isinstance(data, dict):
        raise InputError(field, f"{path} holds {json_type(data)}, not an object",
                         'give one config object, e.g. {"name": "fp8", "framework": "vllm", "quantization": "fp8"}')
    try:
        config = ServingConfig.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, field, "fix the serving config (the format of a grid's configs: "
                           "energy_predict/serving_spec.py)") from None
    if not SAFE_NAME.fullmatch(config.name):
        raise InputError(f"{field}.name", f"{config.name!r} cannot be part of a file name",
                         "use letters, digits, '.', '_' and '-' (at most 64), e.g. \"fp8\" or \"cap64\"")
    _check_config(config, field)
    return config


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
    shared = ("repetitions", "min_window_s", "warmup_runs", "warmup_output_tokens", "idle_seconds")
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

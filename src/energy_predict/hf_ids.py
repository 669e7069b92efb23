"""Models by Hugging Face id: the `config.json` files that ship in `artifacts/hf_configs/<org>/<name>/`.

`artifacts/hf_configs/sources.json` lists each shipped id with the public copy its architecture fields were taken
from, the other ids that share its architecture (aliases: an Instruct model's, a repository's former name) and the
models asked for that ship no config. An id is only a way to find a config.json: the model it resolves to is
identified by its shape (`architectures._identified`), so `meta-llama/Llama-3.1-8B-Instruct` is the registry's
Llama-3.1-8B with its measurements.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from energy_predict.errors import InputError
from energy_predict.jsonio import read_json
from energy_predict.provenance import artifacts_dir

# org/name as the Hub spells it: one slash, no file suffix
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


@dataclass(frozen=True)
class ShippedConfig:
    """A Hugging Face id whose config.json ships: the id it is filed under, the file and where it was copied from."""

    hf_id: str
    path: Path
    source: str


def hf_configs_dir() -> Path:
    """Where the shipped config.json files are (the installed artifacts, or the checkout's)."""
    return artifacts_dir() / "hf_configs"


def looks_like_hf_id(spec: str) -> bool:
    """`org/name`, not a config.json path (the Hub's ids have exactly one slash)."""
    return bool(_ID.match(spec)) and not spec.endswith(".json")


@functools.lru_cache(maxsize=1)
def _sources() -> dict:
    return read_json(hf_configs_dir() / "sources.json", "hf_configs", "reinstall energy-predict")


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, ShippedConfig]:
    """Every shipped id and alias, lower-cased (the Hub's ids are case-insensitive), to its config."""
    folder = hf_configs_dir()
    sources = _sources()
    index: dict[str, ShippedConfig] = {}
    for hf_id, entry in sources["models"].items():
        shipped = ShippedConfig(hf_id, folder / hf_id / "config.json", entry["source"])
        for name in (hf_id, *entry.get("aliases", ())):
            index[name.lower()] = shipped
    return index


def shipped_ids() -> list[str]:
    """The ids whose config.json ships (aliases left out), sorted."""
    return sorted({s.hf_id for s in _index().values()}, key=str.lower)


def shipped_config(spec: str) -> ShippedConfig | None:
    """The shipped config.json of a Hugging Face id or alias (None: not an id that ships)."""
    return _index().get(spec.lower()) if looks_like_hf_id(spec) else None


def left_out_reason(spec: str) -> str | None:
    """Why a model asked for ships no config.json (sources.json's left_out), or None."""
    return {k.lower(): v for k, v in _sources().get("left_out", {}).items()}.get(spec.lower())


def unknown_id(spec: str) -> InputError:
    """The refusal of an `org/name` id that does not ship: why, when it was left out on purpose (sources.json).

    The fix lists the shipped ids and the config.json way.
    """
    shown = spec if len(spec) <= 100 else spec[:100] + "..."
    why = left_out_reason(spec)
    return InputError("model", f"no config.json ships for the Hugging Face id {shown!r}" + (f" ({why})" if why else ""),
                      f"use one of {', '.join(shipped_ids())}, or a path to the model's config.json (or to the "
                      "folder holding it)")

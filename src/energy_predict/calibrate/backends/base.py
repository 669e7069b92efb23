"""The backend protocol: load a model under a serving config, then run cells, batches of requests, or a stream.

Each verb prepares its inputs (token ids on the device, sampling parameters) when it is called and returns the
run: a callable that a meter window holds, with nothing in it but the engine's work. The sweep measures cells
(`prepare`); replays measure batches of real requests (`prepare_batch`) and, online, requests arriving over time
(`prepare_serve`), so a replay never reaches into an engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from energy_predict.architectures import Architecture
from energy_predict.calibrate.grid import Cell, ServingConfig


class CellInfeasible(RuntimeError):
    """The cell cannot run here (out of memory, too long for the engine): recorded, and the sweep goes on."""


@dataclass(frozen=True)
class Request:
    """One request as a backend serves it: its prompt's token ids, and exactly how many tokens it generates."""

    prompt_token_ids: tuple[int, ...]
    output_tokens: int

    def __post_init__(self) -> None:
        if not self.prompt_token_ids or self.output_tokens < 1:
            raise ValueError("a request needs at least one prompt token and one output token")


class Backend(Protocol):
    name: str

    def load(self, arch: Architecture, config: ServingConfig) -> None:
        """Build the engine for this model and config (random weights from the architecture)."""

    def prepare(self, cell: Cell) -> Callable[[], int]:
        """Build the cell's inputs; return a callable that runs it once and returns the tokens generated."""

    def prepare_batch(self, requests: Sequence[Request]) -> Callable[[], None]:
        """The requests submitted at once, greedy, each for exactly its output tokens (HF: one padded batch)."""

    def prepare_serve(self, requests: Sequence[Request], arrival_s: Sequence[float]) -> Callable[[], None]:
        """The requests entering the engine at their arrival times (s from the run's start), until all are done."""

    def synchronize(self) -> None:
        """Wait for queued device work (the meter calls it at window edges)."""

    def close(self) -> None:
        """Free the engine and its memory."""

    def versions(self) -> dict[str, str]:
        """Framework versions for the run's provenance."""


def make_backend(name: str, device: str | None = None) -> Backend:
    """The backend for a config's `backend` field; its framework is imported only here."""
    if name == "hf":
        from energy_predict.calibrate.backends.hf import HFBackend

        return HFBackend(device)
    if name == "vllm":
        from energy_predict.calibrate.backends.vllm import VLLMBackend

        return VLLMBackend()
    raise ValueError(f"unknown backend {name!r}")

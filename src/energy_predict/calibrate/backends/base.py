"""The backend protocol: load a model under a serving config, then run cells."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from energy_predict.architectures import Architecture
from energy_predict.calibrate.grid import Cell, ServingConfig


class CellInfeasible(RuntimeError):
    """The cell cannot run here (out of memory, too long for the engine): recorded, and the sweep goes on."""


class Backend(Protocol):
    name: str

    def load(self, arch: Architecture, config: ServingConfig) -> None:
        """Build the engine for this model and config (random weights from the architecture)."""

    def prepare(self, cell: Cell) -> Callable[[], int]:
        """Build the cell's inputs; return a callable that runs it once and returns the tokens generated."""

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

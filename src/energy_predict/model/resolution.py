"""What an answer rests on (`Resolution`) and the one error a model raises where it must refuse (`Refusal`)."""

from __future__ import annotations

from dataclasses import dataclass

from energy_predict.contracts.card import Ranges, TpLaw
from energy_predict.contracts.keys import FitKey
from energy_predict.contracts.scores import LogBounds
from energy_predict.errors import EnergyPredictError
from energy_predict.fitted import Basis, HeldOut
from energy_predict.model.transfer import DatasheetTransfer


class Refusal(EnergyPredictError):
    """The model cannot answer for a deployment: which field asks too much, and what to do instead."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field, self.problem, self.fix = field, problem, fix
        super().__init__(" ".join(f"{field}: {problem}; {fix}".split()))

    @classmethod
    def from_line(cls, line: str) -> Refusal:
        """A refusal from the vocabulary's one-line form 'field: problem; fix' (precision.dtype_refusal, ...)."""
        field, _, rest = line.partition(": ")
        problem, _, fix = rest.partition("; ")
        return cls(field, problem, fix)


@dataclass(frozen=True)
class Route:
    """How the answering coefficients are reached from what was fitted.

    `key`: the fit key whose coefficients answer, on the source GPU (an unmeasured degree's own key where the
    tensor-parallel law answers); `gpu_transfer`: None (the deployment's own GPU), `sibling` or `datasheet`;
    `model_transfer`: the transfer family (`vllm`, `vllm-moe`, ...) where the model was not measured at `key`.
    """

    key: FitKey
    gpu_transfer: str | None = None
    datasheet: DatasheetTransfer | None = None
    tp_law: TpLaw | None = None
    model_transfer: str | None = None
    option: str | None = None  # decoding | speculative: the option's rule moved the greedy answer


@dataclass(frozen=True)
class Resolution:
    """What an answer for one deployment rests on: its kind, source GPU, route, interval and why."""

    kind: str
    source_gpu: str
    route: Route
    bounds: LogBounds  # the interval's log bounds: exp(lo) .. exp(hi) x the estimate
    reasons: tuple[str, ...]
    ranges: Ranges
    held_out: HeldOut | None = None
    extrapolation_bounds: LogBounds | None = None  # the interval of a request beyond `ranges`
    idle_measured: bool = True  # False where the loaded idle follows a stated rule (a GPU never measured)
    option_reason: str | None = None
    external_band: LogBounds | None = None  # the published-agreement band the bounds were widened to span

    def basis(self) -> Basis:
        """The `Basis` an `EnergyModel` answers with."""
        return Basis(self.kind, self.bounds, "; ".join(self.reasons), self.ranges, held_out=self.held_out,
                     extrapolation_log_bounds=self.extrapolation_bounds, idle_measured=self.idle_measured,
                     option=self.option_reason, external_log_bounds=self.external_band)

"""The fit key: what one set of fitted coefficients is for, a GPU kind and a serving configuration's key."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from energy_predict.serving import KEY_FIELDS, Serving, key_from_dict


@dataclass(frozen=True)
class FitKey:
    """A GPU kind and a `Serving.key`: the identity a model is fitted and looked up by.

    `serving` is the serving key as `Serving.key` gives it; its fields are read by name (`field`), never by
    position, so a field added to the key changes nothing here.
    """

    gpu: str
    serving: tuple

    @classmethod
    def of(cls, gpu: str, serving: Serving) -> FitKey:
        """The key a deployment on `gpu` served with `serving` is fitted under."""
        return cls(gpu, serving.key)

    @classmethod
    def from_json(cls, gpu: str, serving: dict[str, Any]) -> FitKey:
        """From a card's form: the GPU and the serving key as an object of its fields."""
        return cls(str(gpu), key_from_dict(serving))

    @classmethod
    def from_flat(cls, flat: tuple) -> FitKey:
        """From the coefficient tables' form, (GPU, *serving key) (`PhaseCoefficients.coef_`)."""
        return cls(flat[0], tuple(flat[1:]))

    @property
    def flat(self) -> tuple:
        """(GPU, *serving key): how the coefficient tables (`model/phases.py`) index their coefficients."""
        return (self.gpu, *self.serving)

    def serving_json(self) -> dict[str, Any]:
        """The serving key as an object of its fields (the card's form)."""
        return dict(zip(KEY_FIELDS, self.serving))

    def field(self, name: str) -> Any:
        """One field of the serving key, by name."""
        return self.serving[KEY_FIELDS.index(name)]

    @property
    def framework(self) -> str:
        return self.field("framework")

    @property
    def quantization(self) -> str | None:
        return self.field("quantization")

    @property
    def tensor_parallel(self) -> int:
        return self.field("tensor_parallel")

    def with_field(self, name: str, value: Any) -> FitKey:
        """The same key with one serving field changed."""
        at = KEY_FIELDS.index(name)
        return replace(self, serving=(*self.serving[:at], value, *self.serving[at + 1:]))

    def tp_family(self) -> FitKey:
        """The key at tensor-parallel degree 1: what every degree of one GPU and configuration shares."""
        return self.with_field("tensor_parallel", 1)

    def on(self, gpu: str) -> FitKey:
        """The same serving configuration on another GPU."""
        return replace(self, gpu=gpu)

    def describe(self) -> str:
        """'framework=vllm cuda_graphs=True ...': the framework, CUDA graphs and the fields off their defaults."""
        default = Serving().key_dict()
        return " ".join(f"{f}={v}" for f, v in zip(KEY_FIELDS, self.serving)
                        if f in ("framework", "cuda_graphs") or v != default[f])

"""The base of every value stored as JSON in an artifact: unknown keys refused, frozen, its keys' order kept.

Stored files are compared byte for byte (a refit must reproduce the shipped model card), and their sections were
written in several key orders before they had types. So a stored value remembers the order its keys were given in,
on read or at construction, and writes them back in that order, leaving out the fields that were never given: what
was read is written back unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, SerializationInfo, model_serializer, model_validator


class Stored(BaseModel):
    """A JSON value of an artifact, validated on read (`extra="forbid"`), written back as read."""

    # a stored number is finite: NaN or 1e999 in an edited card is refused on read, never printed
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False,
                              defer_build=True)
    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: Any) -> Any:
        value = handler(data)
        if isinstance(data, dict) and value is not data:
            value.__pydantic_private__["_order"] = tuple(data)
        return value

    @model_serializer(mode="wrap")
    def _in_given_order(self, handler: Any, info: SerializationInfo) -> dict[str, Any]:
        out = handler(self)
        fields = type(self).model_fields
        names = {(f.alias if info.by_alias and f.alias else name): name for name, f in fields.items()}
        given = [k for k in self._order if names.get(k, k) in self.model_fields_set]
        rest = [k for k, name in names.items() if name in self.model_fields_set and k not in given]
        return {k: out[k] for k in given + rest if k in out}

    def __eq__(self, other: object) -> bool:
        """Equal values, whatever order their keys were given in."""
        return type(other) is type(self) and self.__dict__ == other.__dict__  # type: ignore[union-attr]

    def to_json(self) -> dict[str, Any]:
        """The JSON form, as stored."""
        return self.model_dump(mode="json", by_alias=True)

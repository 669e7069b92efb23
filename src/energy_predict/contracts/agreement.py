"""Agreement with independent published measurements: artifacts/external/published_agreement.json.

benchmarks/published.py writes it (full mode only) from the public points the shipped model answers with basis
`measured`: per fit key (GPU and serving configuration), how far published / tool ranged in log. The resolver widens
a `measured` answer's interval to that band where the key matches (issue 25: where an independent measurement
disagrees, the tool does not answer narrow). Read once, validated (`extra="forbid"`), never hand-written.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from energy_predict.contracts.card import Keyed
from energy_predict.contracts.keys import FitKey
from energy_predict.contracts.scores import LogBounds
from energy_predict.contracts.stored import Stored

AGREEMENT_SCHEMA = "energy-predict/published-agreement/v1"
MIN_POINTS_QUANTILES = 20  # from this many points a band is the 5-95% quantiles of the log ratios, else min..max


class PublishedSource(Stored):
    """One public source behind a band, as benchmarks/data/published/ records it."""

    id: str
    title: str
    address: str = Field(pattern=r"^https://")


class AgreementBand(Keyed):
    """published / tool over the points of one fit key answered `measured`: log bounds and what they rest on."""

    n: int = Field(ge=1, description="published points answered with basis measured under this key")
    models: list[str] = Field(min_length=1)
    sources: list[str] = Field(min_length=1, description="source ids (PublishedAgreement.sources)")
    statistic: Literal["min-max", "5-95% quantiles"]
    log_ratio: LogBounds = Field(description="log(published / tool): the band's low and high")


class PublishedAgreement(Stored):
    """The bands, the model they were scored against (sha256 of its files) and how they were made."""

    schema_version: Literal["energy-predict/published-agreement/v1"]
    what: str
    model: str
    model_sha256: dict[str, str] = Field(description="the scored model folder's manifest: file -> sha256")
    benchmark: str
    command: str
    commit: str | None
    created: str
    mapping: str = Field(description="how a published point became a question to the tool")
    sources: list[PublishedSource]
    bands: list[AgreementBand]

    def band(self, key: FitKey) -> AgreementBand | None:
        """The band of a fit key, or None where no published point was answered `measured` under it."""
        return next((b for b in self.bands if b.key == key), None)

    def titles(self, ids: list[str]) -> list[str]:
        """The titles of source ids (the id itself where the file does not list it)."""
        named = {s.id: s.title for s in self.sources}
        return [named.get(i, i) for i in ids]

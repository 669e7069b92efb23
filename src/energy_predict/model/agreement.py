"""An answer's interval spans what independent published measurements read (issue 25's "Done when").

The in-domain interval is sized by held-out cells of our own calibration. Where public measurements of the same GPU
and serving configuration (benchmarks/published.py: ML.ENERGY v3, Argonne) answered `measured` read outside it, an
answer computed from that key's coefficients (measured there, or transferred from there to another model or GPU) is
widened, never narrowed, to the band of published / tool those points spanned (`cover_band`), and says so
(`band_note`). The band is derived from those very points, so it covers them by construction: it is a disclosure
of disagreement, not a validation. The bands are read from artifacts/external/published_agreement.json
(`load_agreement`), only for the model they were scored against (its files' sha256).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pydantic import ValidationError

from energy_predict.contracts.agreement import AgreementBand, PublishedAgreement
from energy_predict.contracts.scores import LogBounds
from energy_predict.errors import EnergyPredictError
from energy_predict.jsonio import read_regular
from energy_predict.provenance import artifacts_dir

AGREEMENT_FILE = Path("external") / "published_agreement.json"
MAX_AGREEMENT_BYTES = 2**20  # a few bands: a few kB
REWRITE = "rewrite it with 'python benchmarks/published.py' (full mode), or delete it to answer without its bands"


def agreement_path() -> Path:
    """Where the shipped bands live."""
    return artifacts_dir() / AGREEMENT_FILE


def load_agreement(path: Path | None = None) -> PublishedAgreement | None:
    """The bands of `path` (the shipped file by default); None where there is no file.

    A file that is there but does not hold bands this version reads is an EnergyPredictError of one line naming the
    file, the field and the fix: a malformed file is never silently dropped.
    """
    path = agreement_path() if path is None else path
    if not path.exists():
        return None
    try:
        raw = json.loads(read_regular(path, "published agreement", "a published agreement file", MAX_AGREEMENT_BYTES))
        return PublishedAgreement.model_validate(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EnergyPredictError(f"{path}: not readable JSON ({type(exc).__name__}); {REWRITE}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise EnergyPredictError(" ".join(f"{path}: {where}: {first['msg']}; {REWRITE}".split())) from None
    except EnergyPredictError as exc:  # read_regular's InputError: not a regular file, too large
        raise EnergyPredictError(f"{path}: {exc}; {REWRITE}") from None


def for_model(agreement: PublishedAgreement | None, sha256: dict[str, str]) -> PublishedAgreement | None:
    """The bands where they were scored against the model whose files have these sha256, else None."""
    return agreement if agreement is not None and agreement.model_sha256 == sha256 else None


def cover_band(bounds: LogBounds, band: AgreementBand) -> tuple[LogBounds, bool]:
    """`bounds` widened, where narrower, to hold the band's log(published / tool); and whether it widened.

    The widened interval always holds the estimate (lo <= 0 <= hi): a band wholly above 1 widens only the top.
    """
    lo, hi = band.log_ratio
    out = (min(bounds[0], lo), max(bounds[1], hi))
    return out, out != tuple(bounds)


def band_note(band: AgreementBand, agreement: PublishedAgreement, where: str = "this GPU and engine") -> str:
    """The clause a basis reason carries where `cover_band` widened its interval (`where`: whose measurements)."""
    lo, hi = band.log_ratio
    sources = ", ".join(t.split(" (")[0] for t in agreement.titles(band.sources))
    stat = "range" if band.statistic == "min-max" else "5-95% quantiles"
    return (f"independent published measurements of {where} ({sources}, {band.n} points: "
            f"{', '.join(band.models)}) read {math.exp(lo):.2f}-{math.exp(hi):.2f}x the tool's answer for those "
            f"configurations ({stat}): the interval of the busy energy spans them (all of an offline answer; online, "
            "idle energy carries the measured loaded-idle readings' own 5-95% spread, not this band)")

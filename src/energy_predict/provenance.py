"""Provenance shared by every stage: the commit the code runs from, and the time, for artifacts and cards."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path


def git_commit(path: Path | None = None) -> str | None:
    """The commit of the checkout this code runs from (None outside git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path or Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now_iso() -> str:
    """Now, UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def source_root() -> Path | None:
    """The repository root when this code runs from a source checkout (src/ layout), else None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "artifacts").is_dir() else None


def artifacts_dir() -> Path:
    """The artifacts folder: the repository's in a checkout, the one installed beside the package otherwise.

    The wheel carries the repository's `artifacts/` as package data (`energy_predict/artifacts/`, data only).
    """
    root = source_root()
    return root / "artifacts" if root is not None else Path(__file__).resolve().parent / "artifacts"

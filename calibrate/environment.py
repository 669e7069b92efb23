"""What a run ran on: host, GPU, software versions, commit. Captured by default beside every result."""

from __future__ import annotations

import platform
import subprocess
import sys
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


def host_info() -> dict:
    """Host, Python, platform, package version and commit, for provenance."""
    import energy_predict

    return {"hostname": platform.node(), "python": sys.version.split()[0], "platform": platform.platform(),
            "energy_predict": energy_predict.__version__, "commit": git_commit()}

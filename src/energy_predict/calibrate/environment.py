"""What a run ran on: host, GPU, software versions, commit. Captured by default beside every result."""

from __future__ import annotations

import platform
import sys

from energy_predict.provenance import git_commit, now_iso

__all__ = ["git_commit", "host_info", "now_iso"]


def host_info() -> dict:
    """Host, Python, platform, package version and commit, for provenance."""
    import energy_predict

    return {"hostname": platform.node(), "python": sys.version.split()[0], "platform": platform.platform(),
            "energy_predict": energy_predict.__version__, "commit": git_commit()}

"""Ray, joined or started here: the one session that calibration campaigns, replays and `plan --ray` use.

Ray is imported only when a session opens (the `ray` extra); a missing install is bad input naming the extra.
Imports no stage: `calibrate/` and `predict/` both use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from energy_predict.errors import InputError


def import_ray() -> Any:
    """The ray module, or InputError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray", "Ray is not installed",
                         "pip install 'energy-predict[ray]' (offline: see the README's wheels line)") from None
    return ray


# A Unix socket's path holds at most 107 bytes, and Ray puts its sockets at
# <temp>/ray/session_<date>_<time>_<microseconds>_<pid>/sockets/plasma_store: 68 bytes after <temp>.
SOCKET_PATH_BYTES = 107
RAY_SOCKET_SUFFIX_BYTES = len("/ray/session_2026-01-01_00-00-00_000000_4194304/sockets/plasma_store")
RAY_TMPDIR_FIX = "e.g. RAY_TMPDIR=/tmp"


def ray_temp_dir() -> str:
    """The folder a local Ray puts its session (and sockets) under: RAY_TMPDIR, else the usual temp folder."""
    import tempfile

    return os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()


def check_ray_temp_dir() -> None:
    """Refuse, before Ray starts, a temp folder whose socket paths would exceed what a Unix socket holds."""
    temp = ray_temp_dir()
    longest = len(os.fsencode(temp)) + RAY_SOCKET_SUFFIX_BYTES
    if longest > SOCKET_PATH_BYTES:
        raise InputError("--ray", f"Ray's temp folder {temp} is too long for its sockets ({longest} bytes of path, "
                         f"a Unix socket holds {SOCKET_PATH_BYTES})", f"set RAY_TMPDIR to a short folder "
                         f"({RAY_TMPDIR_FIX})")


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Ray, joined at `address` ("auto": the cluster this machine is in) or started here ("local", None).

    A connection the caller made already (tests, notebooks) is used as it is and left open; one made here is
    shut down at the end.
    """
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        local = address in (None, "", "local")
        if local:
            check_ray_temp_dir()
        try:
            if local:
                ray.init(include_dashboard=False)
            else:
                ray.init(address=address)
        except OSError as exc:  # a socket path too long, most often: one line, not Ray's traceback
            raise InputError("--ray", f"Ray did not start ({' '.join(str(exc).split())[:300]})",
                             f"set RAY_TMPDIR to a short folder ({RAY_TMPDIR_FIX})") from None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()

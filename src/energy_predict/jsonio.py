"""Reading user JSON files: one place that turns a missing file or bad syntax into an InputError."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from energy_predict.errors import InputError


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages ("an array", not "a list")."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def is_file(path: str | Path) -> bool:
    """Path.is_file, False (not an OSError) for a name too long for the file system."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def is_dir(path: str | Path) -> bool:
    """Path.is_dir, False (not an OSError) for a name too long for the file system."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


# A profile of a million samples is ~15 MB; a JSON input beyond this is not one of ours (or /dev/zero behind a name).
MAX_JSON_BYTES = 256 * 2**20


def read_regular(path: str | Path, field: str, what: str, max_bytes: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; InputError for anything else.

    Opened without blocking and checked on the open descriptor: a named pipe, a device (/dev/zero, /dev/stdin) or
    a folder behind the name is refused at once instead of hanging or reading for ever, and the check cannot be
    raced by swapping the name between a check and the read.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(field, f"no file at {p}", f"give the path to {what}") from None
    except (OSError, ValueError) as exc:
        raise InputError(field, f"{p} cannot be opened ({getattr(exc, 'strerror', None) or type(exc).__name__})",
                         f"give the path to {what} you can read") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(field, f"{p} is not a regular file (a folder, a pipe or a device)",
                             f"give the path to {what}")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(field, f"{p} cannot be read ({exc.strerror or type(exc).__name__})",
                         "check the file's permissions") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise InputError(field, f"{p} is larger than {max_bytes // 2**20} MiB, more than {what} ever is",
                         f"give {what}")
    return data


def read_json(path: str | Path, field: str, what: str) -> Any:
    """Decode `path`; `field` names the option or key the user set, `what` the kind of file expected."""
    p = Path(path)
    if not is_file(p):
        raise InputError(field, f"no file at {p}", f"give the path to {what}")
    try:
        text = read_regular(p, field, what).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(field, f"{p} is not a UTF-8 text file", f"give {what}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"{p} is not valid JSON (line {exc.lineno}: {exc.msg})"
        raise InputError(field, problem, "fix the JSON syntax") from None
    except RecursionError:  # the decoder recurses once per nesting level
        raise InputError(field, f"{p} nests arrays or objects too deeply to read",
                         f"give {what}, which nests a few levels") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise InputError(field, f"{p} holds a value that cannot be read ({str(exc).split(':')[0]})",
                         "fix the value") from None

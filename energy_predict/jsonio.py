"""Reading user JSON files: one place that turns a missing file or bad syntax into an InputError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from energy_predict.errors import InputError


def read_json(path: str | Path, field: str, what: str) -> Any:
    """Decode `path`; `field` names the option or key the user set, `what` the kind of file expected."""
    p = Path(path)
    if not p.is_file():
        raise InputError(field, f"no file at {p}", f"give the path to {what}")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        problem = f"{p} is not valid JSON (line {exc.lineno}: {exc.msg})"
        raise InputError(field, problem, "fix the JSON syntax") from None
    except UnicodeDecodeError:
        raise InputError(field, f"{p} is not a text file", f"give {what}") from None

"""Writing what a user asked for (`--csv`, `--plot`, `-o`, standard output) safely, or saying in one line why not.

Every file is written to a temporary file in the target's folder and renamed over the target, so a failed write
(a full disk, a read-only or pseudo file system, a name too long) leaves nothing half-written and the old file, if
any, intact. A symbolic link at the target, or a folder reached through one, is refused rather than followed: the
file it points to would be overwritten. A target that exists and is not a regular file (a folder, `/dev/full`, a
FIFO) is refused before any work. Every OS error becomes an `InputError` naming the option and the path.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from energy_predict.errors import EnergyPredictError, InputError

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _reason(exc: OSError) -> str:
    """The OS's words for an error, without the path (the message names it once)."""
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long for the file system"
    return exc.strerror or type(exc).__name__


def _lstat(path: Path, option: str) -> os.stat_result | None:
    """The path's own status (a link is not followed); None when nothing is there."""
    try:
        return path.lstat()
    except (FileNotFoundError, NotADirectoryError):  # nothing there (a file on the way is the folder check's)
        return None
    except OSError as exc:
        raise InputError(option, f"cannot reach {path}: {_reason(exc)}", "give another path") from None


def check_output_file(path: Path, option: str, suffixes: tuple[str, ...] | None = None) -> None:
    """Refuse, before any work, a file target that cannot or must not be written (InputError naming `option`)."""
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(option, f"{path} has the extension {path.suffix or '(none)'!r}, not one of "
                         f"{', '.join(suffixes)}", f"give a file name ending in {suffixes[0]}")
    info = _lstat(path, option)
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise InputError(option, f"{path} is a symbolic link; writing would overwrite what it points to",
                             "give the real path, or remove the link")
        if stat.S_ISDIR(info.st_mode):
            raise InputError(option, f"{path} is a folder", "give the path of a file to write")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(option, f"{path} is not a regular file", "give the path of a file to write")
    check_output_folder(path.parent, option, create=False)


def check_output_folder(folder: Path, option: str, create: bool = True) -> None:
    """Refuse a folder target that is a link, a file, or (with `create` False) missing."""
    for place in (folder, *folder.parents):
        info = _lstat(place, option)
        if info is None:
            if not create:
                raise InputError(option, f"no folder {place}", "give a path in an existing folder")
            continue
        if stat.S_ISLNK(info.st_mode):  # the folder written into (or the nearest one a new folder goes into)
            raise InputError(option, f"{place} is a symbolic link; writing through it would write where it points",
                             "give the real folder path")
        try:
            is_folder = stat.S_ISDIR(os.stat(place).st_mode)
        except OSError as exc:
            raise InputError(option, f"cannot reach {place}: {_reason(exc)}", "give another path") from None
        if not is_folder:
            raise InputError(option, f"{place} is a file, not a folder", "give a folder path")
        return


def write_file(path: Path, option: str, write: Callable[[Path], None]) -> Path:
    """Write `path` atomically: `write(tmp)` fills a temporary file beside it, which then replaces `path`."""
    check_output_file(path, option)
    folder = path.parent
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name[:100]}.", suffix=".tmp")
        os.close(fd)
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # a new file's usual mode, not mkstemp's owner-only 0600
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise InputError(option, f"cannot write {path}: {_reason(exc)}",
                         "give a path on a writable file system with free space") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


def write_text(path: Path, option: str, text: str) -> Path:
    """`write_file` for text (UTF-8)."""
    return write_file(path, option, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def make_folder(folder: Path, option: str) -> Path:
    """Create an output folder (and its parents), refusing links and files on the way."""
    check_output_folder(folder, option)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(option, f"cannot make the folder {folder}: {_reason(exc)}",
                         "give a folder on a writable file system") from None
    return folder


# Colour and style (SGR) sequences are what rich itself writes to a terminal, and only to one; every other escape
# sequence and control character (clear screen, set title, cursor moves, bell, backspace) is stripped from what is
# printed, and off a terminal the colour sequences too.
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_CONTROL = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: set title, hyperlinks
                      r"|\x1b\[[0-?]*[ -/]*[@-~]|\x1b.?"  # CSI (clear, move) and other ESC sequences
                      r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 (but tab and newline) and C1 controls


def printable(text: str, keep_style: bool = False) -> str:
    """Text safe to print: escape sequences and control characters stripped, lone surrogates escaped.

    A profile's name, a currency, a trace's column or a card's name can hold anything; printed raw, ESC sequences
    clear the screen or retitle the terminal, and a surrogate ends the run in UnicodeEncodeError. `keep_style`
    keeps colour sequences (what rich writes to a terminal), and only those.
    """
    if keep_style:
        kept, styles = _SGR.split(text), _SGR.findall(text)
        text = "".join(_CONTROL.sub("", part) + (styles[k] if k < len(styles) else "") for k, part in enumerate(kept))
    else:
        text = _CONTROL.sub("", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _GuardedStdout:
    """Standard output (or error) that prints only `printable` text and whose failed writes raise our error."""

    def __init__(self, stream) -> None:
        self._stream = stream
        try:
            self._terminal = bool(stream.isatty())  # rich styles its output only there
        except (AttributeError, OSError, ValueError):
            self._terminal = False

    def write(self, text: str) -> int:
        try:
            self._stream.write(printable(text, keep_style=self._terminal))
        except OSError as exc:
            raise _stdout_lost(exc) from None
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise _stdout_lost(exc) from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def check_stdout() -> None:
    """Refuse to run when standard output is closed (`>&-`): the answer would be lost with exit code 0.

    Otherwise guard it, so that a full disk or a closed pipe met while printing is one line and exit code 2.
    """
    if sys.stdout is None:
        raise EnergyPredictError("standard output is closed; run the command with its output going somewhere "
                                 "(a terminal, a pipe or a file)")
    if not isinstance(sys.stdout, _GuardedStdout):
        sys.stdout = _GuardedStdout(sys.stdout)


def _stdout_lost(exc: OSError) -> EnergyPredictError:
    """Our error for a failed standard output, which is pointed at /dev/null first.

    Without that, the interpreter's own flush at exit would add 'Exception ignored' after our one line.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    what = "the reader closed the pipe" if exc.errno == errno.EPIPE else _reason(exc)
    return EnergyPredictError(f"could not write to standard output: {what}")


def flush_stdout() -> None:
    """Push standard output out now, so that a full disk or a broken pipe is an error (EnergyPredictError)."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except OSError as exc:
        raise _stdout_lost(exc) from None


def os_error_line(exc: OSError) -> EnergyPredictError:
    """An OS error that escaped a command, as one line: standard output's own failure named as such."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as stdout_exc:
        return _stdout_lost(stdout_exc)
    if isinstance(exc, BrokenPipeError):
        return _stdout_lost(exc)
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return EnergyPredictError(f"{_reason(exc)}{where}")


def append_csv_row(path: Path, option: str, columns: tuple[str, ...], row: dict) -> Path:
    """Add one row to a CSV (a header first when the file is new); the file is rewritten atomically.

    A file whose header is not `columns` is refused, not appended to: its rows would be read under the wrong names.
    """
    import csv
    import io

    check_output_file(path, option, (".csv",))
    old = ""
    if path.exists():
        try:
            old = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(option, f"cannot read {path}: {exc}", "give a new file, or one this option wrote") \
                from None
    header = ",".join(columns)
    if old and old.splitlines()[0] != header:
        raise InputError(option, f"{path} has other columns than a run summary's ({header})",
                         "give a new file, or one this option wrote")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not old:
        writer.writerow(columns)
    elif not old.endswith("\n"):
        buffer.write("\n")
    writer.writerow([_spreadsheet_safe(row.get(c)) for c in columns])
    return write_text(path, option, old + buffer.getvalue())


def _spreadsheet_safe(value):
    """A text cell a spreadsheet would run as a formula (=, +, -, @ first) gets a leading apostrophe; numbers stay."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value

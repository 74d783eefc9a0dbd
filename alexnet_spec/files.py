"""Writing output files: whole or not at all, only regular files, with the mode a plain write would give.

Every `-o` of the CLI and every weight file goes through `write_text` / `write_bytes`: the data goes to a temporary
file beside the target, is flushed to disk, then renamed over it, so a reader never sees half a file and a failed
write (a full disk, say) leaves the old file as it was and no temporary behind. Problems the user can fix (a missing
directory, a directory or a device where the file should go, no space left) are one-line SpecErrors naming the
file.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from alexnet_spec.errors import Diagnostic, SpecError


def write_text(path: str | Path, text: str) -> None:
    """Write `text` as UTF-8 to `path`, atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path`, atomically; a SpecError naming the file for anything the user can fix."""
    target = _regular_target(Path(path), shown=str(path))
    mode = _mode_for(target)
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as error:
        raise _write_error(str(path), error) from None
    try:
        try:
            _write_all(handle, data)
            os.fsync(handle)  # on disk before the rename, so a crash cannot leave an empty file under the name
        finally:
            os.close(handle)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException as error:
        _remove_quietly(temporary)
        if isinstance(error, OSError):
            raise _write_error(str(path), error) from None
        raise


def current_umask() -> int:
    """The process's umask (POSIX has no call that reads it without setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    """An existing file keeps its permissions (as `open(path, "w")` would); a new one gets 0o666 less the umask,
    not mkstemp's 0o600."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def _regular_target(path: Path, shown: str) -> Path:
    """The file to replace: `path`, or what a symlink at `path` points to (a plain write goes through the link).

    Refuses what is not, or cannot become, a regular file: renaming over /dev/null or a FIFO would replace the
    node (or fail as root does not), and writing "into" a directory is a typo."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise _write_error(shown, error) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise SpecError(Diagnostic("is a directory; cannot write a file here", file=shown))
    if mode is not None and not stat.S_ISREG(mode):
        raise SpecError(Diagnostic(f"is a {_kind(mode)}, not a regular file; refusing to write to it", file=shown))
    parent = target.parent
    if not parent.is_dir():
        what = "no such directory" if not parent.exists() else "not a directory"
        raise SpecError(Diagnostic(f"cannot write the file: {what}: {parent}", file=shown))
    return target


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def _write_all(handle: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(handle, view)
        view = view[written:]


def _write_error(shown: str, error: OSError) -> SpecError:
    reason = error.strerror or os.strerror(error.errno or errno.EIO)
    return SpecError(Diagnostic(f"cannot write the file: {reason}", file=shown))


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

"""Writing files so that a reader never sees a half-written one."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Callable

from .errors import OutputError

ADVICE = {errno.ENAMETOOLONG: "use a shorter file name",
          errno.ENOSPC: "free some disk space"}  # otherwise: choose a folder you can write to


def write_atomically(path, write: Callable[[str], object]) -> Path:
    """Call write(temporary_path) beside `path`, then move the result onto `path` in one step.

    An OSError (no permission, a full disk, a name too long) becomes an OutputError naming the file.
    """
    path = Path(path)
    tmp = _temporary_file(path)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual permissions
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise cannot_write(path, err) from None
        raise
    return path


def check_writable(path) -> None:
    """OutputError unless write_atomically(path, ...) can create its temporary file (checked before long work)."""
    Path(_temporary_file(Path(path))).unlink()


def cannot_write(path, err: OSError) -> OutputError:
    """The OutputError for an OSError met while writing `path`: the file, the reason and what to do."""
    reason = (err.strerror or str(err)).lower()
    return OutputError(f"cannot write {path}: {reason}; {ADVICE.get(err.errno, 'choose a folder you can write to')}")


def remove_stale_temporaries(folder, names) -> None:
    """Remove what write_atomically left of `names` in `folder` when its process was killed mid-write."""
    for name in names:
        for stale in Path(folder).glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)


def _temporary_file(path: Path) -> str:
    try:
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise cannot_write(path, err) from None
    os.close(handle)
    return tmp


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

"""Moving a finished temporary file into place: `os.replace`, but never over a device, a pipe or a socket. Renaming
over `--out /dev/full` (as root) would replace the device node with a regular file; a target that exists must be
a regular file (or a symbolic link, which is replaced, not followed)."""
from __future__ import annotations

import os
import stat

from .errtext import NotRegularFile


def replace(tmp, path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", os.fspath(path))
        raise NotRegularFile(os.fspath(path))
    os.replace(tmp, path)

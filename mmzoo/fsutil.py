"""Write files so that a crash or Ctrl-C never leaves a half-written one, and open
files so that a planted symlink, a device or a FIFO is refused, never followed or waited on."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_path(path: Path) -> Path:
    """A fresh temp file beside `path`, with the mode a plain open() would give.

    mkstemp makes files 0600; without the chmod an export or checkpoint would
    end up unreadable to the rest of the team once renamed into place.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return Path(tmp)


def write_synced(path: Path, data: bytes) -> None:
    """Write and fsync, so that a rename after it never exposes a half-written file."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp name in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write_synced(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_dir(path.parent)


def sync_dir(folder: Path) -> None:
    """fsync a folder so a rename inside it survives a crash (where the OS allows it)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def open_regular(path: Path) -> tuple[int, int]:
    """(fd, size) of a regular file, or MmzooError: never a device, FIFO or socket.

    O_NONBLOCK so that opening a FIFO with no writer returns at once (then refused)
    instead of waiting forever; /dev/zero or /dev/urandom would never end a read.
    """
    from mmzoo.errors import MmzooError

    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise MmzooError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise MmzooError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise MmzooError(f"cannot read {path}: {exc.strerror}") from None
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        os.close(fd)
        raise MmzooError(f"{path} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise MmzooError(f"{path} is not a regular file (a device, FIFO or socket): refused")
    return fd, info.st_size


def check_regular(path: Path) -> int:
    """The size of a regular file, or MmzooError (see open_regular): before a streamed read."""
    fd, size = open_regular(path)
    os.close(fd)
    return size


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or MmzooError: a user-named
    or run-named path is never read without bound."""
    from mmzoo.errors import MmzooError

    fd, size = open_regular(path)
    with os.fdopen(fd, "rb") as f:
        if size > limit:
            raise MmzooError(f"{path} is {size:,} bytes, over the limit of {limit:,} for this file")
        data = f.read(limit + 1)  # a file that grows while read is still bounded
    if len(data) > limit:
        raise MmzooError(f"{path} is over the limit of {limit:,} bytes for this file")
    return data


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open with O_NOFOLLOW: a symlink planted at `path` is refused, never followed."""
    from mmzoo.errors import MmzooError

    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MmzooError(f"{path} is a symbolic link: refused (mmzoo never writes through one)") from None
        raise

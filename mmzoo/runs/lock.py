"""One writer per run folder or export target, enforced by the OS.

An flock on a small `.NAME.lock` file beside the target: the kernel drops it when
the process dies (even by kill -9), so a crash never leaves a stale lock, and a
second `mmzoo train --out X` refuses at once instead of interleaving its
checkpoints and metrics with the first's. The lock file is beside the target, not
inside it, so that it can be taken before the target exists.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path
from types import TracebackType

from mmzoo.errors import MmzooError
from mmzoo.fsutil import open_nofollow


def lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


class TargetLock:
    """`with TargetLock(path, "train"):` holds the lock on `path` or raises MmzooError."""

    def __init__(self, target: Path, what: str) -> None:
        self.target = Path(target)
        self.what = what
        self.fd: int | None = None

    def acquire(self) -> None:
        path = lock_path(self.target)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MmzooError(f"cannot create {path.parent}: {exc.strerror}") from None
        for _ in range(10):
            try:  # O_NOFOLLOW: a symlink planted as the lock file would have its target truncated
                fd = open_nofollow(path, os.O_RDWR | os.O_CREAT)
            except OSError as exc:
                raise MmzooError(f"cannot lock {self.target}: {exc.strerror} ({path})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip()
                os.close(fd)
                raise MmzooError(
                    f"another mmzoo {holder or 'process'} is writing {self.target}; wait for it or choose another --out"
                ) from None
            # The previous holder may have unlinked the file between our open and our lock:
            # then we hold a lock nobody else can see, so start over on the current file.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same and not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise MmzooError(f"cannot lock {self.target}: {path} is not a regular file")
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{self.what} (pid {os.getpid()})".encode())
                self.fd = fd
                return
            os.close(fd)
        raise MmzooError(f"cannot lock {self.target}: the lock file keeps changing")

    def release(self) -> None:
        if self.fd is None:
            return
        lock_path(self.target).unlink(missing_ok=True)  # while still held: see acquire
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> TargetLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def sweep_stale_partials(folder: Path) -> list[Path]:
    """Remove the `.NAME.partial` staging folders in `folder` that no live process is
    writing (their lock is free): what a kill -9 before the first checkpoint left.

    Only for mmzoo's own folders (runs/MODEL/), whose default --out names are
    timestamped, so no later training into the same --out would ever clear them.
    Returns what was removed."""
    import shutil

    removed: list[Path] = []
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".partial")]
    except OSError:
        return removed
    for staged in candidates:
        if staged.is_symlink() or not staged.is_dir():
            continue
        lock = TargetLock(folder / staged.name[1 : -len(".partial")], "train")
        try:
            lock.acquire()
        except MmzooError:
            continue  # a live training holds it (or it cannot be locked): leave it
        try:
            shutil.rmtree(staged, ignore_errors=True)
            removed.append(staged)
        finally:
            lock.release()
    return removed

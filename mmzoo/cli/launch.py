"""`mmzoo train --nproc N`: run torchrun for the user, on this machine.

It is exactly `python -m torch.distributed.run --standalone --nproc-per-node N
-m mmzoo train ...` with the same arguments less --nproc; several machines use
torchrun's rendezvous directly (docs/scaling.md). Torch-free: torchrun and the
workers import torch, this parent only waits for them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from mmzoo.errors import MmzooError


def without_nproc(argv: list[str]) -> list[str]:
    """argv less `--nproc N` / `--nproc=N`."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def torchrun_command(nproc: int, argv: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "mmzoo",
        *without_nproc(argv),
    ]


def launch(nproc: int, argv: list[str]) -> int:
    """Run torchrun and return its exit status; 130 when interrupted with Ctrl-C."""
    if nproc < 1:
        raise MmzooError("--nproc must be >= 1")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise MmzooError("--nproc launches torchrun; this process already runs under torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    interrupted = False

    def note(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True  # torchrun gets the same Ctrl-C and stops the workers; wait for it

    previous = signal.signal(signal.SIGINT, note)
    try:
        proc = subprocess.Popen(torchrun_command(nproc, argv), env=env)
        while True:
            try:
                code = proc.wait()
                break
            except KeyboardInterrupt:  # pragma: no cover - the handler above replaces it
                interrupted = True
    except OSError as exc:
        raise MmzooError(f"cannot start torchrun: {exc}") from None
    finally:
        signal.signal(signal.SIGINT, previous)
    return 130 if interrupted else code

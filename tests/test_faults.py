"""kill -9 a training at random moments: the run folder is always either absent or
a loadable run that `--resume` finishes.

Twenty kills land anywhere in a training, from start-up through every checkpoint
write, in processes forked from one that has already imported torch (so that a
kill costs a fork, not a second of imports); two more kill the installed `mmzoo`
command itself during its real start-up.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import BUILTIN_NAMES, mmzoo_bin

STEPS = 600  # bigram-nn evaluates and saves every 250 steps: 3 checkpoint writes
TRAIN = ["train", "bigram-nn", "--steps", str(STEPS), "--batch-size", "256", "--out", "X"]


def _forked(folder: Path, argv: list[str], kill_after: float | None) -> int | None:
    """Run `mmzoo ARGV` in a forked child in `folder`; SIGKILL it after `kill_after` s."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.chdir(folder)
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            from mmzoo.cli.app import main

            code = main(argv)
        finally:
            os._exit(code)
    if kill_after is not None:
        time.sleep(kill_after)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _check_folder(folder: Path) -> str:
    """'absent', or 'run' after checking it loads and that --resume finishes it."""
    from mmzoo.engine import checkpoint
    from mmzoo.engine.opened_run import open_run

    run = folder / "X"
    if not run.exists():
        return "absent"
    open_run(run)  # model.* verified and built
    checkpoint.load(run, last=True)  # last.* verified
    assert _forked(folder, [*TRAIN[:2], "--resume", "--out", "X"], None) == 0
    last = json.loads((run / checkpoint.LAST_META).read_text())
    assert last["step"] == STEPS
    open_run(run)
    return "run"


@pytest.mark.slow
def test_kill_9_at_random_moments_never_leaves_a_broken_run(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    data = tmp_path / "tiny.txt"
    data.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:300]) + "\n")
    argv = [*TRAIN, "--data", str(data)]
    # warm up this process (imports, plugins, torch's lazy modules) so that the forks start
    # where a real run is after its imports, then time one whole training
    from mmzoo.cli.app import main

    assert main([*TRAIN[:-2], "--out", str(_fresh(tmp_path, "warm") / "X"), "--data", str(data), "--json"]) == 0
    started = time.monotonic()
    assert _forked(_fresh(tmp_path, "timed"), argv, None) == 0
    whole = time.monotonic() - started
    rng = random.Random(13)
    outcomes = []
    for trial in range(20):
        folder = _fresh(tmp_path, f"t{trial}")
        _forked(folder, argv, rng.uniform(0, 1.1 * whole))  # any moment, from start-up to the end
        outcomes.append(_check_folder(folder))
    for trial in range(2):  # the real command, killed while it imports and starts
        folder = _fresh(tmp_path, f"cmd{trial}")
        proc = subprocess.Popen([mmzoo_bin(), *argv], cwd=folder, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 2.0))
        proc.kill()
        proc.wait()
        outcomes.append(_check_folder(folder))
    print(f"whole training {whole:.2f}s; outcomes {outcomes}")
    assert "absent" in outcomes and "run" in outcomes  # kills landed both before and after the first checkpoint


def _fresh(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    return folder

"""The console script's entry point. It imports neither typer nor torch unless the
command needs them: `mmzoo sample x.onnx` and `mmzoo info` take the fast path."""

from __future__ import annotations

import faulthandler
import signal
import sys

# What the full CLI needs beyond the core (numpy, onnxruntime): the `train` extra.
TRAIN_EXTRA = ("typer", "rich", "torch", "pluggy", "onnx", "onnxscript", "safetensors")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def entry() -> None:
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID` prints where a slow or stuck command is, and it goes on
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # `kill PID` as Ctrl-C: the lock file, a staged .NAME.partial and temp files are
        # cleaned up and the best checkpoint kept, where the default action left them all
        signal.signal(signal.SIGTERM, _terminate)
    from mmzoo.cli.fast import try_fast

    argv = sys.argv[1:]
    code = try_fast(argv)
    if code is None:
        try:
            from mmzoo.cli.app import main
        except ModuleNotFoundError as exc:
            if exc.name not in TRAIN_EXTRA:
                raise
            command = f"`mmzoo {argv[0]}`" if argv else "this command"
            print(
                f"mmzoo: error: {command} needs the full install (no module {exc.name!r}): "
                "the train extra, `pip install -c constraints.txt '.[train]'` in an mmzoo checkout "
                "(or 'WHEEL[train]'); this install samples from .onnx files only "
                "(mmzoo sample FILE.onnx, mmzoo info FILE.onnx)",
                file=sys.stderr,
            )
            sys.exit(2)
        code = main(argv)
    sys.exit(code)

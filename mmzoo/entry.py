"""The console script's entry point. It imports neither typer nor torch unless the
command needs them: `mmzoo sample x.onnx` and `mmzoo info` take the fast path."""

from __future__ import annotations

import sys


def entry() -> None:
    from mmzoo.cli.fast import try_fast

    argv = sys.argv[1:]
    code = try_fast(argv)
    if code is None:
        from mmzoo.cli.app import main

        code = main(argv)
    sys.exit(code)

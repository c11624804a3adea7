"""`mmzoo sample FILE.onnx` and `mmzoo info FILE.onnx` without typer, pluggy or torch.

Why a second parser: these two commands are what apps and shell scripts call in a
loop, and typer (with click and pydantic) costs more to import than onnxruntime's
own session. This parser takes exactly the options of cli.cmd_sample / cli.cmd_info;
`--help` and anything it does not understand go to the typer app instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError, os_error_line


class _Fallback(Exception):
    """Not a fast-path invocation: let the full typer app handle it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # never exit from here: typer prints proper usage
        raise _Fallback(message)


def _sample_parser() -> _Parser:
    p = _Parser(prog="mmzoo sample", add_help=False)
    p.add_argument("target")
    p.add_argument("-n", "--num", type=int, default=20)
    p.add_argument("-t", "--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--prefix", default="")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--provider", action="append", default=[])
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--json", action="store_true")
    return p


def _info_parser() -> _Parser:
    p = _Parser(prog="mmzoo info", add_help=False)
    p.add_argument("path")
    p.add_argument("--json", action="store_true")
    return p


def try_fast(argv: list[str]) -> int | None:
    """Run a torch-free command and return its exit code, or None to use the typer app."""
    if not argv or argv[0] not in ("sample", "info") or any(a in ("--help", "-h") for a in argv):
        return None
    try:
        if argv[0] == "sample":
            args = _sample_parser().parse_args(argv[1:])
            if not args.target.endswith(".onnx"):
                return None
        else:
            args = _info_parser().parse_args(argv[1:])
    except _Fallback:
        return None
    try:
        if argv[0] == "sample":
            _sample(args)
        else:
            _info(args)
    except MmzooError as exc:
        print(f"mmzoo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"mmzoo: error: {os_error_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _sample(args: argparse.Namespace) -> None:
    from mmzoo.cli.output import print_samples
    from mmzoo.runtime import sample_onnx_file
    from mmzoo.sampling import SampleOptions

    options = SampleOptions(args.num, args.temperature, args.top_k, args.prefix, args.seed, args.batch_size)
    options.check()
    print_samples(sample_onnx_file(Path(args.target), options, args.provider), args.json)


def _info(args: argparse.Namespace) -> None:
    from mmzoo.cli.output import print_info
    from mmzoo.runtime import describe

    print_info(describe(Path(args.path)), args.json)

"""`mmzoo sample FILE.onnx` and `mmzoo info FILE.onnx` without typer, pluggy or torch.

Why a second parser: these two commands are what apps and shell scripts call in a
loop, and typer (with click and pydantic) costs more to import than onnxruntime's
own session. This parser takes exactly the options of cli.cmd_sample / cli.cmd_info;
`--help` and anything it does not understand go to the typer app instead.

In the torch-free install (numpy and onnxruntime only, no typer) there is no typer app:
then this module also answers `--help` itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from mmzoo.cli.output import print_error
from mmzoo.errors import MmzooError, os_error_line


class _Fallback(Exception):
    """Not a fast-path invocation: let the full typer app handle it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # never exit from here: typer prints proper usage
        raise _Fallback(message)


JSON_HELP = "Print one JSON document on stdout."
TOP_HELP = """usage: mmzoo COMMAND [OPTIONS]

A zoo of makemore-style character-level language models. This install samples
from exported .onnx files with onnxruntime alone; training, export and the other
commands come with the train extra: pip install -c constraints.txt '.[train]' in an
mmzoo checkout (mmzoo is not on PyPI), or 'WHEEL[train]' for a built wheel.

commands:
  sample FILE.onnx  Generate items from an exported file.
  info FILE.onnx    An exported file's metadata, inputs and outputs.

`mmzoo COMMAND --help` for a command's options.
"""


def _sample_parser() -> _Parser:
    p = _Parser(prog="mmzoo sample", add_help=False, description="Generate items from an exported .onnx file.")
    p.add_argument("target", metavar="FILE.onnx", help="An exported file.")
    p.add_argument("-n", "--num", type=int, default=20, help="How many items (default 20).")
    p.add_argument("-t", "--temperature", type=float, default=1.0, help="Softmax temperature (default 1.0).")
    p.add_argument("--top-k", type=int, default=None, help="Sample from the k likeliest tokens only.")
    p.add_argument("--prefix", default="", help="Every sample starts with this.")
    p.add_argument("--seed", type=int, default=0, help="Same seed, same samples (default 0).")
    p.add_argument("--provider", action="append", default=[], help="onnxruntime provider(s): cpu, cuda, auto, ...")
    p.add_argument("--batch-size", type=int, default=1000, help="Items generated together (default 1000).")
    p.add_argument("--threads", type=int, default=None, help="For a torch run, not an .onnx file.")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    return p


def _info_parser() -> _Parser:
    p = _Parser(prog="mmzoo info", add_help=False, description="An exported file's metadata, inputs and outputs.")
    p.add_argument("path", metavar="FILE.onnx", help="An exported file.")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    return p


def has_full_cli() -> bool:
    """Whether the typer app can load (the `train` extra is installed)."""
    return importlib.util.find_spec("typer") is not None


def _help(argv: list[str]) -> int | None:
    """`--help` without typer: our own text for the two commands this install has."""
    if has_full_cli():
        return None
    if argv and argv[0] == "sample":
        sys.stdout.write(_sample_parser().format_help())
    elif argv and argv[0] == "info":
        sys.stdout.write(_info_parser().format_help())
    elif not argv or argv[0] in ("--help", "-h"):
        sys.stdout.write(TOP_HELP)
    else:
        return None  # another command: the entry point says it needs the full install
    return 0


def try_fast(argv: list[str]) -> int | None:
    """Run a torch-free command and return its exit code, or None to use the typer app."""
    if not argv or any(a in ("--help", "-h") for a in argv):
        return _help(argv)
    if argv[0] not in ("sample", "info"):
        return None
    try:
        if argv[0] == "sample":
            args = _sample_parser().parse_args(argv[1:])
            if not args.target.endswith(".onnx"):
                pretrained = _pretrained(args.target)
                if pretrained is None:
                    return None
                args.target = pretrained
        else:
            args = _info_parser().parse_args(argv[1:])
    except _Fallback as exc:
        if has_full_cli():
            return None  # typer prints proper usage
        print(f"mmzoo: error: {exc} (see `mmzoo {argv[0]} --help`)", file=sys.stderr)
        return 2
    try:
        if argv[0] == "sample":
            _sample(args)
        else:
            _info(args)
    except MmzooError as exc:
        print_error(str(exc), argv)
        return exc.exit_code
    except OSError as exc:
        print_error(os_error_line(exc), argv)
        return 1
    except KeyboardInterrupt:
        print("mmzoo: interrupted", file=sys.stderr)
        return 130
    return 0


def _pretrained(target: str) -> str | None:
    """A model name without a local run: its pretrained file (package data), sampled here
    without torch, so that `mmzoo sample gru` works in the torch-free install too."""
    from mmzoo.pretrained import fallback

    path = fallback(target)
    if path is None:
        return None
    from mmzoo.cli.output import warn

    warn(f"no local run of {target}: sampling the pretrained {path}")
    return str(path)


def _sample(args: argparse.Namespace) -> None:
    from mmzoo.cli.output import print_samples
    from mmzoo.runtime import sample_onnx_file
    from mmzoo.runtime.sampling import SampleOptions

    options = SampleOptions(args.num, args.temperature, args.top_k, args.prefix, args.seed, args.batch_size)
    options.check()
    print_samples(sample_onnx_file(Path(args.target), options, args.provider, args.threads), args.json)


def _info(args: argparse.Namespace) -> None:
    from mmzoo.cli.output import print_info
    from mmzoo.runtime import describe

    print_info(describe(Path(args.path)), args.json)

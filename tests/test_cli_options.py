"""The fast path (mmzoo.cli.fast, argparse) and the typer app parse `sample` and
`info` separately; these tests keep their options and defaults in step."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
import typer.main

from mmzoo.cli import fast
from mmzoo.cli.app import build_app
from mmzoo.runtime.sampling import SampleOptions


def _typer_options(command: str) -> dict[str, Any]:
    click_app: Any = typer.main.get_command(build_app(load_plugins=False))
    options = {}
    for param in click_app.commands[command].params:
        if param.param_type_name == "option":
            options[max(param.opts, key=len)] = param.default
    return options


def _argparse_options(parser: argparse.ArgumentParser) -> dict[str, Any]:
    options = {}
    for action in parser._actions:
        if action.option_strings:
            options[max(action.option_strings, key=len)] = action.default
    return options


def _normalise(options: dict[str, Any]) -> dict[str, Any]:
    """typer says [] or () for a repeatable option with no default, and False for a flag."""
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in options.items()}


@pytest.mark.parametrize(("command", "parser"), [("sample", fast._sample_parser), ("info", fast._info_parser)])
def test_fast_path_takes_the_typer_commands_options_with_the_same_defaults(command: str, parser: Any) -> None:
    assert _normalise(_argparse_options(parser())) == _normalise(_typer_options(command))


def test_sample_defaults_are_the_sample_options_defaults() -> None:
    defaults = SampleOptions()
    options = _typer_options("sample")
    assert options["--num"] == defaults.n
    assert options["--temperature"] == defaults.temperature
    assert options["--top-k"] == defaults.top_k
    assert options["--prefix"] == defaults.prefix
    assert options["--seed"] == defaults.seed
    assert options["--batch-size"] == defaults.batch_size

"""Plugin: the built-in `names` corpus (US baby names, SSA data, newest year)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmzoo.datasets import BUILTIN_CORPUS, builtin_corpus_path
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import DatasetSpec


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    register(
        DatasetSpec(
            name=BUILTIN_CORPUS,
            summary="29,910 US baby names of 2017 (SSA), both sexes, ordered by count",
            load=builtin_corpus_path,
        )
    )


def cmd_datasets(as_json: bool = False) -> None:
    """List named corpora usable as `--data NAME`."""
    from mmzoo.cli.output import print_json, print_table
    from mmzoo.plugins import get_zoo

    rows = [
        {"name": d.name, "summary": d.summary, "plugin": d.plugin, "plugin_version": d.plugin_version}
        for d in get_zoo().datasets.values()
    ]
    if as_json:
        print_json(rows)
        return
    print_table(
        ["name", "plugin", "summary"], [[r["name"], f"{r['plugin']} {r['plugin_version']}", r["summary"]] for r in rows]
    )


@hookimpl
def register_commands(app: Any) -> None:
    """mmzoo's own `datasets` command comes through the same hook a plugin uses."""
    import typer

    def datasets(as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout.")) -> None:
        """List named corpora usable as `--data NAME`."""
        cmd_datasets(as_json)

    app.command("datasets")(datasets)

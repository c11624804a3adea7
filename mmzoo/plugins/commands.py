"""Plugin CLI commands: each plugin's register_commands hook adds to the typer
app, and one whose command clashes or cannot be built loses only that command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmzoo.plugins.info import one_line
from mmzoo.plugins.zoo import call_impl

if TYPE_CHECKING:
    from mmzoo.plugins.zoo import Zoo


def add_commands(zoo: Zoo, app: Any) -> None:
    """Let each plugin add CLI commands. One that raises, whose command cannot be
    built, or that takes a name already in use has its additions removed and the
    reason recorded; the others still run."""
    taken = set(_names(app.registered_commands, app.registered_groups))
    buildable = _build_error(app) is None  # if mmzoo's own app fails, that is not a plugin's fault
    for impl in zoo.pm.hook.register_commands.get_hookimpls():
        info = zoo.info_by_plugin.get(id(impl.plugin))
        n_commands, n_groups = len(app.registered_commands), len(app.registered_groups)
        try:
            call_impl(impl, app=app)
            new = _names(app.registered_commands[n_commands:], app.registered_groups[n_groups:])
            clash = sorted({n for n in new if n in taken or new.count(n) > 1})
            problem = f"register_commands: command name already in use: {', '.join(clash)}" if clash else ""
            if not problem and new and buildable:
                error = _build_error(app)
                problem = f"register_commands added a command that cannot be built: {error}" if error else ""
        except Exception as exc:
            problem = f"register_commands raised {one_line(exc)}"
        if problem:
            del app.registered_commands[n_commands:]
            del app.registered_groups[n_groups:]
            if info is not None:
                info.errors.append(problem)
            continue
        taken.update(new)
        if info is not None:
            info.commands.extend(new)


def _names(commands: list[Any], groups: list[Any]) -> list[str]:
    """The names typer gives these registered commands and command groups."""
    import typer.main

    names = []
    for command in commands:
        if isinstance(command.name, str):
            names.append(command.name)
        elif command.callback is not None:
            names.append(typer.main.get_command_name(command.callback.__name__))
    for group in groups:
        try:
            name = typer.main.solve_typer_info_defaults(group).name
        except Exception:
            name = None
        if isinstance(name, str):
            names.append(name)
    return names


def _build_error(app: Any) -> str | None:
    """Why the typer app cannot be turned into a click command, or None. A command
    with a parameter typer cannot handle fails here, and would otherwise fail every
    `mmzoo` command, the built-in ones included."""
    import typer.main

    try:
        typer.main.get_command(app)
    except Exception as exc:
        return one_line(exc)
    return None

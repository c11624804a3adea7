"""Plugin CLI commands: each plugin's register_commands hook adds to the typer
app, and one whose command clashes or cannot be built loses only that command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmzoo.plugins.info import one_line
from mmzoo.plugins.zoo import call_impl

if TYPE_CHECKING:
    from mmzoo.plugins.zoo import Zoo


def add_commands(zoo: Zoo, app: Any) -> None:
    """Let each plugin add CLI commands. A command whose name is already in use is
    removed alone, with the reason recorded; a hook that raises, or adds a command
    that cannot be built, has all its additions removed. The others still run."""
    taken = set(_names(app.registered_commands, app.registered_groups))
    buildable = _build_error(app) is None  # if mmzoo's own app fails, that is not a plugin's fault
    for impl in zoo.pm.hook.register_commands.get_hookimpls():
        info = zoo.info_by_plugin.get(id(impl.plugin))
        n_commands, n_groups = len(app.registered_commands), len(app.registered_groups)
        clash: list[str] = []
        new: list[str] = []
        try:
            call_impl(impl, app=app)
            clash = _drop_clashes(app, n_commands, n_groups, taken)
            new = _names(app.registered_commands[n_commands:], app.registered_groups[n_groups:])
            error = _build_error(app) if new and buildable else None
            fatal = f"register_commands added a command that cannot be built: {error}" if error else ""
        except Exception as exc:
            fatal = f"register_commands raised {one_line(exc)}"
        problems = [f"register_commands: command name already in use: {', '.join(clash)}"] if clash else []
        if info is not None:
            info.errors.extend(problems + ([fatal] if fatal else []))
        if fatal:
            del app.registered_commands[n_commands:]
            del app.registered_groups[n_groups:]
            continue
        taken.update(new)
        if info is not None:
            info.commands.extend(new)


def _drop_clashes(app: Any, n_commands: int, n_groups: int, taken: set[str]) -> list[str]:
    """Remove the hook's new commands and groups whose names are taken (or that it added
    twice); the rest stay. Returns the clashing names."""
    commands, groups = app.registered_commands[n_commands:], app.registered_groups[n_groups:]
    new = _names(commands, groups)
    clash = sorted({n for n in new if n in taken or new.count(n) > 1})
    if clash:
        app.registered_commands[n_commands:] = [c for c in commands if not set(_names([c], [])) & set(clash)]
        app.registered_groups[n_groups:] = [g for g in groups if not set(_names([], [g])) & set(clash)]
    return clash


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

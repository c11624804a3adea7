"""Find and load plugins from the `mmzoo` entry-point group, one at a time, so
that one broken plugin is recorded and reported instead of taking mmzoo down.

pluggy's own loader imports every entry point without a try/except, and one
hook implementation that raises aborts the hook call for all the others; so
this module imports entry points itself and calls each implementation on its
own. Every failure lands in that plugin's PluginInfo.errors, which `mmzoo
plugins` shows and `warn_broken` turns into one stderr line per plugin.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any, TextIO

import pluggy

from mmzoo import hookspecs
from mmzoo.errors import MmzooError
from mmzoo.registry import DatasetSpec, ModelSpec, suggest

ENTRY_POINT_GROUP = "mmzoo"
BUILTIN_DIST = "mmzoo"
LOAD_ENV = "MMZOO_LOAD_PLUGINS"

# The values of "status" in `mmzoo plugins --json` (docs/plugins.md): part of the stable schema.
OK, BROKEN, DISABLED = "ok", "broken", "disabled"


@dataclass
class PluginInfo:
    """One plugin (an entry point, or an object added at run time) and what it gave.

    A plugin with errors may still have registered some models: a spec that is
    refused does not take its plugin's other specs with it."""

    name: str  # the entry point's name (unique only together with dist)
    dist: str  # the distribution that declares it
    version: str
    api: int | None = None  # the plugin API it declares; None when never imported
    disabled: bool = False  # skipped by MMZOO_LOAD_PLUGINS, never imported
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def status(self) -> str:
        if self.disabled:
            return DISABLED
        return OK if self.ok else BROKEN

    def as_json(self) -> dict[str, Any]:
        """One entry of `mmzoo plugins --json`; keys are documented and only ever added to."""
        return {
            "name": self.name,
            "distribution": self.dist,
            "version": self.version,
            "builtin": self.dist == BUILTIN_DIST,
            "status": self.status,
            "plugin_api": self.api,
            "models": list(self.models),
            "datasets": list(self.datasets),
            "commands": list(self.commands),
            "errors": list(self.errors),
        }


class Zoo:
    """Every loaded model and dataset, and every plugin with its load errors."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.models: dict[str, ModelSpec] = {}
        self.datasets: dict[str, DatasetSpec] = {}
        self.plugins: list[PluginInfo] = []
        self.notices: list[str] = []  # problems that belong to no single plugin
        self._info_by_plugin: dict[int, PluginInfo] = {}

    # -- loading ---------------------------------------------------------

    def add_plugin(self, plugin: Any, name: str | None = None, dist: str = "", version: str = "") -> PluginInfo:
        """Register one plugin object (a module, or any object with hookimpls) and run
        its register hooks. Never raises for a plugin's fault: read the returned info."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        info = PluginInfo(name=name, dist=dist or name, version=version)
        self.plugins.append(info)
        refusal = _api_refusal(plugin, info)
        if refusal:
            info.errors.append(refusal)
            return info
        # pluggy names must be unique; entry-point names are unique only per distribution
        # (a third-party entry point may well be called `mlp`, like a built-in one).
        key = f"{info.dist}:{name}"
        while self.pm.has_plugin(key):
            key += "+"
        try:
            self.pm.register(plugin, name=key)
        except Exception as exc:  # pluggy validation: bad hookimpl arguments, object registered twice
            if self.pm.get_plugin(key) is plugin:  # pluggy keeps the name of a plugin it refused
                self.pm.unregister(name=key)
            info.errors.append(f"cannot register: {_one_line(exc)}")
            return info
        try:
            self.pm.check_pending()  # a misspelt hook (`register_model`) is an error, not a silent no-op
        except pluggy.PluginValidationError as exc:
            unknown = self._unknown_hooks(plugin)
            self.pm.unregister(name=key)
            if unknown:
                known = [hook for hook, caller in vars(self.pm.hook).items() if getattr(caller, "spec", None)]
                for hook in unknown:
                    close = difflib.get_close_matches(hook, known, n=1, cutoff=0.6)
                    hint = f"did you mean {close[0]}?" if close else f"mmzoo's hooks: {', '.join(sorted(known))}"
                    info.errors.append(f"unknown hook {hook} ({hint})")
            else:
                info.errors.append(f"invalid hook: {_one_line(exc)}")
            return info
        impls = self._impls_of(plugin)
        if not impls:
            self.pm.unregister(name=key)
            info.errors.append("implements no mmzoo hook (are its functions decorated with @mmzoo.hookimpl?)")
            return info
        wrappers = [i.function.__name__ for i in impls if i.hookwrapper or i.wrapper]
        if wrappers:
            self.pm.unregister(name=key)
            info.errors.append(f"hook wrappers are not supported: {', '.join(wrappers)}")
            return info
        self._info_by_plugin[id(plugin)] = info
        self._run_register_hooks(plugin, info)
        return info

    def _unknown_hooks(self, plugin: Any) -> list[str]:
        """The names of this plugin's hookimpls that match no mmzoo hook (a misspelling)."""
        return sorted(
            name
            for name, caller in vars(self.pm.hook).items()
            if getattr(caller, "spec", 1) is None and any(i.plugin is plugin for i in caller.get_hookimpls())
        )

    def _impls_of(self, plugin: Any) -> list[Any]:
        return [
            impl
            for hook_name in ("register_models", "register_datasets", "register_commands")
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls()
            if impl.plugin is plugin
        ]

    def _run_register_hooks(self, plugin: Any, info: PluginInfo) -> None:
        for hook_name, table, kind, added in (
            ("register_models", self.models, ModelSpec, info.models),
            ("register_datasets", self.datasets, DatasetSpec, info.datasets),
        ):
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is plugin:
                    self._call_register_hook(impl, info, hook_name, table, kind, added)

    def _call_register_hook(
        self, impl: Any, info: PluginInfo, hook_name: str, table: dict[str, Any], kind: type, added: list[str]
    ) -> None:
        """Call one implementation with its own `register`. A refused spec is recorded
        and skipped, not raised into the plugin's code, so its other specs still load;
        a hook that raises keeps what it registered before the exception."""
        label = "model" if kind is ModelSpec else "dataset"

        def register(spec: Any) -> None:
            if not isinstance(spec, kind):
                info.errors.append(f"{hook_name}: gave a {type(spec).__name__}, not an mmzoo.{kind.__name__}")
                return
            try:
                spec.validate()
            except Exception as exc:  # ValueError from validate, or whatever a config's __init__ raises
                reason = _one_line(exc, typed=False)
                reason = reason.removeprefix(f"{spec.name}: ") if isinstance(spec.name, str) else reason
                info.errors.append(f"{hook_name}: malformed {label} {spec.name!r}: {reason}")
                return
            if spec.name in table:
                owner = table[spec.name]
                info.errors.append(
                    f"{hook_name}: {label} {spec.name!r} is already registered by "
                    f"{owner.plugin} {owner.plugin_version}".rstrip()
                    + "; skipped"
                )
                return
            table[spec.name] = replace(spec, plugin=info.dist, plugin_version=info.version)
            added.append(spec.name)

        try:
            _call_impl(impl, register=register)
        except Exception as exc:
            info.errors.append(f"{hook_name} raised {_one_line(exc)}")

    def load_entry_points(self, allowed: set[str] | None = None) -> None:
        """Load the `mmzoo` entry points, mmzoo's own first so that built-in names win.
        `allowed` (normalized distribution names) leaves the others listed as disabled."""
        found = sorted(
            self._entry_points(),
            key=lambda item: (item[1] != BUILTIN_DIST, _normalize(item[1]), item[0].name),
        )
        for ep, dist, version in found:
            if dist != BUILTIN_DIST and allowed is not None and _normalize(dist) not in allowed:
                self.plugins.append(PluginInfo(name=ep.name, dist=dist, version=version, disabled=True))
                continue
            try:
                plugin = ep.load()
            except BaseException as exc:  # includes SystemExit from a rude plugin
                if isinstance(exc, KeyboardInterrupt):
                    raise
                info = PluginInfo(name=ep.name, dist=dist, version=version)
                info.errors.append(f"import failed: {_one_line(exc)}{_import_hint(exc)}")
                self.plugins.append(info)
                continue
            self.add_plugin(plugin, name=ep.name, dist=dist, version=version)
        if allowed:
            present = {_normalize(dist) for _, dist, _ in found}
            for missing in sorted(allowed - present):
                self.notices.append(
                    f"{LOAD_ENV} names {missing!r}, which provides no mmzoo plugin"
                    f"{suggest(missing, present - {BUILTIN_DIST})}"
                )

    def _entry_points(self) -> list[tuple[metadata.EntryPoint, str, str]]:
        """(entry point, distribution, version) for the group, read distribution by
        distribution so that one distribution with unreadable metadata costs only itself."""
        out = []
        seen: set[str] = set()
        for distribution in metadata.distributions():
            try:
                dist = distribution.metadata["Name"] or ""
                key = _normalize(dist)
                if not dist or key in seen:  # the first on sys.path wins, as for imports
                    continue
                seen.add(key)
                eps = [ep for ep in distribution.entry_points if ep.group == ENTRY_POINT_GROUP]
                version = distribution.version or ""
            except Exception as exc:
                self.notices.append(f"cannot read the metadata of a distribution: {_one_line(exc)}")
                continue
            out.extend((ep, dist, version) for ep in eps)
        return out

    def add_commands(self, app: Any) -> None:
        """Let each plugin add CLI commands. One that raises, whose command cannot be
        built, or that takes a name already in use has its additions removed and the
        reason recorded; the others still run."""
        taken = set(_names(app.registered_commands, app.registered_groups))
        buildable = _build_error(app) is None  # if mmzoo's own app fails, that is not a plugin's fault
        for impl in self.pm.hook.register_commands.get_hookimpls():
            info = self._info_by_plugin.get(id(impl.plugin))
            n_commands, n_groups = len(app.registered_commands), len(app.registered_groups)
            try:
                _call_impl(impl, app=app)
                new = _names(app.registered_commands[n_commands:], app.registered_groups[n_groups:])
                clash = sorted({n for n in new if n in taken or new.count(n) > 1})
                problem = f"register_commands: command name already in use: {', '.join(clash)}" if clash else ""
                if not problem and new and buildable:
                    error = _build_error(app)
                    problem = f"register_commands added a command that cannot be built: {error}" if error else ""
            except Exception as exc:
                problem = f"register_commands raised {_one_line(exc)}"
            if problem:
                del app.registered_commands[n_commands:]
                del app.registered_groups[n_groups:]
                if info is not None:
                    info.errors.append(problem)
                continue
            taken.update(new)
            if info is not None:
                info.commands.extend(new)

    # -- lookup ------------------------------------------------------------

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.status == BROKEN]

    def warn_broken(self, stream: TextIO | None = None) -> None:
        """One stderr line per broken plugin (and per notice), pointing at `mmzoo plugins`."""
        stream = stream or sys.stderr
        for notice in self.notices:
            print(f"mmzoo: warning: {notice}", file=stream)
        for p in self.broken:
            more = f" (+{len(p.errors) - 1} more)" if len(p.errors) > 1 else ""
            print(
                f"mmzoo: warning: plugin {p.name} ({p.dist} {p.version}".rstrip()
                + f"): {p.errors[0]}{more}; see `mmzoo plugins`",
                file=stream,
            )

    def _broken_hint(self) -> str:
        """Part of an unknown-name error: a plugin that failed is often the real cause."""
        if not self.broken:
            return ""
        return f" (plugins with load errors: {', '.join(p.name for p in self.broken)})"

    def model(self, name: str) -> ModelSpec:
        if name in self.models:
            return self.models[name]
        raise MmzooError(
            f"unknown model {name!r}{suggest(name, self.models)}; `mmzoo list` shows them all{self._broken_hint()}"
        )

    def dataset(self, name: str) -> DatasetSpec:
        if name in self.datasets:
            return self.datasets[name]
        raise MmzooError(
            f"no dataset or file {name!r}{suggest(name, self.datasets)}; "
            f"datasets: {', '.join(self.datasets) or 'none'}{self._broken_hint()}"
        )

    def filter_models(self, pattern: str | None) -> list[ModelSpec]:
        import fnmatch

        specs = sorted(self.models.values(), key=lambda s: (s.plugin != BUILTIN_DIST, s.name))
        if pattern:
            specs = [s for s in specs if fnmatch.fnmatch(s.name, pattern)]
        return specs


def _call_impl(impl: Any, **available: Any) -> Any:
    """Call one hook implementation with only the arguments it declares, as pluggy
    does, so an implementation written against an older, shorter spec still works."""
    return impl.function(**{name: available[name] for name in impl.argnames if name in available})


def _api_refusal(plugin: Any, info: PluginInfo) -> str:
    """Why this plugin's declared `mmzoo_plugin_api` cannot load here, or ''."""
    declared = getattr(plugin, "mmzoo_plugin_api", 1)
    if not isinstance(declared, int) or isinstance(declared, bool):
        return f"mmzoo_plugin_api must be an int, got {declared!r}"
    info.api = declared
    low, high = hookspecs.MIN_PLUGIN_API, hookspecs.PLUGIN_API_VERSION
    if declared > high:
        return (
            f"needs mmzoo plugin API {declared}, but mmzoo {_own_version()} provides {high}: "
            f"upgrade mmzoo, or install an older {info.dist}"
        )
    if declared < low:
        return (
            f"was written for mmzoo plugin API {declared}, which mmzoo {_own_version()} no longer "
            f"supports ({low}-{high}): upgrade {info.dist}"
        )
    return ""


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
        return _one_line(exc)
    return None


def _normalize(dist: str) -> str:
    """PEP 503 normalization, so `mmzoo_lstm`, `mmzoo-lstm` and `MMZoo.LSTM` are one name."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def _own_version() -> str:
    from mmzoo import __version__

    return __version__


def _import_hint(exc: BaseException) -> str:
    """An ImportError from mmzoo itself usually means the plugin needs a newer mmzoo."""
    if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] == "mmzoo":
        return f" (it may need a newer mmzoo than {_own_version()})"
    return ""


def _one_line(exc: BaseException, typed: bool = True) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if not typed:
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def allowed_distributions(raw: str | None = None) -> set[str] | None:
    """MMZOO_LOAD_PLUGINS: unset loads every plugin; a comma list loads only those
    distributions (plus the built-ins); empty loads the built-ins alone."""
    raw = os.environ.get(LOAD_ENV) if raw is None else raw
    if raw is None:
        return None
    return {_normalize(part.strip()) for part in raw.split(",") if part.strip()}


def load_zoo(extra: Iterable[Any] = (), plugins: Iterable[str] | None = None) -> Zoo:
    """A fresh Zoo from the installed entry points, plus plugin objects given at run time.

    `plugins` is an allow-list of distributions like MMZOO_LOAD_PLUGINS (empty: the
    built-ins only); None reads the environment variable. Run-time plugins always load."""
    zoo = Zoo()
    if plugins is None:
        allowed = allowed_distributions()
    else:
        allowed = {_normalize(p) for p in plugins}
    zoo.load_entry_points(allowed)
    for plugin in extra:
        zoo.add_plugin(plugin)
    return zoo


@functools.lru_cache(maxsize=1)
def get_zoo() -> Zoo:
    """The process-wide Zoo, loaded once."""
    return load_zoo()

"""Find and load plugins from the `mmzoo` entry-point group, one at a time, so
that one broken plugin is recorded and reported instead of taking mmzoo down."""

from __future__ import annotations

import fnmatch
import functools
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterable

import pluggy

from mmzoo import hookspecs
from mmzoo.errors import MmzooError
from mmzoo.registry import DatasetSpec, ModelSpec, suggest

ENTRY_POINT_GROUP = "mmzoo"
BUILTIN_DIST = "mmzoo"
LOAD_ENV = "MMZOO_LOAD_PLUGINS"


@dataclass
class PluginInfo:
    """One plugin (an entry point, or an object registered at run time) and what it gave."""

    name: str
    dist: str
    version: str
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.dist,
            "version": self.version,
            "builtin": self.dist == BUILTIN_DIST,
            "status": "ok" if self.ok else "broken",
            "models": self.models,
            "datasets": self.datasets,
            "errors": self.errors,
        }


class Zoo:
    """Every loaded model and dataset, and every plugin with its load errors."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.models: dict[str, ModelSpec] = {}
        self.datasets: dict[str, DatasetSpec] = {}
        self.plugins: list[PluginInfo] = []
        self._info_by_plugin: dict[int, PluginInfo] = {}

    # -- loading ---------------------------------------------------------

    def add_plugin(self, plugin: Any, name: str | None = None, dist: str = "", version: str = "") -> PluginInfo:
        """Register one plugin object (a module or an object with hookimpls) and run its hooks."""
        name = name or getattr(plugin, "__name__", type(plugin).__name__)
        info = PluginInfo(name=name, dist=dist or name, version=version)
        self.plugins.append(info)
        needed = getattr(plugin, "mmzoo_plugin_api", 1)
        if not isinstance(needed, int) or needed > hookspecs.PLUGIN_API_VERSION:
            info.errors.append(
                f"needs mmzoo plugin API {needed}, this mmzoo ({_own_version()}) has "
                f"{hookspecs.PLUGIN_API_VERSION}: upgrade mmzoo"
            )
            return info
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy validation: bad hookimpl signature, duplicate name
            if self.pm.get_plugin(name) is plugin:
                self.pm.unregister(plugin)
            info.errors.append(f"cannot register: {exc}")
            return info
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(plugin)
            info.errors.append(f"unknown hook: {exc}")
            return info
        self._info_by_plugin[id(plugin)] = info
        self._run_hooks_of(plugin, info)
        return info

    def _run_hooks_of(self, plugin: Any, info: PluginInfo) -> None:
        for hook_name, table, kind in (
            ("register_models", self.models, ModelSpec),
            ("register_datasets", self.datasets, DatasetSpec),
        ):
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is plugin:
                    self._call_register_hook(impl, info, table, kind, hook_name)

    def _call_register_hook(
        self, impl: Any, info: PluginInfo, table: dict[str, Any], kind: type, hook_name: str
    ) -> None:
        added: list[str] = []

        def register(spec: Any) -> None:
            if not isinstance(spec, kind):
                raise _SpecError(f"{hook_name} gave a {type(spec).__name__}, not an mmzoo.{kind.__name__}")
            try:
                spec.validate()
            except ValueError as exc:
                raise _SpecError(f"malformed {kind.__name__}: {exc}") from None
            if spec.name in table:
                owner = table[spec.name].plugin
                raise _SpecError(f"{kind.__name__} {spec.name!r} is already registered by {owner}")
            stamped = _stamp(spec, info)
            table[spec.name] = stamped
            added.append(spec.name)

        try:
            impl.function(register=register)
        except Exception as exc:
            for name in added:  # all or nothing per hook call
                del table[name]
            added.clear()
            where = "" if isinstance(exc, _SpecError) else f"{hook_name} raised "
            info.errors.append(f"{where}{_one_line(exc)}")
        target = info.models if kind is ModelSpec else info.datasets
        target.extend(added)

    def load_entry_points(self, allowed: set[str] | None = None) -> None:
        """Load the `mmzoo` entry points: mmzoo's own first, so built-in names win."""
        eps = sorted(
            metadata.entry_points(group=ENTRY_POINT_GROUP),
            key=lambda ep: (_dist_name(ep) != BUILTIN_DIST, _dist_name(ep), ep.name),
        )
        for ep in eps:
            dist = _dist_name(ep)
            if dist != BUILTIN_DIST and allowed is not None and dist not in allowed:
                continue
            version = ep.dist.version if ep.dist else ""
            try:
                module = ep.load()
            except BaseException as exc:  # includes SystemExit from a rude plugin
                if isinstance(exc, KeyboardInterrupt):
                    raise
                info = PluginInfo(name=ep.name, dist=dist, version=version)
                info.errors.append(f"import failed: {_one_line(exc)}")
                self.plugins.append(info)
                continue
            self.add_plugin(module, name=ep.name, dist=dist, version=version)

    def add_commands(self, app: Any) -> None:
        """Let each plugin add CLI commands; a failing one is recorded, the rest still run."""
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(app=app)
            except Exception as exc:
                info = self._info_by_plugin.get(id(impl.plugin))
                if info is not None:
                    info.errors.append(f"register_commands raised {_one_line(exc)}")

    # -- lookup ------------------------------------------------------------

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if not p.ok]

    def warn_broken(self, stream: Any = None) -> None:
        """One stderr line per broken plugin."""
        stream = stream or sys.stderr
        for p in self.broken:
            print(f"mmzoo: warning: plugin {p.name} ({p.dist} {p.version}) failed: {p.errors[0]}", file=stream)

    def model(self, name: str) -> ModelSpec:
        if name in self.models:
            return self.models[name]
        message = f"unknown model {name!r}{suggest(name, self.models)}; `mmzoo list` shows them all"
        if self.broken:
            message += f" (plugins that failed to load: {', '.join(p.name for p in self.broken)})"
        raise MmzooError(message)

    def dataset(self, name: str) -> DatasetSpec:
        if name in self.datasets:
            return self.datasets[name]
        raise MmzooError(
            f"no dataset or file {name!r}{suggest(name, self.datasets)}; datasets: {', '.join(self.datasets)}"
        )

    def filter_models(self, pattern: str | None) -> list[ModelSpec]:
        specs = sorted(self.models.values(), key=lambda s: (s.plugin != BUILTIN_DIST, s.name))
        if pattern:
            specs = [s for s in specs if fnmatch.fnmatch(s.name, pattern)]
        return specs


class _SpecError(Exception):
    """A spec refused by register(): reported against the plugin that gave it."""


def _stamp(spec: Any, info: PluginInfo) -> Any:
    import dataclasses

    return dataclasses.replace(spec, plugin=info.dist, plugin_version=info.version)


def _dist_name(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "?"


def _own_version() -> str:
    from mmzoo import __version__

    return __version__


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def allowed_distributions() -> set[str] | None:
    """MMZOO_LOAD_PLUGINS: unset loads every plugin; a comma list loads only those
    distributions (plus the built-ins); empty loads the built-ins alone."""
    raw = os.environ.get(LOAD_ENV)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def load_zoo(extra: Iterable[Any] = ()) -> Zoo:
    """A fresh Zoo from the installed entry points, plus plugin objects given at run time."""
    zoo = Zoo()
    zoo.load_entry_points(allowed_distributions())
    for plugin in extra:
        zoo.add_plugin(plugin)
    return zoo


@functools.lru_cache(maxsize=1)
def get_zoo() -> Zoo:
    """The process-wide Zoo, loaded once."""
    return load_zoo()

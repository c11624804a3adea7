"""The Zoo: every loaded model and dataset, and every plugin with its errors.

Each plugin object is registered with pluggy on its own and each of its hook
implementations called on its own, with a `register` callback that validates
every spec: one hook that raises, or one malformed or duplicate spec, costs only
that plugin (or that spec), never the built-ins. Errors land in PluginInfo.errors,
which `mmzoo plugins` shows and `warn_broken` turns into one stderr line each.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import replace
from typing import Any, TextIO

import pluggy

from mmzoo import hookspecs
from mmzoo.errors import MmzooError
from mmzoo.plugins.info import BROKEN, BUILTIN_DIST, PluginInfo, one_line
from mmzoo.registry import DatasetSpec, ModelSpec, suggest


class Zoo:
    """Every loaded model and dataset, and every plugin with its load errors."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.models: dict[str, ModelSpec] = {}
        self.datasets: dict[str, DatasetSpec] = {}
        self.plugins: list[PluginInfo] = []
        self.notices: list[str] = []  # problems that belong to no single plugin
        self.info_by_plugin: dict[int, PluginInfo] = {}

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
            info.errors.append(f"cannot register: {one_line(exc)}")
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
                info.errors.append(f"invalid hook: {one_line(exc)}")
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
        self.info_by_plugin[id(plugin)] = info
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
        self,
        impl: Any,
        info: PluginInfo,
        hook_name: str,
        table: dict[str, Any],
        kind: type[ModelSpec] | type[DatasetSpec],
        added: list[str],
    ) -> None:
        """Call one implementation with its own `register`. A refused spec is recorded
        and skipped, not raised into the plugin's code, so its other specs still load;
        a hook that raises keeps what it registered before the exception."""
        label = "model" if kind is ModelSpec else "dataset"

        def register(spec: object) -> None:
            if not isinstance(spec, kind):
                info.errors.append(f"{hook_name}: gave a {type(spec).__name__}, not an mmzoo.{kind.__name__}")
                return
            try:
                spec.validate()
            except Exception as exc:  # ValueError from validate, or whatever a config's __init__ raises
                reason = one_line(exc, typed=False)
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
            call_impl(impl, register=register)
        except Exception as exc:
            info.errors.append(f"{hook_name} raised {one_line(exc)}")

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


def call_impl(impl: Any, **available: Any) -> Any:
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
            f"needs mmzoo plugin API {declared}, but mmzoo {own_version()} provides {high}: "
            f"upgrade mmzoo, or install an older {info.dist}"
        )
    if declared < low:
        return (
            f"was written for mmzoo plugin API {declared}, which mmzoo {own_version()} no longer "
            f"supports ({low}-{high}): upgrade {info.dist}"
        )
    return ""


def own_version() -> str:
    from mmzoo import __version__

    return __version__

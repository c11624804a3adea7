"""Find the installed plugins through the `mmzoo` entry-point group and load them
one at a time: one that fails to import is recorded, never fatal (pluggy's own
loader has no try/except around `ep.load()`)."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from mmzoo.plugins.info import BUILTIN_DIST, ENTRY_POINT_GROUP, LOAD_ENV, PluginInfo, normalize, one_line
from mmzoo.plugins.zoo import Zoo, own_version
from mmzoo.registry import suggest


def load_entry_points(zoo: Zoo, allowed: set[str] | None = None) -> None:
    """Load the `mmzoo` entry points, mmzoo's own first so that built-in names win.
    `allowed` (normalized distribution names) leaves the others listed as disabled."""
    found = sorted(
        _entry_points(zoo),
        key=lambda item: (item[1] != BUILTIN_DIST, normalize(item[1]), item[0].name),
    )
    for ep, dist, version in found:
        if dist != BUILTIN_DIST and allowed is not None and normalize(dist) not in allowed:
            zoo.plugins.append(PluginInfo(name=ep.name, dist=dist, version=version, disabled=True))
            continue
        try:
            plugin = ep.load()
        except BaseException as exc:  # includes SystemExit from a rude plugin
            if isinstance(exc, KeyboardInterrupt):
                raise
            info = PluginInfo(name=ep.name, dist=dist, version=version)
            info.errors.append(f"import failed: {one_line(exc)}{_import_hint(exc)}")
            zoo.plugins.append(info)
            continue
        zoo.add_plugin(plugin, name=ep.name, dist=dist, version=version)
    if allowed:
        present = {normalize(dist) for _, dist, _ in found}
        for missing in sorted(allowed - present):
            zoo.notices.append(
                f"{LOAD_ENV} names {missing!r}, which provides no mmzoo plugin"
                f"{suggest(missing, present - {BUILTIN_DIST})}"
            )


def _entry_points(zoo: Zoo) -> list[tuple[metadata.EntryPoint, str, str]]:
    """(entry point, distribution, version) for the group, read distribution by
    distribution so that one distribution with unreadable metadata costs only itself."""
    out: list[tuple[metadata.EntryPoint, str, str]] = []
    seen: set[str] = set()
    for distribution in metadata.distributions():
        try:
            dist = distribution.metadata["Name"] or ""
            key = normalize(dist)
            if not dist or key in seen:  # the first on sys.path wins, as for imports
                continue
            seen.add(key)
            eps = [ep for ep in distribution.entry_points if ep.group == ENTRY_POINT_GROUP]
            version = distribution.version or ""
        except Exception as exc:
            zoo.notices.append(f"cannot read the metadata of a distribution: {one_line(exc)}")
            continue
        out.extend((ep, dist, version) for ep in eps)
    return out


def _import_hint(exc: BaseException) -> str:
    """An ImportError from mmzoo itself usually means the plugin needs a newer mmzoo."""
    if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] == "mmzoo":
        return f" (it may need a newer mmzoo than {own_version()})"
    return ""


def allowed_distributions(raw: str | None = None) -> set[str] | None:
    """MMZOO_LOAD_PLUGINS: unset loads every plugin; a comma list loads only those
    distributions (plus the built-ins); empty loads the built-ins alone."""
    raw = os.environ.get(LOAD_ENV) if raw is None else raw
    if raw is None:
        return None
    return {normalize(part.strip()) for part in raw.split(",") if part.strip()}


def load_zoo(extra: Iterable[Any] = (), plugins: Iterable[str] | None = None) -> Zoo:
    """A fresh Zoo from the installed entry points, plus plugin objects given at run time.

    `plugins` is an allow-list of distributions like MMZOO_LOAD_PLUGINS (empty: the
    built-ins only); None reads the environment variable. Run-time plugins always load."""
    zoo = Zoo()
    if plugins is None:
        allowed = allowed_distributions()
    else:
        allowed = {normalize(p) for p in plugins}
    load_entry_points(zoo, allowed)
    for plugin in extra:
        zoo.add_plugin(plugin)
    return zoo


@functools.lru_cache(maxsize=1)
def get_zoo() -> Zoo:
    """The process-wide Zoo, loaded once."""
    return load_zoo()

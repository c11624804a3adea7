"""`mmzoo list` without torch: declared parameter counts, checked against the real
networks, and a cache for plugins that declare none."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakeplugins import build_site

from mmzoo import catalog
from mmzoo.catalog import ParamCache, cache_key
from mmzoo.plugins import get_zoo
from mmzoo.testing import check_declared_params

# Runs one command of the real CLI in a fresh interpreter, then says whether torch got imported.
PROBE = (
    "import sys, contextlib, io\n"
    "from mmzoo.cli.app import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    rc = main(sys.argv[1:])\n"
    "print(rc, 'torch' in sys.modules)\n"
)


def probe(args: list[str], cache: Path, site: Path | None = None) -> tuple[int, bool]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": "200"}
    # the built-ins, lstm (both declare their counts) and the fake site's plugin; not the
    # test plugins `make test` installs, whose undeclared counts are what the cache is for
    env["MMZOO_LOAD_PLUGINS"] = "mmzoo-lstm,mmzoo-good"
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rc, imported = proc.stdout.split()
    return int(rc), imported == "True"


def test_every_declared_count_is_the_real_one() -> None:
    specs = list(get_zoo().models.values())
    builtin = [s for s in specs if s.plugin == "mmzoo"]
    assert builtin and all(s.params is not None for s in builtin), "a built-in model declares no params"
    for spec in specs:
        check_declared_params(spec)


def test_a_wrong_declared_count_is_caught() -> None:
    spec = get_zoo().model("mlp")
    with pytest.raises(AssertionError, match="declares params=12 but its default model has 11,897"):
        check_declared_params(dataclasses.replace(spec, params=12))


@pytest.mark.parametrize("args", [["list"], ["list", "mlp-bn"], ["plugins"], ["list", "--json"]])
def test_list_and_plugins_import_no_torch(args: list[str], tmp_path: Path) -> None:
    assert probe(args, tmp_path / "cache") == (0, False)


def test_a_plugin_count_is_computed_once_then_cached(tmp_path: Path) -> None:
    site = build_site(tmp_path / "site", broken=False)  # mmzoo-good's `tiny` declares no params
    cache = tmp_path / "cache"
    assert probe(["list", "tiny"], cache, site) == (0, True)  # counted by building it, once
    entries = json.loads((cache / "mmzoo" / "params.json").read_text())
    assert list(entries.values()) == [27 * 4 + (2 * 4 * 27 + 27)]  # wte[27, 4], head Linear(8, 27)
    assert probe(["list", "tiny"], cache, site) == (0, False)  # from the cache: no torch


def test_cache_key_follows_plugin_version_and_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = dataclasses.replace(get_zoo().model("mlp"), params=None)
    assert cache_key(spec) != cache_key(dataclasses.replace(spec, plugin_version="0.2"))
    assert cache_key(spec) != cache_key(dataclasses.replace(spec, config=get_zoo().model("mlp-bn").config))
    counts = ParamCache()
    assert counts.get(spec) == (11_897, None)
    counts.save()

    def no_build(spec: object) -> None:
        raise AssertionError("built a model although the count was cached")

    monkeypatch.setattr(catalog, "count_params", no_build)
    assert ParamCache().get(spec) == (11_897, None)

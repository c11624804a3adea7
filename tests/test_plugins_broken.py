"""Broken plugin distributions, installed for real (tests/fakeplugins.py), next to a
good one: each failure is reported by name with its error in `mmzoo plugins`, as
one stderr line elsewhere, and leaves the built-ins and the good plugin working."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakeplugins import BROKEN, EXPECTED_ERRORS, build_site, mmzoo

from mmzoo import PLUGIN_API_VERSION

BUILTIN_MODELS = {"bigram", "bigram-nn", "mlp", "mlp-bn"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("site"), broken=True)


@pytest.fixture(scope="module")
def plugins_doc(site: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    proc = mmzoo("plugins", "--json", site=site, cwd=tmp_path_factory.mktemp("cwd"))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _by_dist(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["distribution"]: p for p in doc["plugins"] if not p["builtin"]}


def test_every_broken_plugin_is_reported_by_name_with_its_error(plugins_doc: dict[str, Any]) -> None:
    plugins = _by_dist(plugins_doc)
    for dist, (ep_name, _) in BROKEN.items():
        entry = plugins[dist]
        assert entry["name"] == ep_name
        assert entry["status"] == "broken", entry
        assert EXPECTED_ERRORS[ep_name] in entry["errors"][0], entry["errors"]


def test_built_ins_and_the_good_plugin_still_load(plugins_doc: dict[str, Any]) -> None:
    builtin_models = {m for p in plugins_doc["plugins"] if p["builtin"] for m in p["models"]}
    assert BUILTIN_MODELS <= builtin_models
    assert all(p["status"] == "ok" for p in plugins_doc["plugins"] if p["builtin"])
    good = _by_dist(plugins_doc)["mmzoo-good"]
    assert (good["status"], good["models"], good["datasets"], good["commands"]) == (
        "ok",
        ["tiny"],
        ["vowels"],
        ["hello"],
    )


def test_a_refused_spec_does_not_take_the_plugins_other_specs_with_it(plugins_doc: dict[str, Any]) -> None:
    plugins = _by_dist(plugins_doc)
    assert plugins["mmzoo-dup"]["models"] == ["dup-ok"]  # only its clashing `mlp` was refused
    assert plugins["mmzoo-hookfail"]["models"] == ["half"]  # what it registered before raising stays
    assert plugins["mmzoo-future"]["models"] == [] and plugins["mmzoo-future"]["plugin_api"] == 99


def test_refusal_of_a_newer_plugin_api_says_what_to_do(plugins_doc: dict[str, Any]) -> None:
    error = _by_dist(plugins_doc)["mmzoo-future"]["errors"][0]
    assert (
        error.startswith("needs mmzoo plugin API 99, but mmzoo ")
        and f"provides {PLUGIN_API_VERSION}: upgrade mmzoo" in error
    )


def test_list_works_and_warns_once_per_broken_plugin(site: Path, tmp_path: Path) -> None:
    proc = mmzoo("list", "--json", site=site, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = {row["name"] for row in json.loads(proc.stdout)}
    assert BUILTIN_MODELS | {"tiny", "dup-ok"} <= names
    assert not names & {"from-the-future", "nodataclass"}
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mmzoo: warning: plugin ")]
    assert len(lines) == len(BROKEN), proc.stderr  # one line each
    for ep_name in EXPECTED_ERRORS:
        assert sum(line.startswith(f"mmzoo: warning: plugin {ep_name} (") for line in lines) == 1, ep_name


def test_plugins_table_names_each_broken_plugin(site: Path, tmp_path: Path) -> None:
    proc = mmzoo("plugins", site=site, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if " broken " in line]
    for ep_name in EXPECTED_ERRORS:
        assert any(line.split()[0] == ep_name for line in rows), (ep_name, proc.stdout)


def test_a_plugin_cannot_replace_a_builtin_command_and_its_own_commands_work(site: Path, tmp_path: Path) -> None:
    proc = mmzoo("train", "--help", site=site, cwd=tmp_path)
    assert proc.returncode == 0 and "hijacked" not in proc.stdout and "--data" in proc.stdout
    hello = mmzoo("hello", "--name", "zoo", site=site, cwd=tmp_path)
    assert hello.returncode == 0 and hello.stdout == "hello zoo from mmzoo-good\n", hello.stderr


def test_unknown_name_suggests_and_mentions_the_broken_plugins(site: Path, tmp_path: Path) -> None:
    proc = mmzoo("export", "mlp-bm", site=site, cwd=tmp_path)
    assert proc.returncode == 1
    error = proc.stderr.splitlines()[-1]
    assert error.startswith("mmzoo: error: unknown model 'mlp-bm' (did you mean mlp-bn")
    listed = error.split("(plugins with load errors: ")[1].rstrip(")").split(", ")
    assert sorted(listed) == sorted(EXPECTED_ERRORS)


def test_allow_list_is_the_way_out_of_a_bad_plugin(site: Path, tmp_path: Path) -> None:
    """MMZOO_LOAD_PLUGINS=mmzoo_good: the broken ones are listed as disabled, never
    imported (so never warned about), and the allowed one loads."""
    proc = mmzoo("plugins", "--json", site=site, cwd=tmp_path, load="mmzoo_good")
    assert proc.returncode == 0 and proc.stderr == ""
    plugins = _by_dist(json.loads(proc.stdout))
    assert plugins["mmzoo-good"]["status"] == "ok"
    for dist in BROKEN:
        assert (plugins[dist]["status"], plugins[dist]["errors"], plugins[dist]["plugin_api"]) == ("disabled", [], None)

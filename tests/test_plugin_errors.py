"""Plugin mistakes that used to surface raw: a build() that raises, a command name
clash, a run whose plugin is gone or disabled, and tuple `--set` values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeplugins import GOOD, VOWEL_WORDS, mmzoo, write_dist

from mmzoo.registry import parse_value

BADBUILD = """
from dataclasses import dataclass

import typer

from mmzoo import ModelSpec, Recipe, hookimpl

mmzoo_plugin_api = 1


@dataclass(frozen=True)
class Config:
    n_hidden: int = 0


def build(config, vocab_size):
    raise ValueError(f"n_hidden must be >= 1, got {config.n_hidden}")


@hookimpl
def register_models(register):
    register(ModelSpec(name="badbuild", summary="a build that refuses its config", config=Config, build=build,
                       recipe=Recipe(steps=5, batch_size=8, lr=1e-2, eval_every=5)))


@hookimpl
def register_commands(app):
    @app.command("train")
    def train() -> None:
        print("hijacked")

    @app.command("greet2")
    def greet2() -> None:
        print("hello from badbuild")
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    write_dist(site, "mmzoo-good", *GOOD["mmzoo-good"])
    (site / "mmzoo_good_vowels.txt").write_text("\n".join(VOWEL_WORDS) + "\n", encoding="utf-8")
    write_dist(site, "mmzoo-badbuild", "badbuild", BADBUILD)
    return site


def test_a_build_that_raises_is_one_line_in_train_and_a_reason_in_list(site: Path, tmp_path: Path) -> None:
    proc = mmzoo("train", "badbuild", "--steps", "1", site=site, cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if "error" in line] == [
        "mmzoo: error: badbuild (plugin mmzoo-badbuild): build() raised ValueError: n_hidden must be >= 1, got 0"
    ]
    rows = {r["name"]: r for r in json.loads(mmzoo("list", "--json", site=site, cwd=tmp_path).stdout)}
    assert rows["badbuild"]["params"] is None
    assert "ValueError: n_hidden must be >= 1, got 0" in rows["badbuild"]["error"]
    assert rows["tiny"]["error"] is None
    listed = mmzoo("list", site=site, cwd=tmp_path)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    warning = (
        "mmzoo: warning: badbuild (plugin mmzoo-badbuild): build() raised ValueError: n_hidden must be >= 1, got 0"
    )
    assert warning in listed.stderr.splitlines()


def test_a_command_name_clash_drops_only_that_command(site: Path, tmp_path: Path) -> None:
    doc = json.loads(mmzoo("plugins", "--json", site=site, cwd=tmp_path).stdout)
    (bad,) = [p for p in doc["plugins"] if p["distribution"] == "mmzoo-badbuild"]
    assert bad["commands"] == ["greet2"]
    assert any("command name already in use: train" in e for e in bad["errors"])
    proc = mmzoo("greet2", site=site, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "hello from badbuild\n"


@pytest.mark.slow
def test_a_run_whose_plugin_is_disabled_or_missing_names_it(site: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    trained = mmzoo("train", "tiny", "--data", "vowels", "--steps", "5", "--out", str(run), site=site, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    disabled = mmzoo("sample", str(run), "-n", "2", site=site, cwd=tmp_path, load="mmzoo-badbuild")
    assert disabled.returncode == 1 and "Traceback" not in disabled.stderr
    assert "from the plugin mmzoo-good 0.1, which is installed but disabled" in disabled.stderr
    missing = mmzoo("sample", str(run), "-n", "2", site=None, cwd=tmp_path)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "from the plugin mmzoo-good 0.1, which is not installed (pip install mmzoo-good)" in missing.stderr


@pytest.mark.parametrize("raw", ["1,2", "(1, 2)", "[1, 2]", " (1,2) "])
def test_tuple_set_values_take_the_form_list_prints(raw: str) -> None:
    assert parse_value(raw, (8, 8), "sizes") == (1, 2)

"""The plugin layer working as documented in docs/plugins.md: run-time plugins,
MMZOO_LOAD_PLUGINS, "did you mean", register_commands, register_datasets, the
`mmzoo plugins --json` schema, and the loader's refusals, in process where the
CLI adds nothing and through the installed command where it does."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from fakeplugins import VOWEL_WORDS, build_site, mmzoo
from typer.testing import CliRunner

from mmzoo import PLUGIN_API_VERSION, DatasetSpec, MmzooError, ModelSpec, Recipe, hookimpl
from mmzoo.plugins import PluginInfo, allowed_distributions, load_zoo
from mmzoo.plugins.commands import add_commands

PLUGIN_KEYS = {
    "name",
    "distribution",
    "version",
    "builtin",
    "status",
    "plugin_api",
    "models",
    "datasets",
    "commands",
    "errors",
}


@dataclass(frozen=True)
class NoConfig:
    n: int = 1


def _spec(name: str, **changes: Any) -> ModelSpec:
    spec = ModelSpec(name=name, summary="test", config=NoConfig, build=lambda c, v: None)
    return dataclasses.replace(spec, **changes)


class ModelsPlugin:
    """A plugin as an object rather than a module: what tests and notebooks register."""

    def __init__(self, *specs: ModelSpec) -> None:
        self.specs = specs

    @hookimpl
    def register_models(self, register: Any) -> None:
        for spec in self.specs:
            register(spec)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("goodsite"), broken=False)


# -- in process ---------------------------------------------------------------


def test_plugin_added_at_run_time_registers_next_to_the_builtins() -> None:
    zoo = load_zoo(extra=[ModelsPlugin(_spec("runtime-model"))], plugins=())
    info = zoo.plugins[-1]
    assert (info.name, info.status, info.models) == ("ModelsPlugin", "ok", ["runtime-model"])
    assert zoo.model("runtime-model").plugin == "ModelsPlugin"
    assert {"bigram", "mlp", "mlp-bn"} <= set(zoo.models) and "names" in zoo.datasets


def test_two_run_time_plugins_with_one_name_both_load() -> None:
    """pluggy wants unique names; mmzoo must not turn a shared name into a refusal."""
    zoo = load_zoo(extra=[ModelsPlugin(_spec("first")), ModelsPlugin(_spec("second"))], plugins=())
    assert [p.models for p in zoo.plugins[-2:]] == [["first"], ["second"]]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (_spec("has space"), "model name must be letters"),
        (_spec("v1.2"), "model name must be letters"),  # `mmzoo export v1.2` would read a file
        (_spec("sgdx", recipe=Recipe(optimizer="adam")), "optimizer must be one of adamw, sgd"),
        (_spec("neg", recipe=Recipe(steps=-1)), "steps must be an int >= 0"),
        (_spec("preset", presets={"big": {"nope": 1}}), "sets unknown fields ['nope']"),
        (_spec("fit", fit="count"), "fit must be callable"),
        (DatasetSpec(name="a/b", summary="", load=Path), "dataset name must be letters"),
    ],
)
def test_malformed_specs_are_refused_with_the_reason(spec: Any, error: str) -> None:
    class Plugin:
        @hookimpl
        def register_models(self, register: Any) -> None:
            if isinstance(spec, ModelSpec):
                register(spec)

        @hookimpl
        def register_datasets(self, register: Any) -> None:
            if isinstance(spec, DatasetSpec):
                register(spec)

    zoo = load_zoo(extra=[Plugin()], plugins=())
    info = zoo.plugins[-1]
    assert info.status == "broken" and error in info.errors[0], info.errors
    assert spec.name not in zoo.models and spec.name not in zoo.datasets


def test_a_plugin_without_hookimpls_is_an_error_not_a_silent_no_op() -> None:
    class Forgot:
        def register_models(self, register: Any) -> None:  # no @hookimpl
            register(_spec("never"))

    info = load_zoo(extra=[Forgot()], plugins=()).plugins[-1]
    assert "implements no mmzoo hook" in info.errors[0]


def test_plugin_api_outside_the_supported_range_is_refused() -> None:
    old, new, odd = ModelsPlugin(_spec("old")), ModelsPlugin(_spec("new")), ModelsPlugin(_spec("odd"))
    newer = PLUGIN_API_VERSION + 1
    old.mmzoo_plugin_api, new.mmzoo_plugin_api, odd.mmzoo_plugin_api = 0, newer, "1"  # type: ignore[attr-defined]
    zoo = load_zoo(extra=[old, new, odd], plugins=())
    errors = [p.errors[0] for p in zoo.plugins[-3:]]
    assert f"no longer supports (1-{PLUGIN_API_VERSION})" in errors[0]
    assert f"needs mmzoo plugin API {newer}, but mmzoo" in errors[1]
    assert "mmzoo_plugin_api must be an int" in errors[2]
    assert not {"old", "new", "odd"} & set(zoo.models)


def test_an_implementation_may_take_fewer_arguments_than_the_spec() -> None:
    """How specs grow compatibly: an old implementation is called with what it declares."""
    calls: list[str] = []

    class Old:
        @hookimpl
        def register_commands(self) -> None:
            calls.append("called")

    zoo = load_zoo(extra=[Old()], plugins=())
    add_commands(zoo, typer.Typer())
    assert calls == ["called"] and zoo.plugins[-1].ok


def test_register_commands_adds_a_working_subcommand_and_refuses_taken_names() -> None:
    class Cmds:
        @hookimpl
        def register_commands(self, app: typer.Typer) -> None:
            @app.command("shout")
            def shout(word: str) -> None:
                print(word.upper())

    class Clash:
        @hookimpl
        def register_commands(self, app: typer.Typer) -> None:
            @app.command("shout")
            def other(word: str) -> None:
                print("clash")

    app = typer.Typer()

    @app.command("base")
    def base() -> None:
        pass

    zoo = load_zoo(extra=[Cmds(), Clash()], plugins=())
    add_commands(zoo, app)
    cmds, clash = zoo.plugins[-2:]
    assert cmds.commands == ["shout"] and "command name already in use: shout" in clash.errors[0]
    result = CliRunner().invoke(app, ["shout", "zoo"])
    assert (result.exit_code, result.output) == (0, "ZOO\n")


def test_unknown_model_and_dataset_names_suggest_the_closest() -> None:
    zoo = load_zoo(plugins=())
    with pytest.raises(MmzooError, match=r"unknown model 'mlp-bm' \(did you mean mlp-bn"):
        zoo.model("mlp-bm")
    with pytest.raises(MmzooError, match=r"no dataset or file 'nmes' \(did you mean names\?\)"):
        zoo.dataset("nmes")


def test_allow_list_parsing() -> None:
    assert allowed_distributions("") == set()
    assert allowed_distributions(" mmzoo_LSTM , other.pkg,") == {"mmzoo-lstm", "other-pkg"}


def test_status_values() -> None:
    assert PluginInfo("a", "d", "1").status == "ok"
    assert PluginInfo("a", "d", "1", errors=["x"]).status == "broken"
    assert PluginInfo("a", "d", "1", disabled=True).status == "disabled"


# -- through the installed command ---------------------------------------------


def test_plugins_json_schema_is_stable(site: Path, tmp_path: Path) -> None:
    proc = mmzoo("plugins", "--json", site=site, cwd=tmp_path)
    doc = json.loads(proc.stdout)
    assert set(doc) == {"plugin_api", "plugins"} and doc["plugin_api"] == PLUGIN_API_VERSION
    for entry in doc["plugins"]:
        assert set(entry) == PLUGIN_KEYS
        assert entry["status"] in ("ok", "broken", "disabled")
    good = next(p for p in doc["plugins"] if p["distribution"] == "mmzoo-good")
    assert good == {
        "name": "mlp",  # the same entry point name as a built-in: both load
        "distribution": "mmzoo-good",
        "version": "0.1",
        "builtin": False,
        "status": "ok",
        "plugin_api": 1,
        "models": ["tiny"],
        "datasets": ["vowels"],
        "commands": ["hello"],
        "errors": [],
    }


def test_empty_allow_list_loads_only_the_builtins(site: Path, tmp_path: Path) -> None:
    proc = mmzoo("plugins", "--json", site=site, cwd=tmp_path, load="")
    plugins = json.loads(proc.stdout)["plugins"]
    assert {p["status"] for p in plugins if p["builtin"]} == {"ok"}
    assert {p["status"] for p in plugins if not p["builtin"]} == {"disabled"}
    assert mmzoo("hello", site=site, cwd=tmp_path, load="").returncode != 0  # its command is gone too


def test_allow_list_naming_no_plugin_warns_with_a_suggestion(site: Path, tmp_path: Path) -> None:
    proc = mmzoo("datasets", site=site, cwd=tmp_path, load="mmzoo-goood")
    assert proc.returncode == 0
    assert proc.stderr.startswith(
        "mmzoo: warning: MMZOO_LOAD_PLUGINS names 'mmzoo-goood', which provides no mmzoo plugin "
        "(did you mean mmzoo-good"
    )


def test_registered_dataset_is_listed_and_trains_a_plugin_model(site: Path, tmp_path: Path) -> None:
    rows = json.loads(mmzoo("datasets", "--json", site=site, cwd=tmp_path).stdout)
    assert {(r["name"], r["plugin"]) for r in rows} >= {("names", "mmzoo"), ("vowels", "mmzoo-good")}
    proc = mmzoo("train", "tiny", "--data", "vowels", "--steps", "3", "--out", "run", "--json", site=site, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert (meta["model"], meta["plugin"], meta["data"]["source"]) == ("tiny", "mmzoo-good", "vowels")
    assert meta["data"]["items"] == len(VOWEL_WORDS)


# -- mmzoo.testing finds contract mistakes before export does --------------------


def _step_model(apply_start: bool) -> Any:
    import torch
    import torch.nn as nn

    from mmzoo import StateSpec

    class Counter(nn.Module):
        """h = h + emb(x), from a learned (non-zero) start state."""

        input_mode = "step"
        context_length = 8

        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(5, 3)
            self.h0 = nn.Parameter(torch.ones(3))
            self.head = nn.Linear(3, 5)

        def forward(self, idx: torch.Tensor) -> torch.Tensor:
            h = self.h0 + self.wte(idx).cumsum(1)
            return self.head(h)

        def step(self, idx: torch.Tensor, pos: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if apply_start:
                h = torch.where(pos == 0, self.h0.expand_as(h), h)
            h = h + self.wte(idx)
            return self.head(h), h

        def onnx_state(self, batch: int) -> list[StateSpec]:
            return [StateSpec("h", torch.zeros(batch, 3))]

    return Counter()


def _peeking_model() -> Any:
    import torch.nn as nn

    class Peek(nn.Module):
        """Position t reads the whole sequence: trains to a low loss, samples garbage."""

        context_length = 8

        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(5, 5)

        def forward(self, idx: Any) -> Any:
            return self.wte(idx).flip(1).cumsum(1).flip(1)

    return Peek()


def test_check_model_contract_accepts_a_correct_step_model() -> None:
    from mmzoo.testing import check_model_contract

    check_model_contract(_step_model(apply_start=True), vocab_size=5)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (lambda: _step_model(apply_start=False), r"differs from forward\(\) at position 0 .*start state"),
        (_peeking_model, "not causal"),
    ],
)
def test_check_model_contract_names_the_broken_rule(model: Any, message: str) -> None:
    from mmzoo.testing import check_model_contract

    with pytest.raises(AssertionError, match=message):
        check_model_contract(model(), vocab_size=5)

"""`mmzoo diagnose --compare` and the knobs of lecture 3's experiments: --gain,
--last-scale, the variants side by side, compare.json and its errors."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import BUILTIN_NAMES, run_mmzoo

from mmzoo.cli import app as cli
from mmzoo.corpus import load_corpus
from mmzoo.engine.diagnose import diagnose
from mmzoo.engine.diagnose.flags import SATURATED_FRACTION
from mmzoo.plugins import get_zoo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("activations", "gradients", "updates", "loss")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.txt"
    path.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:2000]) + "\n")
    return path


@contextlib.contextmanager
def one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cli_run(*args: str) -> tuple[int, str]:
    stdout = io.StringIO()
    with one_thread(), contextlib.redirect_stdout(stdout):
        rc = cli.main(list(args))
    return rc, stdout.getvalue()


def first_step(model: str, data: Path, init: str = "as-built", **sets: str) -> dict[str, Any]:
    """stats.json's document after one step: the network at init."""
    spec = get_zoo().model(model)
    config = spec.make_config("deep" if model == "mlp-bn" else None, sets)
    with one_thread():
        return diagnose(spec, load_corpus(str(data)), config, spec.recipe, 1, init, False, 0).doc


def saturation_at_init(doc: dict[str, Any]) -> list[float]:
    return [la["init"]["saturated"] for la in doc["layers"] if la["tanh"]]


@pytest.mark.slow  # three 300-step runs of the deep mlp-bn through the installed command
def test_gain_sweep_writes_compare_json_and_figures(small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    args = ["diagnose", "mlp-bn", "--preset", "deep", "--steps", "300", "--compare", "init_gain=0.5,1.6667,3"]
    table = run_mmzoo(*args, "--data", str(small_data), "--out", str(out), env={"OMP_NUM_THREADS": "1"}).stdout
    doc = json.loads((out / "compare.json").read_text())
    assert doc["compare"] == "init_gain" and doc["steps"] == 300 and doc["model"] == "mlp-bn"
    variants = doc["variants"]
    assert [v["label"] for v in variants] == ["init_gain=0.5", "init_gain=1.6667", "init_gain=3"]
    assert [v["config"]["init_gain"] for v in variants] == [0.5, 1.6667, 3.0]
    for v in variants:
        assert set(v["saturation"]) == {"blocks.2", "blocks.5", "blocks.8", "blocks.11", "blocks.14"}
        assert all(set(s) == {"init", "end"} for s in v["saturation"].values())
        assert v["grad_std_spread"]["init"] >= 1 and v["grad_std_spread"]["end"] >= 1
        assert abs(v["initial_loss"] - doc["uniform_loss"]) < 0.1  # head x0.1 in every variant
        assert 1.5 < v["val_loss"] < 3.0 and v["seconds_per_step"] > 0
        # the saturation flags are exactly the layers and moments over the threshold
        over = {
            (layer, when) for layer, s in v["saturation"].items() for when, f in s.items() if f > SATURATED_FRACTION
        }
        assert {(f["layer"], f["when"]) for f in v["flags"] if f["problem"] == "saturated"} == over
        assert all(f["figure"] in {f"{name}.png" for name in FIGURES} for f in v["flags"])
    # BatchNorm undoes the gain: at init every variant's tanh layers see the same inputs
    inits = [[s["init"] for s in v["saturation"].values()] for v in variants]
    assert inits[0] == pytest.approx(inits[1], abs=1e-3) and inits[0] == pytest.approx(inits[2], abs=1e-3)
    assert len({round(v["val_loss"], 6) for v in variants}) == 3  # but they train differently
    for name in FIGURES:
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_SIGNATURE
    assert doc["figures"] == {name: f"{name}.png" for name in FIGURES}
    for v in variants:
        row = next(line for line in table.splitlines() if line.startswith(v["label"] + " "))
        assert f"{v['initial_loss']:.3f}" in row and f"{v['val_loss']:.3f}" in row


@pytest.mark.slow  # two 120-step runs of the deep mlp-bn
def test_compare_batchnorm_on_and_off(small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "bn"
    rc, table = cli_run("diagnose", "mlp-bn", "--preset", "deep", "--steps", "120", "--compare", "bn=on,off",
                        "--data", str(small_data), "--out", str(out))  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "compare.json").read_text())
    on, off = doc["variants"]
    assert (on["label"], off["label"]) == ("bn=on", "bn=off")
    assert (on["no_bn"], off["no_bn"]) == (False, True) and (on["norm"], off["norm"]) == ("batch", "none")
    assert on["val_loss"] != off["val_loss"]
    assert "bn=on" in table and "bn=off" in table


@pytest.mark.slow  # five one-step diagnoses of the deep mlp-bn
def test_gain_without_batchnorm_tells_the_lecture_story(small_data: Path) -> None:
    """No BatchNorm: a small gain shrinks the activations layer by layer, a big one
    saturates tanh; with BatchNorm the same gains change nothing at init."""
    plain = {g: first_step("mlp-bn", small_data, norm="none", init_gain=g) for g in ("0.5", "1.6667", "3")}
    sat = {g: max(saturation_at_init(doc)) for g, doc in plain.items()}
    assert sat["0.5"] < sat["1.6667"] < sat["3"]
    assert sat["0.5"] < 0.001 and sat["3"] > 0.2
    small = [la["init"]["act_std"] for la in plain["0.5"]["layers"] if la["tanh"]]
    assert small == sorted(small, reverse=True) and small[-1] < small[0] / 5  # shrinking with depth
    assert {f["problem"] for f in plain["3"]["flags"]} >= {"saturated"}
    normed = [saturation_at_init(first_step("mlp-bn", small_data, init_gain=g)) for g in ("0.5", "3")]
    assert normed[0] == pytest.approx(normed[1], abs=1e-3)


def test_last_layer_scale_sets_the_initial_loss(small_data: Path) -> None:
    uniform = math.log(27)
    loss = {s: first_step("mlp-bn", small_data, last_layer_scale=s)["initial_loss"]["loss"] for s in ("0.1", "1", "10")}
    assert abs(loss["0.1"] - uniform) < 0.05  # the lecture's "about 3.30 when right"
    assert loss["0.1"] < loss["1"] < loss["10"] and loss["10"] > uniform + 1  # confidently wrong at init


@pytest.mark.slow  # three diagnoses, figures drawn
def test_gain_shortcut_and_kaiming_reinit(small_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc, _ = cli_run("diagnose", "mlp-bn", "--steps", "1", "--gain", "0.5", "--last-scale", "0.2", "--data",
                    str(small_data), "--out", str(tmp_path / "a"), "--json")  # fmt: skip
    doc = json.loads((tmp_path / "a" / "stats.json").read_text())
    assert rc == 0 and doc["config"]["init_gain"] == 0.5 and doc["config"]["last_layer_scale"] == 0.2
    assert cli.main(["diagnose", "mlp", "--steps", "1", "--gain", "0.5", "--out", str(tmp_path / "b")]) == 1
    assert "--gain: mlp has no init_gain in its config; add --init kaiming" in capsys.readouterr().err
    rc, _ = cli_run("diagnose", "mlp", "--steps", "1", "--init", "kaiming", "--gain", "1", "--last-scale", "0.5",
                    "--data", str(small_data), "--out", str(tmp_path / "c"), "--json")  # fmt: skip
    init = json.loads((tmp_path / "c" / "stats.json").read_text())["init"]
    assert rc == 0 and (init["gain"], init["last_layer_scale"], init["last_layer"]) == (1.0, 0.5, "head")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("init_gain", "--compare takes KEY=V1,V2,... with two or more values"),
        ("init_gain=1", "--compare takes KEY=V1,V2,... with two or more values"),
        ("init_gain=1,1", "a value is repeated"),
        ("width=1,2", "mlp-bn has no config field 'width'"),
        ("bn=yes,no", "--compare bn takes on and off"),
        ("init=lecun,naive", "--compare init takes as-built, kaiming, default, naive"),
        ("norm=batch,instance", "norm must be one of batch, layer, group, none"),
        ("init_gain=1,big", "init_gain"),
    ],
)
def test_bad_compare_is_a_clear_error_before_training(
    spec: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["diagnose", "mlp-bn", "--compare", spec, "--out", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mmzoo: error:") and message in err and "Traceback" not in err
    assert "diagnosing" not in err and not (tmp_path / "d").exists()


def test_bn_off_without_batchnorm_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["diagnose", "mlp-bn", "--set", "norm=layer", "--compare", "bn=on,off", "--out", str(tmp_path / "d")]
    assert cli.main(args) == 1
    assert "--compare bn=off: this mlp-bn has no BatchNorm layers to remove" in capsys.readouterr().err


def test_a_plugin_model_is_diagnosed_as_its_plugin_builds_it(small_data: Path) -> None:
    """The default --init as-built leaves the plugin's own init alone (issue 11):
    the weights diagnose sees at step 0 are the ones the plugin built."""
    spec = get_zoo().model("lstm")
    assert spec.plugin == "mmzoo-lstm"
    config = spec.make_config()
    recipe = spec.recipe.__class__(steps=1, batch_size=8)
    with one_thread():
        doc = diagnose(spec, load_corpus(str(small_data)), config, recipe, 1, "as-built", False, 7).doc
    torch.manual_seed(7)  # the Trainer seeds torch the same way before it builds the model
    built = dict(spec.create(config, doc["vocab_size"]).named_parameters())
    assert doc["init"] == {"mode": "as-built", "linear": [], "last_layer": "head", "pytorch_default": [], "kept": []}
    assert doc["parameters"]
    for p in doc["parameters"]:
        assert p["init"]["data_std"] == pytest.approx(built[p["name"]].detach().std().item(), rel=1e-6), p["name"]
    with one_thread():
        reset = diagnose(spec, load_corpus(str(small_data)), config, recipe, 1, "default", False, 7).doc
    assert reset["init"]["pytorch_default"]  # asked for: then, and only then, re-initialised

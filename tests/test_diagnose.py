"""`mmzoo diagnose`: the numbers behind the flags, the files it writes, its errors.

Two short runs of the deep mlp-bn are shared by most tests: the lecture's broken
start (naive init, no BatchNorm) through the installed `mmzoo` command, and the
fixed one (the model as built: Kaiming init with BatchNorm) in-process. Both run single-threaded:
on a small shared machine, torch's thread pool only adds contention.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import BUILTIN_NAMES, run_mmzoo

from mmzoo.cli import app as cli
from mmzoo.engine.diagnose import (
    SATURATED_FRACTION,
    apply_init,
    diagnose,
    find_flags,
    find_head,
    remove_batchnorm,
)
from mmzoo.errors import MmzooError

STEPS = 150  # > 100, so that update ratios are judged too
FIGURES = ("activations", "gradients", "weights", "updates", "loss")
PROBLEMS = {"saturated", "vanishing", "exploding", "update_ratio"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


@pytest.fixture(scope="module")
def naive_run(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The lecture's starting point, through the real console script: (report, out folder)."""
    out = tmp_path_factory.mktemp("naive") / "diag"
    args = ["diagnose", "mlp-bn", "--preset", "deep", "--init", "naive", "--no-bn", "--steps", str(STEPS)]
    proc = run_mmzoo(*args, "--data", str(small_data), "--out", str(out), cwd=out.parent,
                     env={"OMP_NUM_THREADS": "1"})  # fmt: skip
    return proc.stdout, out


@pytest.fixture(scope="module")
def kaiming_run(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The fix: mlp-bn as built (Kaiming 5/3, head x0.1: `--init as-built`, the default)
    with BatchNorm, in-process through cli.main."""
    out = tmp_path_factory.mktemp("kaiming") / "diag"
    stdout = io.StringIO()
    with one_thread(), contextlib.redirect_stdout(stdout):
        rc = cli.main(["diagnose", "mlp-bn", "--preset", "deep", "--steps", str(STEPS), "--data", str(small_data),
                       "--out", str(out)])  # fmt: skip
    assert rc == 0
    return stdout.getvalue(), out


def load_stats(out: Path) -> dict[str, Any]:
    def no_nan(name: str) -> None:
        raise AssertionError(f"stats.json holds {name}, which is not JSON")

    return json.loads((out / "stats.json").read_text(), parse_constant=no_nan)


def flags_of(doc: dict[str, Any], problem: str, when: str | None = None) -> list[dict[str, Any]]:
    return [f for f in doc["flags"] if f["problem"] == problem and (when is None or f["when"] == when)]


@pytest.mark.slow  # shares two 150-step runs of the deep mlp-bn
def test_naive_init_without_batchnorm_is_flagged_saturated(naive_run: tuple[str, Path]) -> None:
    report, out = naive_run
    doc = load_stats(out)
    tanh = [la["name"] for la in doc["layers"] if la["tanh"]]
    assert tanh == ["blocks.2", "blocks.5", "blocks.8", "blocks.11", "blocks.14"]
    assert doc["removed_batchnorm"] == ["blocks.1", "blocks.4", "blocks.7", "blocks.10", "blocks.13"]
    for la in doc["layers"]:
        if la["tanh"]:
            assert la["init"]["saturated"] > 0.5  # unit-Gaussian weights over 30 or 100 inputs: deep in the tails
    assert {f["layer"] for f in flags_of(doc, "saturated", "init")} == set(tanh)
    for name in tanh:  # the text report states the same flags
        assert any(line.split()[:2] == ["saturated", name] and "at init" in line for line in report.splitlines())


@pytest.mark.slow  # shares two 150-step runs of the deep mlp-bn
def test_kaiming_init_with_batchnorm_is_not_flagged_saturated_at_init(kaiming_run: tuple[str, Path]) -> None:
    report, out = kaiming_run
    doc = load_stats(out)
    assert doc["init"]["mode"] == "as-built" and not doc["no_bn"] and doc["norm"] == "batch"
    assert doc["init"]["linear"] == [] and doc["init"]["pytorch_default"] == []  # nothing re-initialised
    tanh = [la for la in doc["layers"] if la["tanh"]]
    assert len(tanh) == 5
    for la in tanh:  # BatchNorm makes the pre-activations unit Gaussian: about 3.6% beyond |x| = 2.09
        assert 0.01 < la["init"]["saturated"] < SATURATED_FRACTION
    assert flags_of(doc, "saturated", "init") == []
    assert not any(line.split()[:1] == ["saturated"] and "at init" in line for line in report.splitlines())
    assert flags_of(doc, "vanishing") == [] and flags_of(doc, "exploding") == []


@pytest.mark.slow  # shares two 150-step runs of the deep mlp-bn
def test_initial_loss_against_uniform(naive_run: tuple[str, Path], kaiming_run: tuple[str, Path]) -> None:
    naive, kaiming = load_stats(naive_run[1]), load_stats(kaiming_run[1])
    for doc in (naive, kaiming):
        assert doc["initial_loss"]["uniform"] == pytest.approx(math.log(doc["vocab_size"]))
        assert doc["initial_loss"]["loss"] == pytest.approx(doc["loss"][0], abs=1e-4)
    assert naive["initial_loss"]["loss"] > naive["initial_loss"]["uniform"] + 5
    assert naive["initial_loss"]["verdict"] == "overconfident"
    assert abs(kaiming["initial_loss"]["excess"]) < 0.2  # the 0.1 on the last layer: near -log(1/V)
    assert "initial loss" in naive_run[0] and "overconfident" in naive_run[0]


@pytest.mark.slow  # shares two 150-step runs of the deep mlp-bn
@pytest.mark.parametrize("run", ["naive_run", "kaiming_run"])
def test_figures_are_valid_pngs(run: str, request: pytest.FixtureRequest) -> None:
    import matplotlib.image

    _, out = request.getfixturevalue(run)
    for name in FIGURES:
        path = out / f"{name}.png"
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        pixels = matplotlib.image.imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 400, name
        assert pixels[..., :3].std() > 0.05, f"{name} is blank"


@pytest.mark.slow  # shares two 150-step runs of the deep mlp-bn
def test_stats_json_structure(naive_run: tuple[str, Path]) -> None:
    doc = load_stats(naive_run[1])
    for key in (
        "model",
        "preset",
        "config",
        "init",
        "no_bn",
        "data",
        "recipe",
        "steps",
        "initial_loss",
        "loss",
        "layers",
        "focus",
        "gradient_check",
        "parameters",
        "update_window",
        "thresholds",
        "flags",
        "figures",
    ):
        assert key in doc, key  # fmt: skip
    assert doc["model"] == "mlp-bn" and doc["preset"] == "deep" and doc["config"]["n_layers"] == 5
    assert doc["steps"] == STEPS and len(doc["loss"]) == STEPS
    assert doc["figures"] == {name: f"{name}.png" for name in FIGURES}
    kinds = {la["kind"] for la in doc["layers"]}
    assert kinds == {"Embedding", "Linear", "Tanh"}  # BatchNorm gone, the Identity left in its place not a layer
    for la in doc["layers"]:
        for when in ("init", "end"):
            assert set(la[when]) == {"act_mean", "act_std", "saturated", "grad_mean", "grad_std"}
            assert la[when]["grad_std"] > 0
    assert [p["name"] for p in doc["parameters"]] == ["wte.weight"] + [
        f"blocks.{i}.weight" for i in (0, 3, 6, 9, 12)
    ] + ["head.weight"]
    for p in doc["parameters"]:
        assert len(p["update_log10"]) == STEPS and p["update_log10_median"] is not None
        assert p["init"]["grad_data_ratio"] > 0
    assert doc["update_window"] == [100, STEPS - 1]
    assert doc["flags"], "the naive run has problems to flag"
    for flag in doc["flags"]:
        assert flag["problem"] in PROBLEMS
        assert flag["figure"] in {f"{name}.png" for name in FIGURES}
        assert flag["layer"] in {la["name"] for la in doc["layers"]} | {p["name"] for p in doc["parameters"]}


def test_functional_tanh_is_hooked_too(small_data: Path) -> None:
    """`mlp` calls torch.tanh in its forward, with no Tanh module to hook."""
    from mmzoo.corpus import load_corpus
    from mmzoo.plugins import get_zoo

    spec = get_zoo().model("mlp")
    recipe = spec.recipe.__class__(steps=2, batch_size=64)
    with one_thread():
        result = diagnose(spec, load_corpus(str(small_data)), spec.make_config(), recipe, 2, "naive", False, 0)
    tanh = [la for la in result.doc["layers"] if la["tanh"]]
    assert [la["name"] for la in tanh] == ["tanh(hidden)"]
    assert tanh[0]["init"]["saturated"] > 0.5
    assert result.doc["focus"] == ["tanh(hidden)"]
    assert result.doc["update_window"] is None and flags_of(result.doc, "update_ratio") == []


def test_model_without_tanh_compares_its_functional_activations(small_data: Path) -> None:
    """The transformer calls F.gelu: its GELU layers are the ones drawn and compared, not wte vs head."""
    from mmzoo.corpus import load_corpus
    from mmzoo.plugins import get_zoo

    spec = get_zoo().model("transformer")
    recipe = spec.recipe.__class__(steps=1, batch_size=8)
    with one_thread():
        doc = diagnose(spec, load_corpus(str(small_data)), spec.make_config(), recipe, 1, "kaiming", False, 0).doc
    assert doc["focus"] and all(name.startswith("gelu(") for name in doc["focus"])
    assert all(la["init"]["saturated"] is None for la in doc["layers"])
    check = doc["gradient_check"]["init"]
    assert (check["first"], check["last"]) == (doc["focus"][0], doc["focus"][-1])
    assert doc["init"]["last_layer"] == "head"


def test_init_modes_set_the_lecture_scales() -> None:
    from mmzoo.plugins import get_zoo

    spec = get_zoo().model("mlp-bn")
    torch.manual_seed(0)
    model = spec.create(spec.make_config("deep"), 27)
    x = torch.randint(0, 27, (32, 3))
    head = find_head(model, lambda m: m.next_logits(x), 27)
    assert head == "head"
    hidden = model.blocks[3]  # Linear(100 -> 100)
    apply_init(model, "naive", head)
    assert hidden.weight.std().item() == pytest.approx(1.0, rel=0.05)
    assert model.head.weight.std().item() == pytest.approx(1.0, rel=0.05)
    apply_init(model, "kaiming", head)
    assert hidden.weight.std().item() == pytest.approx(5 / 3 / 10, rel=0.05)
    assert model.head.weight.std().item() == pytest.approx(0.1 * 5 / 3 / 10, rel=0.1)
    assert model.head.bias.abs().max().item() == 0
    doc = apply_init(model, "default", head)
    assert hidden.weight.std().item() == pytest.approx(1 / math.sqrt(3 * 100), rel=0.05)  # kaiming_uniform, a=sqrt(5)
    assert "blocks.1" in doc["pytorch_default"] and doc["kept"] == []
    assert remove_batchnorm(model) == ["blocks.1", "blocks.4", "blocks.7", "blocks.10", "blocks.13"]
    assert remove_batchnorm(model) == []


def test_find_flags_gradients_and_updates() -> None:
    def doc(ratio: float, median: float | None) -> dict[str, Any]:
        check = {"first": "a", "last": "b", "ratio": ratio}
        return {
            "layers": [],
            "gradient_check": {"init": check, "end": {"first": None, "last": None, "ratio": None}},
            "update_window": [100, 199],
            "parameters": [{"name": "w", "update_log10_median": median}],
        }

    assert find_flags(doc(1.0, -3.0)) == []
    assert [f["problem"] for f in find_flags(doc(0.05, -3.0))] == ["vanishing"]
    assert [f["problem"] for f in find_flags(doc(20.0, -3.0))] == ["exploding"]
    flags = find_flags(doc(1.0, -1.5))
    assert [(f["problem"], f["layer"], f["figure"]) for f in flags] == [("update_ratio", "w", "updates.png")]
    assert [f["problem"] for f in find_flags(doc(1.0, -4.5))] == ["update_ratio"]


def test_no_bn_on_a_model_without_batchnorm_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = cli.main(["diagnose", "mlp", "--no-bn", "--steps", "1", "--out", str(tmp_path / "d")])
    assert rc == 1
    assert "mlp has no BatchNorm layers" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_bad_arguments_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["diagnose", "mlp", "--init", "lecun", "--out", str(tmp_path / "d")]) == 1
    assert "--init must be one of as-built, kaiming, default, naive" in capsys.readouterr().err
    assert cli.main(["diagnose", "bigram", "--init", "naive", "--out", str(tmp_path / "d")]) == 1
    assert "fitted by counting, not by gradient descent: --init does not apply" in capsys.readouterr().err


def test_missing_matplotlib_is_a_clear_error_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(MmzooError, match=r"mmzoo\[plots\]"):
        from mmzoo.engine.diagnose.plots import require_matplotlib

        require_matplotlib()
    assert cli.main(["diagnose", "mlp-bn", "--out", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "matplotlib" in err and "diagnosing" not in err
    assert not (tmp_path / "d").exists()

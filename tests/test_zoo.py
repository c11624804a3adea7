"""Every registered model, built-in or an installed plugin's, through mmzoo.testing's
kit (the checks plugin authors are told to run); the step models through the real CLI
(train, export, sample against torch); and the committed pretrained samples. The lists
come from the registry: a new family is tested by registering it, not by editing this file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import onnx
import pytest
import torch
from conftest import BUILTIN_NAMES, REPO, run_mmzoo

from mmzoo.contract import STEP, input_mode_of
from mmzoo.errors import MmzooError
from mmzoo.plugins import BUILTIN_DIST, get_zoo
from mmzoo.registry import ModelSpec

ZOO = get_zoo()
ALL_MODELS = sorted(ZOO.models)
BUILTIN_MODELS = sorted(name for name, spec in ZOO.models.items() if spec.plugin == BUILTIN_DIST)


def tiny(spec: ModelSpec) -> dict[str, str]:
    """The spec's `tiny` preset (seconds to train and export), as --set pairs."""
    return {k: str(v) for k, v in spec.presets.get("tiny", {}).items()}


def mode_of(name: str) -> str:
    spec = ZOO.models[name]
    return input_mode_of(spec.create(spec.make_config("tiny" if "tiny" in spec.presets else None), 27))


def sees_the_future(name: str) -> bool:
    """Whether the model breaks the causality rule (the test plugins hold one that does,
    on purpose), found by the engine's own check rather than by a list here."""
    from mmzoo.engine.export.causality import first_leak

    spec = ZOO.models[name]
    torch.manual_seed(0)
    return first_leak(spec.create(spec.make_config("tiny" if "tiny" in spec.presets else None), 27), 27) is not None


GRADIENT_MODELS = [n for n in ALL_MODELS if ZOO.models[n].fit is None and not sees_the_future(n)]
STEP_MODELS = [n for n in BUILTIN_MODELS if mode_of(n) == STEP]


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_registered_model_passes_the_plugin_kit(name: str, tmp_path: Path) -> None:
    """check_model_spec: the contract in torch, 30 steps of training, export with
    onnxruntime parity, and sampling under onnxruntime."""
    from mmzoo.testing import check_model_spec

    spec = ZOO.models[name]
    config = spec.make_config("tiny" if "tiny" in spec.presets else None)
    if sees_the_future(name):
        with pytest.raises(AssertionError, match="causal|future|leak"):
            check_model_spec(spec, tmp_path, config=config, steps=30)
        return
    warm = spec.recipe.warmup > 30  # a warmup longer than the run need not show learning yet
    check = check_model_spec(spec, tmp_path, config=config, steps=30, expect_learning=not warm)
    assert max(check.parity.values()) <= 1e-4 and len(check.samples) == 5


@dataclass
class Exported:
    run: Path
    onnx: Path
    report: dict

    @property
    def props(self) -> dict[str, str]:
        return {p.key: p.value for p in onnx.load(str(self.onnx)).metadata_props}


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zoo") / "small.txt"
    path.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:2000]) + "\n")
    return path


@pytest.fixture(scope="module")
def exported(request: pytest.FixtureRequest, small_corpus: Path) -> Exported:
    """One tiny model trained for a few steps with `mmzoo train`, then `mmzoo export`ed."""
    name = request.param
    root = small_corpus.parent / name
    sets = [arg for k, v in tiny(ZOO.models[name]).items() for arg in ("--set", f"{k}={v}")]
    run_mmzoo("train", name, "--data", str(small_corpus), "--steps", "40", "--batch-size", "32", *sets,
              "--out", str(root / "run"), "--json", cwd=small_corpus.parent)  # fmt: skip
    out = root / f"{name}.onnx"
    report = json.loads(
        run_mmzoo("export", str(root / "run"), "--out", str(out), "--json", cwd=small_corpus.parent).stdout
    )
    return Exported(root / "run", out, report)


@pytest.mark.parametrize("exported", STEP_MODELS, indirect=True)
def test_the_step_files_state_is_the_models(exported: Exported) -> None:
    props = exported.props
    spec = ZOO.models[props["mmzoo.model"]]
    assert props["mmzoo.input"] == STEP
    assert set(exported.report["parity_max_abs_diff"]) == {"batch_1", "batch_1000"}
    assert max(exported.report["parity_max_abs_diff"].values()) <= 1e-4
    model = spec.create(spec.config(**json.loads(props["mmzoo.config"])), 27)
    names = [s.name for s in model.onnx_state(1)]
    assert json.loads(props["mmzoo.state"]) == [{"input": n, "output": f"{n}_out"} for n in names]


@pytest.mark.parametrize("exported", ["wavenet"], indirect=True)
def test_wavenet_batchnorms_are_calibrated_and_folded(exported: Exported) -> None:
    report = exported.report
    assert report["bn_folded"] == 3  # one per level of 8 -> 4 -> 2 -> 1
    assert all(f["how"].startswith("into MatMul via ") for f in report["fold"]) and len(report["fold"]) == 3
    assert report["calibrated"] is (report["val_loss_calibrated"] < report["val_loss_uncalibrated"])
    assert report["val_loss"] == min(report["val_loss_calibrated"], report["val_loss_uncalibrated"])
    ops = {n.op_type for n in onnx.load(str(exported.onnx)).graph.node}
    assert "BatchNormalization" not in ops


@pytest.mark.parametrize("exported", STEP_MODELS, indirect=True)
def test_onnx_samples_are_the_torch_samples(exported: Exported) -> None:
    """Same seed, same names: the exported graph (one token per call for step models)
    against torch re-running the whole prefix every step. (wavenet's file is calibrated and
    its checkpoint is not, so its logits differ on purpose; its parity is checked at export.)"""
    from_onnx = json.loads(run_mmzoo("sample", str(exported.onnx), "-n", "40", "--seed", "5", "--json").stdout)
    from_torch = json.loads(run_mmzoo("sample", str(exported.run), "-n", "40", "--seed", "5", "--json").stdout)
    assert len(from_onnx["samples"]) == 40
    assert from_onnx["samples"] == from_torch["samples"]


@pytest.mark.parametrize("exported", STEP_MODELS, indirect=True)
def test_step_graph_matches_the_full_sequence_over_whole_names(exported: Exported) -> None:
    from mmzoo.engine.export.parity import step_parity
    from mmzoo.engine.opened_run import open_run
    from mmzoo.runtime import OnnxModel

    run = open_run(exported.run)
    tensors = run.tensors(run.split_items()["val"])
    onnx_model = OnnxModel(exported.onnx)
    pairs = onnx_model.metadata.state
    for batch in (1, len(tensors)):
        session = onnx_model.session_for(batch)
        diff = step_parity(session, run.model, pairs, tensors.x[:batch], tensors.y[:batch])
        assert diff <= 1e-4, f"batch {batch}: {diff:.2e}"


def _perturbed(name: str) -> torch.nn.Module:
    """A tiny model with every weight (the learned start state included) off its init."""
    spec = get_zoo().model(name)
    torch.manual_seed(1)
    model = spec.create(spec.make_config("tiny"), 27)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


@pytest.mark.parametrize("name", STEP_MODELS)
def test_step_replays_forward_in_torch(name: str) -> None:
    model = _perturbed(name)
    idx = torch.randint(1, 27, (5, 12))
    idx[:, 0] = 0  # every item starts at the boundary token
    with torch.no_grad():
        want = model(idx)  # [B, T, V]
        # the initial state: symbolic axes (a cache's past) empty, and garbage in the rest,
        # which must not matter: at pos 0 the model starts itself
        state = []
        for spec in model.onnx_state(5):
            example = spec.example
            for axis in spec.axes:
                example = example.narrow(axis, 0, 0)
            state.append(torch.randn_like(example))
        for t in range(idx.shape[1]):
            logits, *state = model.step(idx[:, t], torch.tensor(t), *state)
            assert (logits - want[:, t]).abs().max().item() <= 1e-5, f"position {t}"


def test_a_sequence_longer_than_block_size_is_a_clear_error(small_corpus: Path) -> None:
    proc = run_mmzoo(
        "train",
        "transformer",
        "--data",
        str(small_corpus),
        "--steps",
        "2",
        "--set",
        "block_size=4",
        "--set",
        "n_layer=1",
        "--out",
        str(small_corpus.parent / "short"),
        check=False,
        cwd=small_corpus.parent,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "longer than block_size 4" in proc.stderr and "--set block_size=" in proc.stderr


def test_wavenet_needs_a_power_of_two_context() -> None:
    spec = get_zoo().model("wavenet")
    with pytest.raises(MmzooError, match="power of 2"):
        spec.create(spec.make_config(overrides={"block_size": "6"}), 27)
    assert spec.create(spec.make_config(overrides={"block_size": "16"}), 27).context_length == 16


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_pretrained_samples_are_plausible(name: str, tmp_path: Path) -> None:
    """At temperature 1, most samples are new names and their lengths look like names."""
    from mmzoo.corpus import read_items, split_items

    path = REPO / "mmzoo" / "pretrained" / f"names-{name}.onnx"
    assert path.is_file(), f"{path} is missing: run `make zoo`"
    doc = json.loads(run_mmzoo("sample", str(path), "-n", "1000", "--seed", "0", "--json", cwd=tmp_path).stdout)
    samples = doc["samples"]
    assert len(samples) == 1000
    train = split_items(read_items(BUILTIN_NAMES)[0])["train"]
    known = set(train)
    assert sum(s not in known for s in samples) >= 500
    mean_train = sum(map(len, train)) / len(train)
    mean_sample = sum(map(len, samples)) / len(samples)
    assert abs(mean_sample - mean_train) <= 0.2 * mean_train


@pytest.mark.parametrize("name", GRADIENT_MODELS)
def test_default_models_keep_the_contract(name: str) -> None:
    """Shapes, causality, and step()/next_logits() against forward(), at the default config."""
    from mmzoo.testing import check_model_contract

    spec = get_zoo().model(name)
    torch.manual_seed(0)
    check_model_contract(spec.create(spec.config(), 27), 27)

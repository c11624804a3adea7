"""Step files past `context_length` (issue 12): no input docs/onnx.md allows crashes
onnxruntime, and past the last position the onnx path reads what the torch path
reads: the last context_length tokens, positions restarting at 0 (makemore's crop)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_mmzoo

EXPORTED = REPO / "mmzoo" / "pretrained"
# step and window files: a generator file takes no prefix
PRETRAINED = sorted(
    p for p in EXPORTED.glob("names-*.onnx") if not p.name.endswith(".gen.onnx")
)  # prefixes: step/window files
LONG_PREFIX = "ab" * 24  # 48 characters: longer than every pretrained file's context


def context_of(path: Path) -> int:
    from mmzoo.runtime import OnnxModel

    return OnnxModel(path, ["cpu"]).metadata.context_length


@pytest.mark.parametrize("path", PRETRAINED, ids=lambda p: p.stem)
def test_a_long_prefix_samples_from_every_pretrained_file(path: Path) -> None:
    assert len(LONG_PREFIX) > context_of(path)
    proc = run_mmzoo("sample", str(path), "-n", "40", "--prefix", LONG_PREFIX, "--seed", "1", "--json")
    samples = json.loads(proc.stdout)["samples"]
    assert len(samples) == 40 and all(s.startswith(LONG_PREFIX) for s in samples)
    assert any(len(s) > len(LONG_PREFIX) for s in samples)


@pytest.mark.parametrize("path", PRETRAINED, ids=lambda p: p.stem)
def test_past_context_the_stepper_reads_the_last_context_tokens(path: Path) -> None:
    """Logits after a history longer than the context = logits of a fresh start fed
    only its last context_length tokens (for step files: the restart at pos 0)."""
    from mmzoo.runtime import OnnxModel, OrtStepper

    model = OnnxModel(path, ["cpu"])
    C = model.metadata.context_length
    if model.metadata.mode not in ("window", "sequence", "step"):
        pytest.skip(f"{model.metadata.mode} files have no stepper")
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, len(model.metadata.vocab), size=(3, 2 * C + 5))
    tokens[:, 0] = 0
    long, short = OrtStepper(model), OrtStepper(model)
    long.start(3)
    for t in range(tokens.shape[1]):
        got = long.feed(tokens[:, t])
        if t < C:
            continue
        short.start(3)
        if model.metadata.mode == "window":
            short.history = tokens[:, t - C : t].copy()  # the window before the last token
            want = short.feed(tokens[:, t])
        else:
            for s in range(t - C + 1, t + 1):
                want = short.feed(tokens[:, s])
        np.testing.assert_allclose(got, want, atol=1e-5)


def long_items_corpus(path: Path) -> Path:
    """Items of 20 to 45 letters: longer than the default context (block_size 32)."""
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(20, 45))) for _ in range(300)]
    path.write_text("\n".join(words) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("model", ["transformer", "bow"])  # the two with a position table
def test_onnx_and_torch_agree_past_context_length(model: str, tmp_path: Path) -> None:
    """Train on long items (block_size = max_length, the least training allows), export,
    then step and sample past the context both ways."""
    from mmzoo.engine.opened_run import open_run
    from mmzoo.engine.torch_sampling import TorchStepper
    from mmzoo.runtime import OnnxModel, OrtStepper

    data = long_items_corpus(tmp_path / "long.txt")
    run, out = tmp_path / "run", tmp_path / f"{model}.onnx"
    tiny = ["--set", "n_embd=16"] + (["--set", "n_layer=1", "--set", "n_head=2"] if model == "transformer" else [])
    tiny += ["--set", "n_hidden=32"] if model != "transformer" else []
    train = ["train", model, "--data", str(data), "--steps", "40", "--threads", "1", "--out", str(run), "--json"]
    run_mmzoo(*train, "--set", "block_size=46", *tiny, cwd=tmp_path)
    run_mmzoo("export", str(run), "--out", str(out), "--json", cwd=tmp_path)

    onnx_model = OnnxModel(out, ["cpu"])
    assert onnx_model.metadata.context_length == 46 and onnx_model.metadata.max_length == 46
    torch_stepper, ort_stepper = TorchStepper(open_run(run).model), OrtStepper(onnx_model)
    tokens = np.random.default_rng(1).integers(1, len(onnx_model.metadata.vocab), size=(4, 100))
    tokens[:, 0] = 0
    torch_stepper.start(4)
    ort_stepper.start(4)
    for t in range(tokens.shape[1]):
        np.testing.assert_allclose(ort_stepper.feed(tokens[:, t]), torch_stepper.feed(tokens[:, t]), atol=1e-4)

    # the CLI both ways, with a prefix past the context
    args = ["-n", "30", "--seed", "2", "--prefix", "abcdefgh" * 7, "--json"]
    via_torch = json.loads(run_mmzoo("sample", str(run), *args, cwd=tmp_path).stdout)["samples"]
    via_onnx = json.loads(run_mmzoo("sample", str(out), *args, cwd=tmp_path).stdout)["samples"]
    assert via_onnx == via_torch and len(set(via_onnx)) > 1

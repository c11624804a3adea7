"""Checks for plugin authors, usable from pytest (docs/plugins.md):

    from mmzoo.testing import check_model_spec, check_plugin
    import my_plugin

    def test_plugin_loads():
        check_plugin(my_plugin)

    def test_model(tmp_path):
        check_model_spec(my_plugin.SPEC, tmp_path)

`check_model_spec` runs the spec through what `mmzoo train`, `mmzoo export` and
`mmzoo sample x.onnx` do, on a tiny corpus, so a plugin's own test suite finds
a contract mistake in seconds, with a message that names it, instead of a user
finding it half-way through an export. Failures raise AssertionError.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzoo.contract import DEFAULT_OPSET, MODES, SEQUENCE, STEP, WINDOW, input_mode_of
from mmzoo.plugins import PluginInfo, load_zoo
from mmzoo.registry import ModelSpec

TINY_CORPUS_ITEMS = 400
STEP_TOL = 1e-5  # step() against forward(), in float32, before export checks ORT


@dataclass
class SpecCheck:
    """What check_model_spec saw, for tests that want to assert more."""

    run_dir: Path
    onnx_path: Path
    initial_val_loss: float
    val_loss: float  # the run's best, with BatchNorm's running statistics
    exported_val_loss: float  # with the statistics export kept
    parity: dict[str, float]
    samples: list[str]


def check_plugin(plugin: Any, name: str | None = None) -> PluginInfo:
    """Load `plugin` (a module or an object with hookimpls) the way mmzoo loads an
    entry point, next to the built-ins only, and fail with every error it caused:
    a refused API version, a misspelt hook, a malformed or clashing spec."""
    zoo = load_zoo(extra=[plugin], plugins=())
    info = zoo.plugins[-1]
    if name is not None:
        info.name = name
    if info.errors:
        raise AssertionError(f"plugin {info.name} did not load cleanly:\n  " + "\n  ".join(info.errors))
    if not (info.models or info.datasets) and not zoo.pm.hook.register_commands.get_hookimpls():
        raise AssertionError(f"plugin {info.name} registered nothing")
    return info


def tiny_corpus(directory: Path, n: int = TINY_CORPUS_ITEMS) -> Path:
    """The first `n` names of the built-in corpus, as a file: enough for a
    train/val split and a few steps, small enough for a test."""
    from mmzoo.datasets import builtin_corpus_path

    items = builtin_corpus_path().read_text(encoding="utf-8").split()[:n]
    path = Path(directory) / "tiny.txt"
    path.write_text("\n".join(items) + "\n", encoding="utf-8")
    return path


def check_model_spec(
    spec: ModelSpec,
    tmp_path: Path,
    *,
    config: Any = None,
    steps: int = 20,
    batch_size: int = 32,
    data: Path | None = None,
    seed: int = 0,
    n_samples: int = 5,
    expect_learning: bool = True,
) -> SpecCheck:
    """Validate the spec, check the model contract in torch, train `steps` steps,
    export to ONNX (export itself checks onnxruntime against torch), and sample
    `n_samples` items under onnxruntime. `expect_learning` asks that the val loss
    after training is below the loss before it, the cheapest sign that the
    gradients reach the weights; turn it off for a recipe whose warmup is longer
    than `steps`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a tiny corpus: extra threads only wait on each other
    try:
        return _check_model_spec(
            spec, Path(tmp_path), config, steps, batch_size, data, seed, n_samples, expect_learning
        )
    finally:
        torch.set_num_threads(threads)


def _check_model_spec(
    spec: ModelSpec,
    tmp_path: Path,
    config: Any,
    steps: int,
    batch_size: int,
    data: Path | None,
    seed: int,
    n_samples: int,
    expect_learning: bool,
) -> SpecCheck:
    import torch

    from mmzoo.corpus import load_corpus
    from mmzoo.engine.data.batches import tensorize_splits
    from mmzoo.engine.loss import split_loss
    from mmzoo.engine.training.trainer import train
    from mmzoo.runtime import OnnxSampler

    try:
        spec.validate()
    except ValueError as exc:
        raise AssertionError(f"malformed ModelSpec: {exc}") from None
    corpus = load_corpus(data or tiny_corpus(tmp_path))
    config = spec.config() if config is None else config
    vocab = corpus.vocab

    torch.manual_seed(seed)
    model = spec.create(config, vocab.size)
    check_model_contract(model, vocab.size)
    check_declared_params(spec)
    splits = tensorize_splits(corpus, seed, model)
    initial = split_loss(model, splits["val"].x, splits["val"].y)

    recipe = dataclasses.replace(spec.recipe, steps=steps, batch_size=batch_size, eval_every=max(1, steps))
    run_dir = tmp_path / "run"
    result = train(spec, corpus, config, recipe, seed, run_dir, log=lambda message: None)
    if not math.isfinite(result.best_val_loss):
        raise AssertionError(f"{spec.name}: val loss is {result.best_val_loss} after {result.step} steps")
    if expect_learning and not result.best_val_loss < initial:
        raise AssertionError(
            f"{spec.name}: val loss did not drop in {result.step} steps ({initial:.4f} -> {result.best_val_loss:.4f})"
        )

    onnx_path = tmp_path / f"{spec.name}.onnx"
    report = _export_run(spec, run_dir, onnx_path)
    samples = OnnxSampler(onnx_path, ["cpu"]).sample(n_samples, seed=seed)
    allowed = set(vocab.chars[1:])
    bad = [s for s in samples if not isinstance(s, str) or set(s) - allowed]
    if len(samples) != n_samples or bad:
        raise AssertionError(f"{spec.name}: onnxruntime sampling gave {samples!r}")
    return SpecCheck(run_dir, onnx_path, initial, result.best_val_loss, report.stats.val_loss, report.parity, samples)


def _export_run(spec: ModelSpec, run_dir: Path, onnx_path: Path) -> Any:
    """Export from the checkpoint on disk, as `mmzoo export` does, but with this spec
    rather than the installed plugins', so an uninstalled plugin can be checked."""
    from mmzoo.engine.export.writer import ExportInputs, export_model
    from mmzoo.engine.opened_run import open_run

    run = open_run(run_dir, spec=spec)
    train, val, _ = run.export_data()
    return export_model(ExportInputs(run.model, run.meta, train, val), onnx_path, opset=DEFAULT_OPSET, calibrate=None)


def check_declared_params(spec: ModelSpec) -> None:
    """A spec's declared `params` (what `mmzoo list` shows without torch) must be
    the count of the network it builds at the default config and vocabulary 27."""
    from mmzoo.datasets import BUILTIN_VOCAB_SIZE

    if spec.params is None:
        return
    model = spec.create(spec.config(), BUILTIN_VOCAB_SIZE)
    actual = sum(p.numel() for p in model.parameters())
    if actual != spec.params:
        raise AssertionError(f"{spec.name}: declares params={spec.params:,} but its default model has {actual:,}")


def check_model_contract(model: Any, vocab_size: int) -> None:
    """The contract of docs/plugins.md, checked in torch with messages that name the
    broken rule: shapes, causality (changing any token t, at every position of a few
    random sequences as long as the context, must not move a logit before t), and
    for the window and step modes, that their export entry points agree with forward()."""
    import torch

    from mmzoo.engine.export.causality import first_leak

    mode = input_mode_of(model)
    if mode not in MODES:
        raise AssertionError(f"input_mode must be one of {', '.join(MODES)}, not {mode!r}")
    C = getattr(model, "context_length", None)
    if not isinstance(C, int) or isinstance(C, bool) or C < 1:
        raise AssertionError(f"context_length must be an int >= 1, got {C!r}")
    B, T = 3, min(6, C) if mode == SEQUENCE else 6
    generator = torch.Generator().manual_seed(0)
    idx = torch.randint(1, vocab_size, (B, T), generator=generator)
    idx[:, 0] = 0  # items start with the boundary token
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(idx)
            if tuple(logits.shape) != (B, T, vocab_size):
                raise AssertionError(f"forward(idx[{B}, {T}]) gave {tuple(logits.shape)}, not {(B, T, vocab_size)}")
            leak = first_leak(model, vocab_size)
            if leak is not None:
                raise AssertionError(
                    f"forward() is not causal: logits at position {leak[0]} change with token {leak[1]}"
                )
            if mode == WINDOW:
                ctx = torch.nn.functional.pad(idx, (C - 1, 0))[:, -C:]
                diff = (model.next_logits(ctx) - logits[:, -1]).abs().max().item()
                if not diff <= STEP_TOL:
                    raise AssertionError(f"next_logits() differs from forward()[:, -1] by {diff:.2e}")
            if mode == STEP:
                _check_step(model, idx, logits)
    finally:
        model.train(was_training)


def _check_step(model: Any, idx: Any, logits: Any) -> None:
    import torch

    for needed in ("step", "onnx_state"):
        if not callable(getattr(model, needed, None)):
            raise AssertionError(f"input_mode 'step' needs a {needed}() method")
    B, T = idx.shape
    # what the runtime feeds at pos 0: zeros, with the symbolic axes (a growing cache) empty
    state = [
        torch.zeros([B] + [0 if axis in s.axes else n for axis, n in enumerate(s.example.shape) if axis > 0])
        for s in model.onnx_state(B)
    ]
    for t in range(T):
        out = model.step(idx[:, t], torch.tensor(t, dtype=torch.long), *state)
        if len(out) != len(state) + 1:
            raise AssertionError(f"step() returned {len(out)} tensors; expected logits and {len(state)} states")
        diff = (out[0] - logits[:, t]).abs().max().item()
        if not diff <= STEP_TOL:
            hint = " (is the start state applied when pos == 0?)" if t == 0 else ""
            raise AssertionError(f"step() differs from forward() at position {t} by {diff:.2e}{hint}")
        state = list(out[1:])

"""`diagnose()`: build the model as `mmzoo train` would, apply the surgery asked
for, let the Trainer's own loop run with a DiagnoseObserver watching it, and
assemble stats.json's document."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mmzoo.corpus import Corpus
from mmzoo.engine.devices import device_of
from mmzoo.engine.diagnose.flags import (
    GRADIENT_RATIO,
    SATURATED_FRACTION,
    UPDATE_AFTER,
    UPDATE_HIGH,
    UPDATE_LOW,
    find_flags,
)
from mmzoo.engine.diagnose.init import AS_BUILT, INIT_MODES, LAST_LAYER_SCALE, apply_init, find_head, remove_batchnorm
from mmzoo.engine.diagnose.learnings import extras
from mmzoo.engine.diagnose.observer import DiagnoseObserver
from mmzoo.engine.diagnose.stats import SATURATION, SNAPSHOTS, Diagnosis, _num, focus_layers, gradient_check
from mmzoo.engine.export.norms import norm_kinds, norm_label
from mmzoo.engine.loss import batch_loss, split_loss
from mmzoo.engine.training.distributed import Parallel
from mmzoo.engine.training.trainer import Trainer, make_optimizer
from mmzoo.errors import MmzooError
from mmzoo.models.blocks import TANH_GAIN
from mmzoo.registry import ModelSpec, Recipe


@dataclasses.dataclass(frozen=True)
class Surgery:
    """What to do to the model before training: --init, --no-bn, and the gain and
    last-layer scale that --init kaiming uses."""

    init: str = AS_BUILT
    no_bn: bool = False
    gain: float = TANH_GAIN
    last_scale: float = LAST_LAYER_SCALE


def diagnose(
    spec: ModelSpec,
    corpus: Corpus,
    config: Any,
    recipe: Recipe,
    steps: int,
    init: str,
    no_bn: bool,
    seed: int,
    preset: str | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    surgery: Surgery | None = None,
    device: torch.device | None = None,
) -> Diagnosis:
    """Build the model, apply --no-bn and --init, train `steps` steps in the
    Trainer's loop (the recipe's optimizer and schedule), and gather every statistic."""
    surgery = dataclasses.replace(surgery or Surgery(), init=init, no_bn=no_bn)
    if spec.fit is not None:
        raise MmzooError(f"{spec.name} is fitted by counting, not by gradient descent: there is nothing to diagnose")
    if steps < 1:
        raise MmzooError("--steps must be at least 1")
    if init not in INIT_MODES:
        raise MmzooError(f"--init must be one of {', '.join(INIT_MODES)}, got {init!r}")
    recipe = dataclasses.replace(recipe, steps=steps)
    parallel = Parallel(device=device or torch.device("cpu"))  # --device; statistics come back to the CPU
    trainer = Trainer(spec, corpus, config, recipe, seed, None, log=lambda message: None, parallel=parallel)
    prepared = _operate(trainer, surgery)
    observer = DiagnoseObserver(trainer.model, steps, seed, progress)
    trainer.observers.append(observer)
    if trainer.loop():
        raise KeyboardInterrupt
    observer.finish()
    val = trainer.splits["val"]
    prepared["val_loss"] = split_loss(trainer.model, val.x, val.y)
    doc = build_doc(trainer, observer, prepared, preset)
    doc.update(extras(trainer))  # coupling, and the neural bigram's distance to the counts
    return Diagnosis(doc, observer.acts, observer.grads, observer.wgrads)


def _operate(trainer: Trainer, surgery: Surgery) -> dict[str, Any]:
    """--no-bn, then --init (its last layer found on the first training batch),
    then a fresh optimizer over the parameters the model has now."""
    spec, model, train = trainer.spec, trainer.model, trainer.splits["train"]
    removed: list[str] = []
    if surgery.no_bn:
        removed = remove_batchnorm(model)
        if not removed:
            raise MmzooError(f"--no-bn: {spec.name} has no BatchNorm layers to remove; drop --no-bn")
    rng = torch.Generator().manual_seed(trainer.seed)  # the Trainer's first batch, drawn the same way
    first = torch.randint(0, len(train), (trainer.recipe.batch_size,), generator=rng)
    device = device_of(model)  # the splits stay on the CPU; --device cuda put the model on the GPU
    xb, yb = train.x[first].to(device), train.y[first].to(device)
    head = find_head(model, lambda m: batch_loss(m, xb, yb), trainer.corpus.vocab.size)
    init_doc = apply_init(model, surgery.init, head, surgery.gain, surgery.last_scale)
    if not any(p.requires_grad for p in model.parameters()):
        raise MmzooError(f"{spec.name} has no trainable parameters: there is nothing to diagnose")
    trainer.optimizer = make_optimizer(model, trainer.recipe)
    return {"init": init_doc, "no_bn": surgery.no_bn, "removed_batchnorm": removed,
            "norm": norm_label(norm_kinds(model))}  # fmt: skip


def _layers_and_parameters(observer: DiagnoseObserver, steps: int) -> dict[str, Any]:
    empty = {"act_mean": None, "act_std": None, "saturated": None, "grad_mean": None, "grad_std": None}
    stats = observer.layer_stats
    layers = [
        {"name": name, **info, **{when: stats[when].get(name, empty) for when in SNAPSHOTS}}
        for name, info in observer.kinds.items()
    ]
    focus = focus_layers(layers)
    for layer in layers:
        layer["focus"] = layer["name"] in focus
    window = (UPDATE_AFTER, steps - 1) if steps > UPDATE_AFTER else None
    parameters = []
    for name, p in observer.weights.items():
        series = observer.updates[name]
        judged = [v for v in (series[UPDATE_AFTER:] if window else []) if math.isfinite(v)]
        parameters.append({
            "name": name, "shape": list(p.shape),
            **{when: observer.weight_stats[when][name] for when in SNAPSHOTS},
            "update_log10_median": _num(float(np.median(judged))) if judged else None,
            "update_log10": [_num(round(v, 4)) for v in series],
        })  # fmt: skip
    return {
        "layers": layers,
        "focus": focus,
        "gradient_check": {when: gradient_check(layers, focus, when) for when in SNAPSHOTS},
        "parameters": parameters,
        "update_window": list(window) if window else None,
    }


THRESHOLDS = {
    "saturation": SATURATION,
    "saturated_fraction": SATURATED_FRACTION,
    "gradient_ratio": GRADIENT_RATIO,
    "update_low": UPDATE_LOW,
    "update_high": UPDATE_HIGH,
    "update_after_step": UPDATE_AFTER,
}


def build_doc(trainer: Trainer, observer: DiagnoseObserver, prepared: dict[str, Any], preset: str | None) -> dict:
    """stats.json: the run, the losses, the per-layer and per-weight numbers, the flags."""
    corpus, losses, steps = trainer.corpus, observer.losses, trainer.recipe.steps
    uniform = math.log(corpus.vocab.size)
    tail = losses[-min(100, len(losses)) :]
    timed = observer.step_seconds
    doc: dict[str, Any] = {
        "model": trainer.spec.name,
        "preset": preset,
        "config": dataclasses.asdict(trainer.config),
        **{key: prepared[key] for key in ("init", "no_bn", "removed_batchnorm", "norm")},
        "data": {"source": corpus.source, "items": len(corpus), "train_examples": len(trainer.splits["train"])},
        "recipe": dataclasses.asdict(trainer.recipe),
        "steps": steps,
        "seed": trainer.seed,
        "vocab_size": corpus.vocab.size,
        "initial_loss": {
            "loss": losses[0],
            "uniform": uniform,
            "excess": losses[0] - uniform,
            "verdict": "overconfident" if losses[0] > uniform + 0.5 else "near uniform",
        },  # fmt: skip
        "final_loss": sum(tail) / len(tail),
        "val_loss": prepared["val_loss"],
        "seconds_per_step": float(np.median(timed)) if timed else None,
        "loss": [round(v, 4) for v in losses],
        "thresholds": THRESHOLDS,
        **_layers_and_parameters(observer, steps),
    }
    doc["flags"] = find_flags(doc)
    return doc

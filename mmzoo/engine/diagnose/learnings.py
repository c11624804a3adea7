"""What every diagnosis adds for docs/learnings.md: BatchNorm's coupling of the
examples of a batch (learning 13), and for a neural bigram its distance to the
count model (learnings 6-8, bigram.py). Measured on the trained model, after
the last step, in the same run that the figures come from."""

from __future__ import annotations

import copy
from typing import Any, cast

import torch

from mmzoo.contract import WindowNet, is_window
from mmzoo.engine.devices import device_of
from mmzoo.engine.diagnose.bigram import neural_doc

COUPLING_BATCH = 32  # the size of the batch example 0 is part of


def _logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return cast(WindowNet, model).next_logits(x) if is_window(model) else model(x)


@torch.no_grad()
def coupling(model: torch.nn.Module, x: torch.Tensor, batch: int = COUPLING_BATCH) -> dict[str, Any] | None:
    """How far example 0's logits move when the other batch - 1 examples of its batch
    are replaced by others, in training mode (BatchNorm uses the batch's statistics)
    and in eval mode (the running statistics). A copy of the model is used, so the
    training-mode forwards never touch the real one's running statistics."""
    if len(x) < 2 * batch:
        return None
    probe = copy.deepcopy(model)
    device = device_of(probe)
    a = x[:batch].to(device)
    b = torch.cat([x[:1], x[batch : 2 * batch - 1]]).to(device)
    out: dict[str, Any] = {"batch": batch}
    for mode, training in (("train_mode", True), ("eval_mode", False)):
        probe.train(training)
        torch.manual_seed(0)  # the same dropout mask for example 0 in both forwards
        first = _logits(probe, a)[0]
        torch.manual_seed(0)
        second = _logits(probe, b)[0]
        out[mode] = float((first - second).abs().max())
    return out


def extras(trainer: Any) -> dict[str, Any]:
    """The sections diagnose() adds to stats.json: `coupling`, and `bigram` for a neural bigram."""
    model = trainer.model
    doc: dict[str, Any] = {"coupling": coupling(model, trainer.splits["val"].x)}
    neural = neural_doc(model, trainer.splits, trainer.config)
    if neural is not None:
        doc["bigram"] = neural
    return doc

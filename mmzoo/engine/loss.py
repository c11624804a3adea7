"""The one loss every model is judged by: mean NLL per character over real
positions (the closing boundary included), as the lectures define it."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmzoo.contract import WindowNet, is_window
from mmzoo.engine.data.batches import PAD
from mmzoo.engine.devices import device_of


def batch_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x, y are windows ([B, C], [B]) for window models, sequences ([B, T]) otherwise."""
    if is_window(model):
        logits = cast(WindowNet, model).next_logits(x)  # [B, V]
        return F.cross_entropy(logits, y)
    T = int((y != PAD).sum(1).max())  # crop the batch to its longest item
    logits = model(x[:, :T])  # [B, T, V]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[:, :T].reshape(-1), ignore_index=PAD)


@torch.no_grad()
def split_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 16384) -> float:
    """Exact mean NLL over a whole split, in eval mode, in chunks."""
    was_training = model.training
    device = device_of(model)  # splits stay on the CPU; chunks go to the model
    model.eval()
    total, count = 0.0, 0
    if not is_window(model):
        chunk = max(1, chunk // max(1, x.shape[1]))
    for start in range(0, x.shape[0], chunk):
        xb, yb = x[start : start + chunk].to(device), y[start : start + chunk].to(device)
        n = int((yb != PAD).sum())
        if n:
            total += float(batch_loss(model, xb, yb)) * n
            count += n
    model.train(was_training)
    return total / max(count, 1)

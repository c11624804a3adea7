"""The torch side of sampling: feeds a trained nn.Module to the shared numpy loop."""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmzoo.contract import WindowNet, context_length_of, is_window


class TorchStepper:
    """Re-runs the model over the (cropped) history each step, as makemore does."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        self.context = context_length_of(model)
        self.history = torch.zeros(0, 0, dtype=torch.long)

    def start(self, batch: int) -> None:
        self.history = torch.zeros(batch, 0, dtype=torch.long)

    @torch.no_grad()
    def feed(self, tokens: np.ndarray) -> np.ndarray:
        self.history = torch.cat([self.history, torch.from_numpy(tokens).long()[:, None]], dim=1)
        recent = self.history[:, -self.context :]
        if is_window(self.model):
            ctx = F.pad(recent, (self.context - recent.shape[1], 0), value=0)  # [B, C]
            logits = cast(WindowNet, self.model).next_logits(ctx)
        else:
            logits = self.model(recent)[:, -1]  # [B, V]
        return logits.float().numpy()

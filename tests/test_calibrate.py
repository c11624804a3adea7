"""Calibration counts real positions only, and export keeps the better statistics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn
from conftest import BUILTIN_NAMES

from mmzoo.corpus import Vocab
from mmzoo.engine.data.batches import PAD, tensorize
from mmzoo.engine.export.calibrate import calibrate_batchnorm, calibration_batches, choose_statistics
from mmzoo.engine.export.causality import bigram_entropy, first_leak, suspicious_loss_warning

ITEMS = ["ab", "abcabcabcabc", "c", "bca", "aaaaaaa", "cb", "abc", "b"] * 10


class EmbedNorm(nn.Module):
    """A sequence model whose only BatchNorm reads the embeddings as [B, C, T]."""

    context_length = 16

    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.head = nn.Linear(3, 4)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.wte(idx).transpose(1, 2)).transpose(1, 2)  # [B, T, C]
        return self.head(x)


def test_sequence_calibration_ignores_padding() -> None:
    torch.manual_seed(0)
    model = EmbedNorm().eval()
    split = tensorize(ITEMS, Vocab(tuple(".abc")), 13, model)
    calibrate_batchnorm(model, calibration_batches(model, split, budget=10**6))
    with torch.no_grad():
        real = model.wte(split.x[split.y != PAD])  # [positions, C]: inputs at real positions only
        padded = model.wte(split.x).reshape(-1, 3)  # every position, padding included
    assert torch.allclose(model.bn.running_mean, real.mean(0), atol=1e-6)
    assert torch.allclose(model.bn.running_var, real.var(0), atol=1e-5)
    assert not torch.allclose(model.bn.running_mean, padded.mean(0), atol=1e-3)  # so the test can fail


def test_calibration_samples_the_train_split() -> None:
    model = EmbedNorm()
    split = tensorize(ITEMS * 50, Vocab(tuple(".abc")), 13, model)
    batches = calibration_batches(model, split, budget=500)
    positions = sum(b.numel() for b in batches)
    assert 500 <= positions < 500 + 13


def test_choose_statistics_keeps_the_better_and_obeys_force() -> None:
    torch.manual_seed(0)
    model = EmbedNorm().eval()
    vocab = Vocab(tuple(".abc"))
    train, val = tensorize(ITEMS, vocab, 13, model), tensorize(ITEMS[:16], vocab, 13, model)
    with torch.no_grad():
        model.bn.running_mean.fill_(5.0)  # absurd running statistics: calibration must win
    auto = choose_statistics(model, train, val, None)
    assert auto.calibrated and auto.val_calibrated is not None and auto.val_calibrated < auto.val_running
    assert abs(float(model.bn.running_mean.abs().max())) < 5.0
    skipped = choose_statistics(EmbedNorm().eval(), train, val, False)
    assert not skipped.calibrated and skipped.val_calibrated is None


def test_builtin_models_are_causal() -> None:
    from mmzoo.plugins import get_zoo

    zoo = get_zoo()
    for name in zoo.models:
        spec = zoo.model(name)
        if spec.plugin == "mmzoo-testnets":
            continue
        model = spec.create(spec.config(), 27)
        assert first_leak(model, 27) is None, name


def test_bigram_entropy_and_the_suspicious_loss_warning() -> None:
    assert bigram_entropy(["ab", "ab"]) == 0.0  # every next char is certain
    assert abs(bigram_entropy(["a", "b"]) - 0.5 * torch.log(torch.tensor(2.0)).item()) < 1e-9
    names = BUILTIN_NAMES.read_text().split()
    assert bigram_entropy(names) > 2.0
    assert "far below" in (suspicious_loss_warning(0.3, names) or "")
    assert suspicious_loss_warning(2.1, names) is None
    assert suspicious_loss_warning(0.3, ["ab", "ab"]) is None  # a corpus that easy can be learnt


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["bigram", "bigram-nn", "mlp", "mlp-bn", "wavenet", "rnn", "gru", "bow", "transformer", "lstm"]
)
def test_export_never_loses_to_the_runs_own_val_loss(name: str, tmp_path: Path) -> None:
    from mmzoo.plugins import get_zoo
    from mmzoo.testing import check_model_spec

    result = check_model_spec(get_zoo().model(name), tmp_path, steps=30, expect_learning=False, n_samples=1)
    assert result.exported_val_loss <= result.val_loss + 0.002

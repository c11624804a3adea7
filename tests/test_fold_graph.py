"""Folding BatchNorm out of exported graphs, for every layout a plugin author can
write. Exported with torch's optimizer off (constants folded by hand), so that
our pass, not onnxscript's Conv/Gemm rules, does all the folding these tests check."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import onnx
import onnxruntime
import onnxscript.optimizer
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmzoo.graphs.fold import fold_graph
from mmzoo.nn import BatchNorm


class Net(nn.Module):
    def __init__(self, layers: nn.Module, forward: str) -> None:
        super().__init__()
        self.layers, self.how = layers, forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = self.layers
        if self.how == "conv1d":  # [B, C, T]
            return F.relu(L.bn(L.conv(x)))
        if self.how == "linear-transpose":  # [B, T, C] -> Linear -> [B, C, T] for BatchNorm1d
            return L.bn(L.lin(x).transpose(1, 2)).transpose(1, 2)
        if self.how == "linear-permute-2d":  # [B, H, W, C] -> Linear -> [B, C, H, W] for BatchNorm2d
            return L.bn(L.lin(x).permute(0, 3, 1, 2))
        if self.how == "conv2d":
            return L.bn(L.conv(x))
        if self.how == "convtranspose":
            return L.bn(L.conv(x))
        if self.how == "linear-nobias":  # [N, C]: a bias-less Linear, as the lectures write it
            return L.bn(L.lin(x))
        if self.how == "linear-view":  # [B, T, C] -> Linear -> view [B*T, C] -> BatchNorm1d
            return L.bn(L.lin(x).reshape(-1, L.lin.out_features))
        if self.how == "linear-unsqueeze":  # [N, C] -> Linear -> [N, C, 1] -> BatchNorm1d
            return L.bn(L.lin(x).unsqueeze(-1))
        if self.how == "mmzoo-bn":  # mmzoo.nn.BatchNorm on [B, T, C]
            return L.bn(L.lin(x))
        if self.how == "after-relu":  # nothing linear feeds it: a scale and a shift
            return L.bn(F.relu(x))
        raise AssertionError(self.how)


def _case(how: str) -> tuple[Net, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    layers = {
        "conv1d": (dict(conv=nn.Conv1d(4, 6, 3, dilation=2), bn=nn.BatchNorm1d(6)), (5, 4, 11)),
        "linear-transpose": (dict(lin=nn.Linear(4, 6), bn=nn.BatchNorm1d(6)), (5, 7, 4)),
        "linear-permute-2d": (dict(lin=nn.Linear(4, 6), bn=nn.BatchNorm2d(6)), (5, 3, 2, 4)),
        "conv2d": (dict(conv=nn.Conv2d(3, 6, 3, padding=1), bn=nn.BatchNorm2d(6)), (5, 3, 6, 6)),
        "convtranspose": (dict(conv=nn.ConvTranspose1d(4, 6, 3, stride=2), bn=nn.BatchNorm1d(6)), (5, 4, 7)),
        "linear-nobias": (dict(lin=nn.Linear(4, 6, bias=False), bn=nn.BatchNorm1d(6)), (5, 4)),
        "linear-view": (dict(lin=nn.Linear(4, 6), bn=nn.BatchNorm1d(6)), (5, 7, 4)),
        "linear-unsqueeze": (dict(lin=nn.Linear(4, 6), bn=nn.BatchNorm1d(6)), (5, 4)),
        "mmzoo-bn": (dict(lin=nn.Linear(4, 6, bias=False), bn=BatchNorm(6)), (5, 7, 4)),
        "after-relu": (dict(bn=nn.BatchNorm1d(4)), (5, 4, 9)),
    }[how]
    net = Net(nn.ModuleDict(layers[0]), how)
    with torch.no_grad():  # statistics and affine weights far from their init
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-2, 2, generator=g)
                m.running_var.uniform_(0.2, 3, generator=g)
                m.weight.uniform_(0.3, 2, generator=g)
                m.bias.uniform_(-1, 1, generator=g)
    return net.eval(), torch.randn(layers[1], generator=g)


def _export(net: nn.Module, x: torch.Tensor) -> onnx.ModelProto:
    for noisy in ("torch.onnx", "onnxscript", "onnx_ir"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(net, (x,), dynamo=True, optimize=False, verbose=False, opset_version=20)
    proto = program.model_proto
    onnxscript.optimizer.fold_constants(proto)  # weight.T and the like, as export's optimizer would
    onnxscript.optimizer.remove_unused_nodes(proto)
    return proto


def _run(proto: onnx.ModelProto, x: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


CASES = {
    "conv1d": "into Conv",
    "linear-transpose": "into MatMul via Transpose",
    "linear-permute-2d": "into MatMul via Transpose",
    "conv2d": "into Conv",
    "convtranspose": "into ConvTranspose",
    "linear-nobias": "into",  # MatMul or Gemm, as the exporter chooses
    "linear-view": "into MatMul via",
    "linear-unsqueeze": "into",
    "mmzoo-bn": "into MatMul via ",  # Transpose or Reshape: how the 3-D BatchNorm lays out [B, T, C]
    "after-relu": "as Mul + Add (it follows a Relu)",
}


@pytest.mark.parametrize("how", sorted(CASES))
def test_every_batchnorm_folds_and_the_logits_stay(how: str) -> None:
    net, x = _case(how)
    proto = _export(net, x)
    assert [n.op_type for n in proto.graph.node].count("BatchNormalization") == 1
    folded = fold_graph(proto)
    onnx.checker.check_model(proto, full_check=True)
    assert "BatchNormalization" not in [n.op_type for n in proto.graph.node]
    assert len(folded) == 1 and folded[0].name == "layers.bn"
    assert folded[0].how.startswith(CASES[how]), folded[0].how
    with torch.no_grad():
        want = net(x).numpy()
    assert np.abs(_run(proto, x) - want).max() <= 1e-5


def test_a_linear_that_feeds_more_than_its_batchnorm_keeps_its_weights() -> None:
    class Both(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin, self.bn = nn.Linear(4, 6), nn.BatchNorm1d(6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.lin(x)
            return self.bn(h.transpose(1, 2)).transpose(1, 2) + h  # h is read twice

    net = Both().eval()
    with torch.no_grad():
        net.bn.running_mean.fill_(0.5)
        net.bn.running_var.fill_(2.0)
    x = torch.randn(3, 5, 4)
    proto = _export(net, x)
    (folded,) = fold_graph(proto)
    assert folded.how == "as Mul + Add (its input is also used by another op)"
    with torch.no_grad():
        assert np.abs(_run(proto, x) - net(x).numpy()).max() <= 1e-5


def test_export_refuses_a_fold_that_moves_the_logits_and_names_the_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sloppy fold (its shift 1% off) must be caught by the 1e-5 check and blamed on the first layer."""
    from mmzoo.engine.data.batches import SplitTensors
    from mmzoo.engine.export.parity import check_fold
    from mmzoo.engine.export.writer import plan_for, to_onnx
    from mmzoo.errors import MmzooError
    from mmzoo.graphs import fold
    from mmzoo.plugins import get_zoo

    spec = get_zoo().model("wavenet")
    torch.manual_seed(0)
    model = spec.create(spec.make_config(overrides={"n_embd": "4", "n_hidden": "8"}), 27).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1)
    plan = plan_for(model)
    proto = to_onnx(plan, 20)
    unfolded = proto.SerializeToString()
    real = fold._scale_source
    monkeypatch.setattr(
        fold, "_scale_source", lambda g, src, scale, shift, like: real(g, src, scale, shift * 1.01, like)
    )
    layers = fold.fold_graph(proto)
    val = SplitTensors(torch.randint(0, 27, (64, 8)), torch.randint(0, 27, (64,)))
    with pytest.raises(MmzooError, match=r"folding BatchNorm levels\.2 into MatMul via \w+ moves the logits"):
        check_fold(unfolded, proto, layers, model, plan, val)

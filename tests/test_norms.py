"""norm=batch|layer|group|none, init_gain and last_layer_scale on mlp-bn and wavenet:
the layers they build, and LayerNorm/GroupNorm networks through train, export
(nothing to fold) and onnxruntime sampling with the installed `mmzoo` command."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
import torch.nn as nn
from conftest import BUILTIN_NAMES, run_mmzoo

from mmzoo.engine.export.norms import fold_note, norm_kinds
from mmzoo.errors import MmzooError
from mmzoo.models.blocks import BatchNorm, GroupNorm
from mmzoo.plugins import get_zoo


def build(model: str, **sets: str) -> nn.Module:
    spec = get_zoo().model(model)
    torch.manual_seed(0)
    return spec.create(spec.make_config(None, sets), 27)


@pytest.mark.parametrize("model", ["mlp-bn", "wavenet"])
@pytest.mark.parametrize(
    ("norm", "kind", "bias"),
    [("batch", BatchNorm, False), ("layer", nn.LayerNorm, False), ("group", GroupNorm, False), ("none", None, True)],
)
def test_norm_picks_the_layer_after_each_linear(model: str, norm: str, kind: type | None, bias: bool) -> None:
    net = build(model, norm=norm)
    linears = [m for name, m in net.named_modules() if isinstance(m, nn.Linear) and name != "head"]
    norms = [m for m in net.modules() if isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d))]
    assert linears and all((m.bias is not None) == bias for m in linears)  # a norm's shift replaces the bias
    if kind is None:
        assert norms == [] and norm_kinds(net) == []
    else:
        assert len(norms) == len(linears) and all(type(m) is kind for m in norms)
        assert norm_kinds(net) == [norm]
    x = torch.randint(0, 27, (5, net.context_length))
    assert net.next_logits(x).shape == (5, 27)


def test_group_norm_normalises_each_group_of_the_last_dimension() -> None:
    gn = GroupNorm(4, 8, affine=False)
    x = torch.randn(3, 5, 8) * 7 + 2  # [B, T, C], as in wavenet
    y = gn(x).reshape(3, 5, 4, 2)  # each [.., group, 2 channels] should be mean 0, var 1
    assert torch.allclose(y.mean(-1), torch.zeros(3, 5, 4), atol=1e-5)
    assert torch.allclose(y.var(-1, unbiased=False), torch.ones(3, 5, 4), atol=1e-2)
    flat = gn(x.reshape(15, 8))  # 2-D input: the same per example
    assert torch.allclose(flat.reshape(3, 5, 8), gn(x), atol=1e-6)


def test_init_gain_and_last_layer_scale_set_the_weight_scales() -> None:
    for gain in (0.5, 5 / 3, 3.0):
        net = build("mlp-bn", n_layers="3", n_hidden="200", init_gain=str(gain), last_layer_scale="0.5")
        hidden = net.blocks[3]  # Linear(200 -> 200)
        assert hidden.weight.std().item() == pytest.approx(gain / 200**0.5, rel=0.05)
        head_std = 0.5 / (3 * 200) ** 0.5  # nn.Linear's U(+-1/sqrt(fan_in)) has std 1/sqrt(3 fan_in); x 0.5
        assert net.head.weight.std().item() == pytest.approx(head_std, rel=0.1)
    assert build("mlp-bn", last_layer_scale="0").head.weight.abs().max().item() == 0


def test_bad_norm_values_are_clear_errors() -> None:
    with pytest.raises(MmzooError, match="norm must be one of batch, layer, group, none"):
        build("mlp-bn", norm="instance")
    with pytest.raises(MmzooError, match="norm_groups must divide the layer width 256"):
        build("mlp-bn", norm="group", norm_groups="5")


def test_fold_note_says_what_export_had_to_do() -> None:
    assert fold_note(["batch"]) == ""
    assert fold_note(["layer"]) == "LayerNorm: nothing to fold, exported as it is"
    assert fold_note([]) == "no normalisation layers"


@pytest.mark.slow  # two short trainings, two exports, four sampling runs
@pytest.mark.parametrize("norm", ["layer", "group"])
def test_layer_and_group_norm_train_export_and_sample(norm: str, tmp_path: Path) -> None:
    data = tmp_path / "small.txt"
    data.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:2000]) + "\n")
    env = {"OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    args = ["train", "mlp-bn", "--set", f"norm={norm}", "--data", str(data), "--steps", "200", "--threads", "1"]
    trained = json.loads(run_mmzoo(*args, "--out", str(run), "--json", cwd=tmp_path, env=env).stdout)
    assert trained["best_val_loss"] < 2.9  # learnt something: uniform is 3.30
    out = tmp_path / f"{norm}.onnx"
    doc = json.loads(run_mmzoo("export", str(run), "--out", str(out), "--json", cwd=tmp_path, env=env).stdout)
    assert doc["bn_folded"] == 0 and doc["norm"] == norm and not doc["calibrated"]
    assert "nothing to fold" in doc["summary"]["normalisation"]
    proto = onnx.load(str(out))
    ops = [n.op_type for n in proto.graph.node]
    assert "BatchNormalization" not in ops
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["mmzoo.norm"] == norm and props["mmzoo.bn_folded"] == "false"
    assert json.loads(props["mmzoo.config"])["norm"] == norm
    assert abs(float(props["mmzoo.val_loss"]) - trained["best_val_loss"]) < 1e-4  # nothing changed by export
    names = run_mmzoo("sample", str(out), "-n", "20", "--seed", "3", cwd=tmp_path, env=env).stdout.split()
    assert len(names) == 20 and all(name.isalpha() and name.islower() for name in names)

"""Look inside a network while it trains (makemore part 3): activation, gradient
and update statistics, and the flags that say what is wrong.

Hooks go on every leaf module (Linear, BatchNorm, Tanh, and whatever a plugin
model is built from), so a new model is diagnosed without code of its own.
Tanh applied functionally (`torch.tanh(x)` in a forward, as the `mlp` model
does) is caught too, through a TorchFunctionMode, because part 3's whole story
is about those activations. Hooks run only at two snapshot steps, the first
(init) and the last (end); every other step only records the update:data ratio
of each weight matrix, so a 1000-step diagnosis costs little more than training.

Torch-free callers (plots) get plain numbers and numpy arrays in `Diagnosis`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from mmzoo.corpus import Corpus, split_items
from mmzoo.engine.batches import tensorize
from mmzoo.engine.fold import BatchNormBase, _set_submodule, trace_leaf_calls
from mmzoo.engine.loss import batch_loss
from mmzoo.engine.train import lr_at, make_optimizer
from mmzoo.errors import MmzooError
from mmzoo.models.blocks import TANH_GAIN
from mmzoo.registry import ModelSpec, Recipe

INIT_MODES = ("kaiming", "default", "naive")
SNAPSHOTS = ("init", "end")

# The thresholds of the issue (and of the lecture's rules of thumb).
SATURATION = 0.97  # |tanh| above this is in the flat tail: its local gradient is < 6% of the peak
SATURATED_FRACTION = 0.05  # a layer with more than this share of saturated units is flagged
GRADIENT_RATIO = 10.0  # grad std of the first vs the last activation layer
UPDATE_LOW, UPDATE_HIGH = 1e-4, 1e-2  # acceptable band for update std / data std around 1e-3
UPDATE_AFTER = 100  # update ratios are judged after this many steps (the first ones are transients)

MAX_SAMPLES = 50_000  # values kept per layer and snapshot for the histograms

ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.Tanh, nn.ReLU, nn.GELU, nn.Sigmoid, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Mish, nn.Softplus,
    nn.Hardtanh, nn.ReLU6, nn.SELU, nn.CELU,
)  # fmt: skip
F = torch.nn.functional
# Activations a forward may call as functions, with no module to hook: name -> functions.
FUNCTIONAL_ACTIVATIONS = {
    "tanh": (torch.tanh, torch.Tensor.tanh, F.tanh),
    "sigmoid": (torch.sigmoid, torch.Tensor.sigmoid, F.sigmoid),
    "relu": (torch.relu, torch.Tensor.relu, F.relu),
    "gelu": (F.gelu,),
    "silu": (F.silu,),
}
ACTIVATION_OF = {func: name for name, funcs in FUNCTIONAL_ACTIVATIONS.items() for func in funcs}


# -- model surgery: --no-bn and --init -------------------------------------


def remove_batchnorm(model: nn.Module) -> list[str]:
    """Replace every BatchNorm with Identity; returns the names replaced.

    The lecture's comparison is the same network with and without BatchNorm,
    so the layers are swapped out, not retrained around."""
    names = [name for name, m in model.named_modules() if isinstance(m, BatchNormBase)]
    for name in names:
        _set_submodule(model, name, nn.Identity())
    return names


def find_head(model: nn.Module, run: Callable[[nn.Module], object], vocab_size: int) -> str | None:
    """The Linear that produces the logits: the last one called whose output has
    V features (the lecture's "last layer", scaled by 0.1 in the kaiming init)."""
    was_training = model.training
    model.eval()  # no BatchNorm statistics updated by this look-ahead pass
    try:
        calls = trace_leaf_calls(model, run)
    finally:
        model.train(was_training)
    linears = [c.name for c in calls if isinstance(c.module, nn.Linear)]
    heads = [c.name for c in calls if isinstance(c.module, nn.Linear) and c.module.out_features == vocab_size]
    if heads:
        return heads[-1]
    return linears[-1] if linears else None


@torch.no_grad()
def apply_init(model: nn.Module, mode: str, head: str | None) -> dict[str, Any]:
    """Re-initialise the model as the lecture does; returns what was touched.

    naive:   weights and biases of every Linear ~ N(0, 1): the lecture's starting
             point (no fan-in scaling, no small last layer), which saturates tanh.
    default: PyTorch's own reset_parameters() on every module that has one.
    kaiming: Linear weights ~ N(0, (5/3)^2 / fan_in), biases 0, the last layer x 0.1.
    Every other module with reset_parameters() (Embedding, BatchNorm, LayerNorm...)
    gets PyTorch's init in all three modes, so only the Linear layers differ;
    parameters of plugin modules without reset_parameters() keep the model's init.
    """
    if mode not in INIT_MODES:
        raise MmzooError(f"--init must be one of {', '.join(INIT_MODES)}, got {mode!r}")
    linear, reset, kept = [], [], []
    for name, module in model.named_modules():
        own = list(module.named_parameters(recurse=False))
        if isinstance(module, nn.Linear) and mode != "default":
            if mode == "naive":
                module.weight.normal_(0.0, 1.0)
                if module.bias is not None:
                    module.bias.normal_(0.0, 1.0)
            else:
                module.weight.normal_(0.0, TANH_GAIN / module.in_features**0.5)
                if module.bias is not None:
                    module.bias.zero_()
                if name == head:
                    module.weight.mul_(0.1)
            linear.append(name)
        elif hasattr(module, "reset_parameters") and callable(module.reset_parameters):
            module.reset_parameters()
            reset.append(name or "(root)")
        elif own:
            kept.extend(f"{name}.{p}" if name else p for p, _ in own)
    return {"mode": mode, "linear": linear, "last_layer": head, "pytorch_default": reset, "kept": kept}


# -- hooks -----------------------------------------------------------------


@dataclass
class LayerCapture:
    """One layer's outputs and output gradients during one captured step."""

    name: str
    kind: str
    order: int
    tanh: bool
    activation: bool
    outputs: list[torch.Tensor] = field(default_factory=list)
    grads: list[torch.Tensor] = field(default_factory=list)


class _FunctionalActivations(TorchFunctionMode):
    """Sees `torch.tanh(x)`, `F.gelu(x)`... called outside any leaf module."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        kind = ACTIVATION_OF.get(func)
        if kind and self.recorder.depth == 0 and torch.is_tensor(out) and out.is_floating_point() and args:
            self.recorder.functional_activation(kind, args[0], out)
        return out


def _call_site() -> str:
    """file:line of the model code that called a function (the first frame outside torch and mmzoo.engine.diagnose)."""
    torch_dir = os.path.dirname(torch.__file__)
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if not path.startswith(torch_dir) and path != __file__:
            return f"{os.path.basename(path)}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


def _first_tensor(output: Any) -> torch.Tensor | None:
    """A module's output, or the first tensor of a tuple output (an RNN's (output, state))."""
    if torch.is_tensor(output):
        return output
    if isinstance(output, (tuple, list)):
        return next((o for o in output if torch.is_tensor(o)), None)
    return None


class Recorder:
    """Forward hooks on every leaf module, installed only while `capture()` is open."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
        self.layers: dict[str, LayerCapture] = {}
        self.depth = 0
        self._producer: dict[int, str] = {}
        self._alive: list[torch.Tensor] = []  # so tensor ids stay unique while capturing

    def _layer(self, name: str, kind: str, tanh: bool, activation: bool) -> LayerCapture:
        if name not in self.layers:
            self.layers[name] = LayerCapture(name, kind, len(self.layers), tanh, activation)
        return self.layers[name]

    def _record(self, layer: LayerCapture, out: torch.Tensor) -> None:
        layer.outputs.append(out.detach().float().flatten().clone())
        if out.requires_grad:
            out.register_hook(lambda g: layer.grads.append(g.detach().float().flatten().clone()))

    def functional_activation(self, kind: str, x: Any, out: torch.Tensor) -> None:
        """Named after the layer that fed it (`tanh(hidden)`), else after the line that called it."""
        producer = self._producer.get(id(x)) if torch.is_tensor(x) else None
        name = f"{kind}({producer})" if producer else f"{kind}@{_call_site()}"
        self._alive.append(out)
        self._record(self._layer(name, f"{kind} (functional)", kind == "tanh", True), out)

    def _hooks(self, name: str, module: nn.Module) -> tuple[Callable, Callable]:
        skip = isinstance(module, nn.Identity)  # --no-bn leaves these: a no-op is not a layer
        tanh = isinstance(module, nn.Tanh)
        activation = isinstance(module, ACTIVATIONS)

        def pre(mod: nn.Module, args: tuple) -> None:
            self.depth += 1

        def post(mod: nn.Module, args: tuple, output: Any) -> None:
            self.depth -= 1
            out = _first_tensor(output)
            if out is None or not out.is_floating_point() or skip:
                return
            self._alive.append(out)
            self._producer[id(out)] = name
            self._record(self._layer(name, type(mod).__name__, tanh, activation), out)

        return pre, post

    @contextlib.contextmanager
    def capture(self) -> Iterator[dict[str, LayerCapture]]:
        """Record one forward/backward: open around the forward, read after backward."""
        self.layers, self.depth, self._producer = {}, 0, {}
        handles = []
        for name, module in self.leaves:
            pre, post = self._hooks(name, module)
            handles.append(module.register_forward_pre_hook(pre))
            handles.append(module.register_forward_hook(post))
        try:
            with _FunctionalActivations(self):
                yield self.layers
        finally:
            for h in handles:
                h.remove()
            self._alive, self._producer = [], {}


# -- statistics ------------------------------------------------------------


def _sample(t: torch.Tensor, generator: torch.Generator) -> np.ndarray:
    if t.numel() > MAX_SAMPLES:
        t = t[torch.randperm(t.numel(), generator=generator)[:MAX_SAMPLES]]
    return t.cpu().numpy().astype(np.float32)


def _num(x: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass
class Diagnosis:
    """Everything the report, stats.json and the figures need."""

    doc: dict[str, Any]  # stats.json
    act_samples: dict[str, dict[str, np.ndarray]]  # snapshot -> layer -> values
    grad_samples: dict[str, dict[str, np.ndarray]]  # snapshot -> layer -> d loss / d output
    weight_grad_samples: dict[str, dict[str, np.ndarray]]  # snapshot -> parameter -> d loss / d weight


def summarize_layers(
    captures: dict[str, LayerCapture], generator: torch.Generator
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray], dict[str, np.ndarray]]:
    stats, acts, grads = {}, {}, {}
    for name, layer in captures.items():
        out = torch.cat(layer.outputs)
        entry: dict[str, Any] = {
            "act_mean": _num(out.mean().item()),
            "act_std": _num(out.std().item()) if out.numel() > 1 else None,
            "saturated": _num((out.abs() > SATURATION).float().mean().item()) if layer.tanh else None,
            "grad_mean": None,
            "grad_std": None,
        }
        acts[name] = _sample(out, generator)
        if layer.grads:
            g = torch.cat(layer.grads)
            entry["grad_mean"] = _num(g.mean().item())
            entry["grad_std"] = _num(g.std().item()) if g.numel() > 1 else None
            grads[name] = _sample(g, generator)
        stats[name] = entry
    return stats, acts, grads


def summarize_weights(
    weights: dict[str, nn.Parameter], generator: torch.Generator
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    stats, samples = {}, {}
    for name, p in weights.items():
        data_std = p.detach().std().item()
        if p.grad is None:
            stats[name] = {"data_std": _num(data_std), "grad_mean": None, "grad_std": None, "grad_data_ratio": None}
            continue
        g = p.grad.detach().float().flatten()
        grad_std = g.std().item()
        stats[name] = {
            "data_std": _num(data_std),
            "grad_mean": _num(g.mean().item()),
            "grad_std": _num(grad_std),
            "grad_data_ratio": _num(grad_std / data_std) if data_std > 0 else None,
        }
        samples[name] = _sample(g, generator)
    return stats, samples


def focus_layers(layers: list[dict[str, Any]]) -> list[str]:
    """The layers the histograms and the gradient check look at: the tanh layers
    (the lecture's view); for a model without tanh its other activation layers;
    failing those, every layer."""
    for pick in (lambda la: la["tanh"], lambda la: la["activation"], lambda la: True):
        chosen = [la["name"] for la in layers if pick(la)]
        if chosen:
            return chosen
    return []


def find_flags(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's four problems, each flag naming its layer and the figure that shows it."""
    flags: list[dict[str, Any]] = []
    for layer in doc["layers"]:
        for when in SNAPSHOTS:
            frac = layer[when]["saturated"]
            if frac is not None and frac > SATURATED_FRACTION:
                flags.append({
                    "layer": layer["name"], "problem": "saturated", "figure": "activations.png", "when": when,
                    "value": frac, "threshold": SATURATED_FRACTION,
                    "message": f"{frac:.1%} of |t| > {SATURATION} at {when} (limit {SATURATED_FRACTION:.0%})",
                })  # fmt: skip
    for when in SNAPSHOTS:
        check = doc["gradient_check"][when]
        ratio = check.get("ratio")
        if ratio is None:
            continue
        problem = "vanishing" if ratio < 1 / GRADIENT_RATIO else "exploding" if ratio > GRADIENT_RATIO else None
        if problem:
            flags.append({
                "layer": check["first"], "problem": problem, "figure": "gradients.png", "when": when,
                "value": ratio, "threshold": GRADIENT_RATIO,
                "message": f"gradient std at {check['first']} is {ratio:.3g}x that at {check['last']} at {when}",
            })  # fmt: skip
    window = doc["update_window"]
    if window is not None:
        for p in doc["parameters"]:
            median = p["update_log10_median"]
            if median is None:
                continue
            ratio = 10**median
            if not UPDATE_LOW <= ratio <= UPDATE_HIGH:
                flags.append({
                    "layer": p["name"], "problem": "update_ratio", "figure": "updates.png",
                    "when": f"steps {window[0]}-{window[1]}", "value": ratio, "threshold": [UPDATE_LOW, UPDATE_HIGH],
                    "message": f"median update:data std {ratio:.2g} over steps {window[0]}-{window[1]}, "
                    f"outside {UPDATE_LOW:g}..{UPDATE_HIGH:g}",
                })  # fmt: skip
    return flags


def gradient_check(layers: list[dict[str, Any]], focus: list[str], when: str) -> dict[str, Any]:
    """Grad std of the first focus layer over that of the last one: about 1 when
    gradients keep their scale through the depth of the network. Only activation
    layers are compared, like with like: an embedding's output gradient and the
    logits' are on different scales in a perfectly healthy network."""
    by_name = {la["name"]: la for la in layers}
    with_grad = [n for n in focus if by_name[n]["activation"] and by_name[n][when]["grad_std"]]
    if len(with_grad) < 2:
        return {"first": None, "last": None, "ratio": None, "note": "fewer than two activation layers with gradients"}
    first, last = with_grad[0], with_grad[-1]
    ratio = by_name[first][when]["grad_std"] / by_name[last][when]["grad_std"]
    return {"first": first, "last": last, "ratio": _num(ratio)}


# -- the run ---------------------------------------------------------------


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
    device: torch.device | None = None,
) -> Diagnosis:
    """Build the model, apply --no-bn and --init, train `steps` steps with the
    recipe's optimizer and schedule, and gather every statistic."""
    if spec.fit is not None:
        raise MmzooError(f"{spec.name} is fitted by counting, not by gradient descent: there is nothing to diagnose")
    if steps < 1:
        raise MmzooError("--steps must be at least 1")
    if init not in INIT_MODES:
        raise MmzooError(f"--init must be one of {', '.join(INIT_MODES)}, got {init!r}")
    vocab = corpus.vocab
    torch.manual_seed(seed)
    model = spec.create(config, vocab.size)
    removed: list[str] = []
    if no_bn:
        removed = remove_batchnorm(model)
        if not removed:
            raise MmzooError(f"--no-bn: {spec.name} has no BatchNorm layers to remove; drop --no-bn")
    train = tensorize(split_items(corpus.items, seed)["train"], vocab, corpus.max_length, model)
    if len(train) == 0:
        raise MmzooError(f"{corpus.source} has too few items ({len(corpus.items)}) to train on")
    rng = torch.Generator().manual_seed(seed)
    first = torch.randint(0, len(train), (recipe.batch_size,), generator=rng)
    head = find_head(model, lambda m: batch_loss(m, train.x[first], train.y[first]), vocab.size)
    init_doc = apply_init(model, init, head)
    rng.manual_seed(seed)  # the first training batch is the one find_head looked at
    device = device or torch.device("cpu")
    model.to(device)  # --device; the batches follow, the statistics come back to the CPU

    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise MmzooError(f"{spec.name} has no trainable parameters: there is nothing to diagnose")
    optimizer = make_optimizer(model, recipe)
    regularize = getattr(model, "regularization", None)
    weights = {n: p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2}
    recorder = Recorder(model)
    sample_rng = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    updates: dict[str, list[float]] = {n: [] for n in weights}
    layer_stats: dict[str, dict[str, dict[str, Any]]] = {}
    weight_stats: dict[str, dict[str, dict[str, Any]]] = {}
    acts: dict[str, dict[str, np.ndarray]] = {}
    grads: dict[str, dict[str, np.ndarray]] = {}
    wgrads: dict[str, dict[str, np.ndarray]] = {}
    kinds: dict[str, dict[str, Any]] = {}

    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(recipe, step, steps)
        ix = torch.randint(0, len(train), (recipe.batch_size,), generator=rng)
        snapshot = "init" if step == 0 else "end" if step == steps - 1 else None
        capture = recorder.capture() if snapshot else contextlib.nullcontext({})
        with capture as captured:
            loss = batch_loss(model, train.x[ix].to(device), train.y[ix].to(device))
            if regularize is not None:
                loss = loss + regularize()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = loss.item()
        if not math.isfinite(value):
            raise MmzooError(f"the loss is {value} at step {step}: training diverged")
        losses.append(value)
        if snapshot:
            layer_stats[snapshot], acts[snapshot], grads[snapshot] = summarize_layers(captured, sample_rng)
            weight_stats[snapshot], wgrads[snapshot] = summarize_weights(weights, sample_rng)
            for name, layer in captured.items():
                kinds.setdefault(name, {"kind": layer.kind, "tanh": layer.tanh, "activation": layer.activation})
        before = {n: p.detach().clone() for n, p in weights.items()}
        optimizer.step()
        with torch.no_grad():
            for n, p in weights.items():
                data_std = before[n].std().item()
                change = (p - before[n]).std().item()
                ratio = change / data_std if data_std > 0 else math.nan
                updates[n].append(math.log10(ratio) if ratio > 0 else math.nan)
        if progress is not None:
            progress(step + 1, steps, value)
    if steps == 1:  # one step: the end is the init
        layer_stats["end"], acts["end"], grads["end"] = layer_stats["init"], acts["init"], grads["init"]
        weight_stats["end"], wgrads["end"] = weight_stats["init"], wgrads["init"]

    empty = {"act_mean": None, "act_std": None, "saturated": None, "grad_mean": None, "grad_std": None}
    layers = [
        {"name": name, **info, **{when: layer_stats[when].get(name, empty) for when in SNAPSHOTS}}
        for name, info in kinds.items()
    ]
    focus = focus_layers(layers)
    for layer in layers:
        layer["focus"] = layer["name"] in focus
    window = (UPDATE_AFTER, steps - 1) if steps > UPDATE_AFTER else None
    parameters = []
    for name, p in weights.items():
        series = updates[name]
        judged = [v for v in (series[UPDATE_AFTER:] if window else []) if math.isfinite(v)]
        parameters.append({
            "name": name, "shape": list(p.shape),
            **{when: weight_stats[when][name] for when in SNAPSHOTS},
            "update_log10_median": _num(float(np.median(judged))) if judged else None,
            "update_log10": [_num(round(v, 4)) for v in series],
        })  # fmt: skip
    uniform = math.log(vocab.size)
    tail = losses[-min(100, len(losses)) :]
    doc: dict[str, Any] = {
        "model": spec.name,
        "preset": preset,
        "config": dataclasses.asdict(config),
        "init": init_doc,
        "no_bn": no_bn,
        "removed_batchnorm": removed,
        "data": {"source": corpus.source, "items": len(corpus.items), "train_examples": len(train)},
        "recipe": dataclasses.asdict(recipe),
        "steps": steps,
        "seed": seed,
        "vocab_size": vocab.size,
        "initial_loss": {
            "loss": losses[0],
            "uniform": uniform,
            "excess": losses[0] - uniform,
            "verdict": "overconfident" if losses[0] > uniform + 0.5 else "near uniform",
        },  # fmt: skip
        "final_loss": sum(tail) / len(tail),
        "loss": [round(v, 4) for v in losses],
        "thresholds": {
            "saturation": SATURATION,
            "saturated_fraction": SATURATED_FRACTION,
            "gradient_ratio": GRADIENT_RATIO,
            "update_low": UPDATE_LOW,
            "update_high": UPDATE_HIGH,
            "update_after_step": UPDATE_AFTER,
        },  # fmt: skip
        "layers": layers,
        "focus": focus,
        "gradient_check": {when: gradient_check(layers, focus, when) for when in SNAPSHOTS},
        "parameters": parameters,
        "update_window": list(window) if window else None,
    }
    doc["flags"] = find_flags(doc)
    return Diagnosis(doc, acts, grads, wgrads)


# -- the text report -------------------------------------------------------


def describe_run(doc: dict[str, Any]) -> str:
    """'mlp-bn (deep), init naive, no BatchNorm': the figures' titles say this too."""
    text = doc["model"] + (f" ({doc['preset']})" if doc.get("preset") else "")
    text += f", init {doc['init']['mode']}"
    return text + (", no BatchNorm" if doc["no_bn"] else "")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _describe_init(doc: dict[str, Any]) -> str:
    """What --init actually touched: on a plugin model it may be less than everything."""
    init = doc["init"]
    text = f"init {init['mode']}: "
    if init["mode"] == "default":
        text += f"PyTorch's reset_parameters() on {len(init['pytorch_default'])} module(s)"
    else:
        text += f"{len(init['linear'])} Linear layer(s) re-initialised"
        if init["mode"] == "kaiming" and init["last_layer"]:
            text += f", last layer {init['last_layer']} x0.1"
    if doc["removed_batchnorm"]:
        text += f"; BatchNorm replaced by Identity: {', '.join(doc['removed_batchnorm'])}"
    if init["kept"]:
        text += f"; the model's own init kept for {', '.join(init['kept'])}"
    return text


def format_report(doc: dict[str, Any], figures: dict[str, str] | None = None) -> str:
    """The short text report: the same flags as stats.json, and the numbers behind them."""
    r = doc["recipe"]
    il = doc["initial_loss"]
    lines = [
        f"diagnose {describe_run(doc)}: {doc['steps']} steps on {doc['data']['source']}, "
        f"batch {r['batch_size']}, {r['optimizer']} lr {r['lr']:g} ({r['schedule']})",
        f"initial loss {il['loss']:.3f} vs -log(1/{doc['vocab_size']}) = {il['uniform']:.3f} "
        f"({il['excess']:+.2f}: {il['verdict']}); final loss {doc['final_loss']:.3f}",
        _describe_init(doc),
        "",
    ]
    tanh = [la for la in doc["layers"] if la["tanh"]]
    if tanh:
        lines.append(f"tanh layers            saturated (|t| > {SATURATION})   act std        grad std")
        lines.append("                       init -> end                 init -> end    init -> end")
        for la in tanh:
            i, e = la["init"], la["end"]
            lines.append(
                f"  {la['name']:<20} {_pct(i['saturated']):>6} -> {_pct(e['saturated']):<17}"
                f"{_g(i['act_std']):>6} -> {_g(e['act_std']):<6}{_g(i['grad_std']):>8} -> {_g(e['grad_std'])}"
            )
    else:
        lines.append("no tanh layers: saturation is not checked")
    if all(doc["gradient_check"][when]["ratio"] is None for when in SNAPSHOTS):
        lines.append("gradients not compared: it takes two or more activation layers with gradients")
    for when in SNAPSHOTS:
        check = doc["gradient_check"][when]
        if check["ratio"] is not None:
            lines.append(
                f"gradient std {check['first']} / {check['last']} at {when}: {check['ratio']:.3g} "
                f"(flagged outside 1/{GRADIENT_RATIO:g}..{GRADIENT_RATIO:g})"
            )
    if doc["update_window"]:
        a, b = doc["update_window"]
        lines.append(
            f"median update:data std, steps {a}-{b} (aim ~1e-3, flagged outside {UPDATE_LOW:g}..{UPDATE_HIGH:g}):"
        )
        for p in doc["parameters"]:
            median = p["update_log10_median"]
            lines.append(f"  {p['name']:<22} {'-' if median is None else f'{10**median:.2g}'}")
    else:
        lines.append(f"update ratios not judged: they need more than {UPDATE_AFTER} steps")
    lines.append("")
    flags = doc["flags"]
    if flags:
        lines.append(f"flags ({len(flags)}):")
        for f in flags:
            lines.append(f"  {f['problem']:<12} {f['layer']:<20} {f['message']}  [{f['figure']}]")
    else:
        lines.append("flags: none")
    if figures:
        lines.append("")
        lines.append("written: " + ", ".join(figures.values()))
    return "\n".join(lines)

"""`mmzoo diagnose MODEL --compare KEY=V1,V2,...`: the lecture's experiments.

Each variant is the same model, data, seed and number of steps with one thing
changed (a config field such as init_gain or norm, `bn` on/off, or `init`), so
that the differences in the figures and in compare.json come from that one thing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mmzoo.engine.diagnose.init import INIT_MODES
from mmzoo.engine.diagnose.stats import SNAPSHOTS, Diagnosis
from mmzoo.engine.export.trace import BatchNormBase
from mmzoo.errors import MmzooError
from mmzoo.registry import ModelSpec

SWITCHES = {"bn": ("on", "off")}  # keys that are not config fields


@dataclass(frozen=True)
class Variant:
    label: str  # "init_gain=0.5"
    value: str
    sets: dict[str, str]
    no_bn: bool
    init: str
    recipe: dict[str, float] = dataclasses.field(default_factory=dict)  # `lr`: the recipe, not the config


def parse_compare(text: str, spec: ModelSpec, no_bn: bool, init: str) -> tuple[str, list[Variant]]:
    """KEY=V1,V2,... -> (KEY, one Variant per value), every value checked before any training."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    values = [v.strip() for v in rest.split(",") if v.strip()]
    if not sep or not key or len(values) < 2:
        raise MmzooError(f"--compare takes KEY=V1,V2,... with two or more values (e.g. init_gain=0.5,1.6667,3), "
                         f"got {text!r}")  # fmt: skip
    if len(set(values)) != len(values):
        raise MmzooError(f"--compare {key}: a value is repeated in {rest!r}")
    fields = [f.name for f in dataclasses.fields(spec.config)]
    if key == "bn":
        bad = [v for v in values if v not in SWITCHES["bn"]]
        if bad:
            raise MmzooError(f"--compare bn takes on and off, got {', '.join(bad)}")
        return key, [Variant(f"bn={v}", v, {}, v == "off", init) for v in values]
    if key == "init":
        bad = [v for v in values if v not in INIT_MODES]
        if bad:
            raise MmzooError(f"--compare init takes {', '.join(INIT_MODES)}, got {', '.join(bad)}")
        return key, [Variant(f"init={v}", v, {}, no_bn, v) for v in values]
    if key == "lr" and "lr" not in fields:
        return key, [Variant(f"lr={v}", v, {}, no_bn, init, {"lr": _positive(key, v)}) for v in values]
    if key not in fields:
        raise MmzooError(f"--compare: {spec.name} has no config field {key!r}; "
                         f"compare one of {', '.join([*fields, 'bn', 'init', 'lr'])}")  # fmt: skip
    return key, [Variant(f"{key}={v}", v, {key: v}, no_bn, init) for v in values]


def _positive(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MmzooError(f"--compare {key}: {text!r} is not a number") from None
    if not (value > 0 and value < float("inf")):
        raise MmzooError(f"--compare {key}: must be above 0, got {text}")
    return value


def check_variants(spec: ModelSpec, preset: str | None, sets: dict[str, str], variants: list[Variant]) -> None:
    """Build every variant once, before minutes of training: a bad value fails now."""
    for v in variants:
        model = spec.create(spec.make_config(preset, {**sets, **v.sets}), 27)
        if v.no_bn and not any(isinstance(m, BatchNormBase) for m in model.modules()):
            raise MmzooError(f"--compare {v.label}: this {spec.name} has no BatchNorm layers to remove")


def grad_spread(doc: dict[str, Any], when: str) -> float | None:
    """max / min of the gradient std over the activation layers: 1 when every layer
    sees gradients of the same size, the lecture's picture of a healthy net."""
    stds: list[float] = [
        la[when]["grad_std"]
        for la in doc["layers"]
        if la["name"] in doc["focus"] and la["activation"] and la[when]["grad_std"]
    ]
    return max(stds) / min(stds) if len(stds) >= 2 else None


def summarize_variant(variant: Variant, d: Diagnosis) -> dict[str, Any]:
    """One row of compare.json."""
    doc = d.doc
    tanh = [la for la in doc["layers"] if la["tanh"]]
    return {
        "label": variant.label,
        "value": variant.value,
        "config": doc["config"],
        "init": doc["init"]["mode"],
        "no_bn": doc["no_bn"],
        "norm": doc["norm"],
        "initial_loss": doc["initial_loss"]["loss"],
        "saturation": {la["name"]: {when: la[when]["saturated"] for when in SNAPSHOTS} for la in tanh},
        "grad_std_spread": {when: grad_spread(doc, when) for when in SNAPSHOTS},
        "final_train_loss": doc["final_loss"],
        "val_loss": doc["val_loss"],
        "seconds_per_step": doc["seconds_per_step"],
        "flags": doc["flags"],
        **{key: doc[key] for key in ("coupling", "bigram") if key in doc},  # learnings.py's sections
    }


def compare_doc(key: str, results: list[tuple[Variant, Diagnosis]]) -> dict[str, Any]:
    """compare.json: what the variants share, then one summary per variant."""
    first = results[0][1].doc
    return {
        "model": first["model"],
        "preset": first["preset"],
        "compare": key,
        "steps": first["steps"],
        "seed": first["seed"],
        "data": first["data"],
        "recipe": first["recipe"],
        "uniform_loss": first["initial_loss"]["uniform"],
        "thresholds": first["thresholds"],
        "variants": [summarize_variant(v, d) for v, d in results],
    }


def _worst(saturation: dict[str, dict[str, float | None]], when: str) -> str:
    values: list[float] = [v for s in saturation.values() if (v := s[when]) is not None]
    return f"{max(values):.1%}" if values else "-"


def _g(x: float | None, fmt: str = ".3g") -> str:
    return "-" if x is None else format(x, fmt)


def format_table(doc: dict[str, Any], written: list[str]) -> str:
    """The terminal's summary of compare.json: one line per variant."""
    head = f"compare {doc['compare']} on {doc['model']}" + (f" ({doc['preset']})" if doc["preset"] else "")
    lines = [
        f"{head}: {doc['steps']} steps each, seed {doc['seed']}, {doc['data']['source']}; "
        f"uniform loss -log(1/V) = {doc['uniform_loss']:.3f}",
        "",
        f"{'variant':<24}{'loss@0':>8}{'sat max':>9}{'sat max':>9}{'grad spread':>13}{'':>7}"
        f"{'train':>8}{'val':>8}{'ms/step':>9}  flags",
        f"{'':<24}{'':>8}{'init':>9}{'end':>9}{'init':>13}{'end':>7}",
    ]
    for v in doc["variants"]:
        spread, sat = v["grad_std_spread"], v["saturation"]
        ms = None if v["seconds_per_step"] is None else 1000 * v["seconds_per_step"]
        flags = sorted({f["problem"] for f in v["flags"]})
        lines.append(
            f"{v['label']:<24}{v['initial_loss']:>8.3f}{_worst(sat, 'init'):>9}{_worst(sat, 'end'):>9}"
            f"{_g(spread['init']):>13}{_g(spread['end']):>7}{v['final_train_loss']:>8.3f}{v['val_loss']:>8.3f}"
            f"{_g(ms, '.2f'):>9}  {', '.join(flags) or '-'}"
        )
    lines += [
        "",
        "sat max: the most saturated tanh layer (|t| > 0.97); grad spread: max/min grad std over the "
        "activation layers; train: mean of the last 100 batch losses",
        "",
        "written: " + ", ".join(written),
    ]
    return "\n".join(lines)

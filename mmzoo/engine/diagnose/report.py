"""The text report of `mmzoo diagnose`: the same flags as stats.json, and the numbers behind them."""

from __future__ import annotations

from typing import Any

from mmzoo.engine.diagnose.flags import GRADIENT_RATIO, UPDATE_AFTER, UPDATE_HIGH, UPDATE_LOW
from mmzoo.engine.diagnose.stats import SATURATION, SNAPSHOTS


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
    if init["mode"] == "as-built":
        text += f"the model as {doc['model']} builds it (normalisation: {doc.get('norm', '?')})"
    elif init["mode"] == "default":
        text += f"PyTorch's reset_parameters() on {len(init['pytorch_default'])} module(s)"
    else:
        text += f"{len(init['linear'])} Linear layer(s) re-initialised"
        if init["mode"] == "kaiming" and init["last_layer"]:
            text += f" (gain {init['gain']:.4g}), last layer {init['last_layer']} x{init['last_layer_scale']:g}"
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
        f"({il['excess']:+.2f}: {il['verdict']}); final loss {doc['final_loss']:.3f}, val {doc['val_loss']:.3f}",
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

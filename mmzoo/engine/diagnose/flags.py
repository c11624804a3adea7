"""The problems the lecture teaches to look for, as flags that name the layer and
the figure that shows it."""

from __future__ import annotations

from typing import Any

from mmzoo.engine.diagnose.stats import SATURATION, SNAPSHOTS

# The thresholds of the issue (and of the lecture's rules of thumb).
SATURATED_FRACTION = 0.05  # a layer with more than this share of saturated units is flagged
GRADIENT_RATIO = 10.0  # grad std of the first vs the last activation layer
UPDATE_LOW, UPDATE_HIGH = 1e-4, 1e-2  # acceptable band for update std / data std around 1e-3
UPDATE_AFTER = 100  # update ratios are judged after this many steps (the first ones are transients)


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

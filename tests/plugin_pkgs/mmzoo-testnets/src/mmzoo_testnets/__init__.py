"""mmzoo-testnets: plugin models written the way a plugin author would, used by
mmzoo's own tests of folding, calibration, causality and sequence-mode export.

- `tcn`: a causal temporal conv net, Conv1d (left padding) -> BatchNorm1d -> ReLU,
  dilations 1, 2, 4, 8; sequence mode (it leaves `input_mode` out).
- `tcn-linear`: the same stack written as Linear -> transpose -> BatchNorm1d -> transpose.
- `tcn-leaky`: the conv net padded on both sides, so position t sees token t + 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmzoo import ModelSpec, Recipe, hookimpl

mmzoo_plugin_api = 1


@dataclass(frozen=True)
class TCNConfig:
    n_embd: int = 16
    n_hidden: int = 32
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    context: int = 32  # the longest sequence the exported graph takes


def _check(config: TCNConfig) -> None:
    if min(config.n_embd, config.n_hidden, config.context) < 1 or not config.dilations:
        raise ValueError("n_embd, n_hidden and context must be >= 1, and dilations not empty")
    if any(d < 1 for d in config.dilations):
        raise ValueError(f"dilations must be >= 1, got {config.dilations}")


def build_tcn(config: TCNConfig, vocab_size: int) -> Any:
    from mmzoo_testnets.model import TCN

    _check(config)
    return TCN(config, vocab_size, block="conv")


def build_tcn_linear(config: TCNConfig, vocab_size: int) -> Any:
    from mmzoo_testnets.model import TCN

    _check(config)
    return TCN(config, vocab_size, block="linear")


def build_tcn_leaky(config: TCNConfig, vocab_size: int) -> Any:
    from mmzoo_testnets.model import TCN

    _check(config)
    return TCN(config, vocab_size, block="leaky")


RECIPE = Recipe(steps=300, batch_size=32, lr=3e-3, eval_every=100)
SPECS = [
    ModelSpec(
        name="tcn",
        family="conv",
        summary="causal conv net, Conv1d -> BatchNorm1d",
        config=TCNConfig,
        build=build_tcn,
        recipe=RECIPE,
    ),
    ModelSpec(
        name="tcn-linear",
        family="conv",
        summary="Linear -> transpose -> BatchNorm1d",
        config=TCNConfig,
        build=build_tcn_linear,
        recipe=RECIPE,
    ),
    ModelSpec(
        name="tcn-leaky",
        family="conv",
        summary="a conv net that sees the next token (not causal)",
        config=TCNConfig,
        build=build_tcn_leaky,
        recipe=RECIPE,
    ),
]


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in SPECS:
        register(spec)

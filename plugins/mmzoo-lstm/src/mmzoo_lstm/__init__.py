"""mmzoo-lstm: registers the `lstm` model with mmzoo.

This module is what the `mmzoo` entry point names, so mmzoo imports it on
every command: it stays torch-free and only describes the model. The network
itself lives in `mmzoo_lstm.model` and is imported when mmzoo builds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmzoo import ModelSpec, Recipe, hookimpl

# The mmzoo plugin API this plugin is written against (docs/plugins.md in mmzoo).
mmzoo_plugin_api = 2  # it uses ModelSpec.params and mmzoo.StateSpec


@dataclass(frozen=True)
class LSTMConfig:
    """Sizes of the network; every field can be set with `mmzoo train lstm --set key=value`."""

    n_embd: int = 32  # character embedding size
    n_hidden: int = 128  # LSTM cells per layer
    n_layer: int = 1  # stacked layers, with Graves's skip connections between them


def build(config: LSTMConfig, vocab_size: int) -> Any:
    from mmzoo_lstm.model import LSTM

    return LSTM(config, vocab_size)


SPEC = ModelSpec(
    name="lstm",
    family="rnn",
    summary="LSTM with peepholes and skip connections (Graves 2014)",
    config=LSTMConfig,
    build=build,
    params=87_419,  # at the default config: `mmzoo list` shows it without importing torch
    presets={
        "graves": {"n_layer": 3, "n_hidden": 128},
        "tiny": {"n_embd": 16, "n_hidden": 32, "n_layer": 2},  # what tests use: seconds, not minutes
    },
    recipe=Recipe(steps=6000, batch_size=64, lr=3e-3, weight_decay=0.01, warmup=100, eval_every=1000),
)


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(SPEC)

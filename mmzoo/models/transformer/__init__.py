"""Plugin: `transformer`, a small GPT as in makemore."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mmzoo.hookspecs import hookimpl
from mmzoo.lengths import item_length_field
from mmzoo.registry import ModelSpec, Recipe


@dataclass(frozen=True)
class TransformerConfig:
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 64  # channels; n_embd // n_head per head
    block_size: int = item_length_field(32)  # the position table's size: training sets it to the longest item + 1
    dropout: float = 0.1  # training only: without it val turns up at 2.00 by step 10k; 0.2 underfits


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="transformer",
            params=205_568,  # at the default config; tests/test_catalog.py checks it
            family="transformer",
            summary="small GPT: causal self-attention, pre-LayerNorm blocks, GELU MLP (Vaswani et al. 2017)",
            config=TransformerConfig,
            build="mmzoo.models.transformer.model:Transformer",
            presets={"tiny": {"n_layer": 2, "n_head": 2, "n_embd": 32}},
            recipe=Recipe(
                steps=18_000,
                batch_size=64,
                lr=3e-3,
                warmup=500,
                weight_decay=0.1,
                eval_every=2000,
                ema=0.999,  # the average ends 0.003 below the live weights (docs/performance.md)
            ),
        )
    )

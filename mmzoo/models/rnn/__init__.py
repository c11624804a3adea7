"""Plugin: `rnn` (Mikolov et al. 2010) and `gru` (Cho et al. 2014), as in makemore."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mmzoo.hookspecs import hookimpl
from mmzoo.lengths import item_length_field
from mmzoo.registry import ModelSpec, Recipe


@dataclass(frozen=True)
class RNNConfig:
    n_embd: int = 64  # character embedding
    n_hidden: int = 128  # hidden state
    # 0: no limit (a recurrence has no position table); a value > 0 caps the sequence, as runs
    # trained before this had it (32)
    block_size: int = item_length_field(0)
    dropout: float = 0.0  # on embeddings and hidden states, training only (rnn: 0.2 cost 0.03 val)


@dataclass(frozen=True)
class GRUConfig(RNNConfig):
    dropout: float = 0.2  # the GRU overfits 32k names by step 3000 without it (val 1.997 -> 1.967)


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="rnn",
            params=30_043,  # at the default config; tests/test_catalog.py checks it
            family="rnn",
            summary="vanilla tanh RNN over the sequence, learned start state (Mikolov et al. 2010)",
            config=RNNConfig,
            build="mmzoo.models.rnn.model:RNN",
            presets={"tiny": {"n_embd": 8, "n_hidden": 16}},  # for tests: trains and exports in seconds
            recipe=Recipe(steps=12_000, batch_size=64, lr=3e-3, warmup=200, weight_decay=0.01, eval_every=1000),
        )
    )
    register(
        ModelSpec(
            name="gru",
            params=79_451,  # at the default config; tests/test_catalog.py checks it
            family="rnn",
            summary="gated recurrent unit over the sequence, learned start state (Cho et al. 2014)",
            config=GRUConfig,
            build="mmzoo.models.rnn.model:GRU",
            presets={"tiny": {"n_embd": 8, "n_hidden": 16}},  # for tests: trains and exports in seconds
            recipe=Recipe(steps=12_000, batch_size=64, lr=3e-3, warmup=200, weight_decay=0.01, eval_every=1000),
        )
    )

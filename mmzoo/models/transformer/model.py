"""A small GPT (Vaswani et al. 2017, GPT-2's pre-LayerNorm layout), as in makemore.

Training runs the whole sequence with a causal mask (forward). Sampling and export
run one token per call (step) with a key/value cache: each layer's keys and values
of the tokens so far, so a new token attends to them without recomputing the prefix.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmzoo.contract import STEP, StateSpec
from mmzoo.errors import MmzooError
from mmzoo.models.blocks import check_length

if TYPE_CHECKING:
    from mmzoo.models.transformer import TransformerConfig


class CausalSelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        if config.n_embd % config.n_head:
            raise MmzooError(f"transformer: n_embd {config.n_embd} is not a multiple of n_head {config.n_head}")
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)  # query, key, value for all heads
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_drop = nn.Dropout(config.dropout)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x[B, T, C] -> q, k, v, each [B, n_head, T, head_size]."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        return tuple(t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))

    def merge(self, y: torch.Tensor) -> torch.Tensor:
        """[B, n_head, T, head_size] -> [B, T, C], then the output projection."""
        B, _, T, _ = y.shape
        return self.resid_drop(self.c_proj(y.transpose(1, 2).reshape(B, T, -1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)
        # softmax(q k^T / sqrt(head_size), future masked) v, fused; dropout on the weights
        p = self.dropout if self.training else 0.0
        return self.merge(F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True))

    def step(self, x: torch.Tensor, k_past: torch.Tensor, v_past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x[B, 1, C]; k_past, v_past [B, n_head, past, head_size]. The new token sees
        every cached one and itself, so no mask is needed."""
        q, k, v = self.qkv(x)  # [B, n_head, 1, head_size]
        k = torch.cat([k_past, k], dim=2)  # [B, n_head, past + 1, head_size]
        v = torch.cat([v_past, v], dim=2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])  # [B, n_head, 1, past + 1]
        y = F.softmax(att, dim=-1) @ v  # [B, n_head, 1, head_size]
        return self.merge(y), k, v


class Block(nn.Module):
    """Pre-LN: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.mlp_drop = nn.Dropout(config.dropout)

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp_drop(self.c_proj(F.gelu(self.c_fc(x))))  # exact (erf) GELU: 3x faster than tanh's on CPU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))

    def step(self, x: torch.Tensor, k_past: torch.Tensor, v_past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, k, v = self.attn.step(self.ln_1(x), k_past, v_past)
        x = x + y
        return x + self.mlp(self.ln_2(x)), k, v


class Transformer(nn.Module):
    """Token + position embeddings, n_layer blocks, a final LayerNorm and the head.
    Dropout (GPT-2's three places) is off in eval mode, so step() and export never see it."""

    input_mode = STEP

    def __init__(self, config: TransformerConfig, vocab_size: int) -> None:
        super().__init__()
        self.context_length = config.block_size
        self.n_head = config.n_head
        self.head_size = config.n_embd // config.n_head
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])  # of Block
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, vocab_size, bias=False)
        self.apply(_init_weights)
        for block in self._blocks():  # GPT-2: residual projections scaled by depth
            for proj in (block.attn.c_proj, block.c_proj):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * config.n_layer))

    def _blocks(self) -> list[Block]:
        return cast("list[Block]", list(self.blocks))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        check_length(T, self.context_length)
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # [B, T, C]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # [B, T, V]

    def step(self, idx: torch.Tensor, pos: torch.Tensor, *cache: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """idx[B], pos (scalar), then k and v [B, n_head, pos, head_size] per layer
        -> logits[B, V] and the caches grown by one position."""
        x = (self.wte(idx) + self.wpe(pos))[:, None, :]  # [B, 1, C]
        grown: list[torch.Tensor] = []
        for i, block in enumerate(self._blocks()):
            x, k, v = block.step(x, cache[2 * i], cache[2 * i + 1])
            grown += [k, v]
        return (self.head(self.ln_f(x))[:, 0, :], *grown)

    def onnx_state(self, batch: int) -> list[StateSpec]:
        """Example caches of 2 positions (tracing needs a non-empty one); sampling starts from 0."""
        shape = (batch, self.n_head, 2, self.head_size)
        return [
            StateSpec(f"{kv}{i}", torch.zeros(shape), {2: "past"}) for i in range(len(self.blocks)) for kv in ("k", "v")
        ]


def _init_weights(module: nn.Module) -> None:
    """GPT-2's init: N(0, 0.02) weights, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)

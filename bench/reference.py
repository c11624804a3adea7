"""A training loop written the plain makemore way, for bench/train_speed.py to race.

Not mmzoo code and not copied from makemore: the same architectures as mmzoo's
built-in models, written the way the lectures and makemore.py write them. A
per-item Dataset, a DataLoader drawing random batches, the eager model with
attention written out (mask buffer, masked_fill, softmax) and GELU by its tanh
formula, sequences always run at full length, torch.optim.AdamW with its
defaults, and `loss.item()` every step.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, RandomSampler

# -- data: one item per __getitem__ -------------------------------------------------


class NamesDataset(Dataset):
    """Whole names: x = [0, c1..cn, 0-pad], y = [c1..cn, 0, -1 pad], as makemore.py's CharDataset."""

    def __init__(self, items: list[str], stoi: dict[str, int], max_length: int) -> None:
        self.items, self.stoi, self.max_length = items, stoi, max_length

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.tensor([self.stoi[c] for c in self.items[i]], dtype=torch.long)
        x = torch.zeros(self.max_length + 1, dtype=torch.long)
        y = torch.full((self.max_length + 1,), -1, dtype=torch.long)
        x[1 : 1 + len(ix)] = ix
        y[: len(ix)] = ix
        y[len(ix)] = 0
        return x, y


class ContextDataset(Dataset):
    """(last block_size characters, next character) pairs, as the lectures' build_dataset."""

    def __init__(self, items: list[str], stoi: dict[str, int], block_size: int) -> None:
        xs, ys = [], []
        for item in items:
            context = [0] * block_size
            for ch in item + ".":
                ix = stoi[ch]
                xs.append(context)
                ys.append(ix)
                context = context[1:] + [ix]
        self.x, self.y = torch.tensor(xs), torch.tensor(ys)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def batches(dataset: Dataset, batch_size: int, seed: int) -> Any:
    """An endless iterator of random batches (makemore.py's InfiniteDataLoader)."""
    g = torch.Generator().manual_seed(seed)
    sampler = RandomSampler(dataset, replacement=True, num_samples=10**10, generator=g)
    return iter(DataLoader(dataset, batch_size=batch_size, sampler=sampler))


# -- models --------------------------------------------------------------------------


class NewGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class SelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head = n_head
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = SelfAttention(n_embd, n_head, block_size)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), NewGELU(), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head, block_size) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(0, idx.size(1), dtype=torch.long).unsqueeze(0)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class GRUCell(nn.Module):
    def __init__(self, n_embd: int, n_hidden: int) -> None:
        super().__init__()
        self.xh_to_z = nn.Linear(n_embd + n_hidden, n_hidden)
        self.xh_to_r = nn.Linear(n_embd + n_hidden, n_hidden)
        self.xh_to_hbar = nn.Linear(n_embd + n_hidden, n_hidden)

    def forward(self, xt: torch.Tensor, hprev: torch.Tensor) -> torch.Tensor:
        xh = torch.cat([xt, hprev], dim=1)
        r = F.sigmoid(self.xh_to_r(xh))
        xhr = torch.cat([xt, r * hprev], dim=1)
        hbar = F.tanh(self.xh_to_hbar(xhr))
        z = F.sigmoid(self.xh_to_z(xh))
        return (1 - z) * hprev + z * hbar


class GRU(nn.Module):
    def __init__(self, vocab_size: int, n_embd: int, n_hidden: int) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, n_hidden))
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.cell = GRUCell(n_embd, n_hidden)
        self.lm_head = nn.Linear(n_hidden, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        b, t = idx.size()
        emb = self.wte(idx)
        hprev = self.start.expand((b, -1))
        hiddens = []
        for i in range(t):
            hprev = self.cell(emb[:, i, :], hprev)
            hiddens.append(hprev)
        return self.lm_head(torch.stack(hiddens, 1))


class FlattenConsecutive(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        x = x.reshape(B, T // self.n, C * self.n)
        return x.squeeze(1) if x.shape[1] == 1 else x


class BatchNorm3d(nn.BatchNorm1d):
    """The lecture's BatchNorm over dims (0, 1) for 3-D input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2) if x.dim() == 3 else super().forward(x)


def window_model(name: str, config: Any, vocab_size: int) -> nn.Module:
    """mlp, mlp-bn and wavenet as the lectures build them: nn.Sequential of layers."""
    E, H = config.n_embd, config.n_hidden
    if name == "mlp":
        return nn.Sequential(
            nn.Embedding(vocab_size, E), nn.Flatten(), nn.Linear(config.block_size * E, H), nn.Tanh(),
            nn.Linear(H, vocab_size),
        )  # fmt: skip
    if name == "mlp-bn":
        layers: list[nn.Module] = [nn.Embedding(vocab_size, E), nn.Flatten()]
        fan_in = config.block_size * E
        for _ in range(config.n_layers):
            layers += [nn.Linear(fan_in, H, bias=False), nn.BatchNorm1d(H), nn.Tanh()]
            fan_in = H
        return nn.Sequential(*layers, nn.Linear(fan_in, vocab_size))
    layers = [nn.Embedding(vocab_size, E)]
    fan_in = 2 * E
    for _ in range(config.block_size.bit_length() - 1):
        layers += [FlattenConsecutive(2), nn.Linear(fan_in, H, bias=False), BatchNorm3d(H), nn.Tanh()]
        fan_in = 2 * H
    return nn.Sequential(*layers, nn.Linear(H, vocab_size))


# -- the loop ------------------------------------------------------------------------

WINDOW_MODELS = ("mlp", "mlp-bn", "wavenet")


def build(name: str, config: Any, vocab_size: int, max_length: int) -> nn.Module:
    if name in WINDOW_MODELS:
        return window_model(name, config, vocab_size)
    if name == "transformer":
        return Transformer(vocab_size, config.block_size, config.n_layer, config.n_head, config.n_embd)
    if name == "gru":
        return GRU(vocab_size, config.n_embd, config.n_hidden)
    raise ValueError(f"no reference for {name}")


class ReferenceLoop:
    """makemore's training loop for one model: step() is one optimisation step."""

    def __init__(self, name: str, config: Any, items: list[str], recipe: Any, seed: int) -> None:
        torch.manual_seed(seed)
        chars = sorted(set("".join(items)))
        stoi = {ch: i + 1 for i, ch in enumerate(chars)}
        stoi["."] = 0
        max_length = max(len(w) for w in items)
        if name in WINDOW_MODELS:
            dataset: Dataset = ContextDataset(items, stoi, config.block_size)
        else:
            dataset = NamesDataset(items, stoi, max_length)
        self.model = build(name, config, len(stoi), max_length)
        self.loader = batches(dataset, recipe.batch_size, seed)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, betas=(0.9, 0.99), eps=1e-8
        )
        self.last_loss = math.nan

    def step(self) -> None:
        x, y = next(self.loader)
        logits = self.model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1), ignore_index=-1)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.last_loss = loss.item()

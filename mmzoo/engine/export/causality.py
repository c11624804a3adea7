"""The causality rule of docs/plugins.md, checked cheaply wherever it matters:
the logits at position t may depend on tokens 0..t only. A model that peeks at
t + 1 trains to a tiny val loss and samples garbage, since at sampling time the
next token does not exist yet.

The check changes one token at a time, at every position of a few random
sequences as long as the model's context, and looks for any earlier logit that
moves. `mmzoo train` runs it before training, `mmzoo export` before exporting,
and mmzoo.testing in a plugin's own tests.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import torch
import torch.nn as nn

from mmzoo.contract import BOUNDARY, context_length_of
from mmzoo.errors import MmzooError

MAX_CHECK_LENGTH = 64  # long enough to see any leak a name-sized item could use
N_SEQUENCES = 4
TOL = 1e-4  # relative to the largest logit: different batch sizes may round differently
SUSPICIOUS_LOSS = 0.5  # nats/char
SUSPICIOUS_ENTROPY = 2.0


def check_length(model: nn.Module) -> int:
    return max(2, min(context_length_of(model), MAX_CHECK_LENGTH))


@torch.no_grad()
def first_leak(model: nn.Module, vocab_size: int, n_seqs: int = N_SEQUENCES, seed: int = 0) -> tuple[int, int] | None:
    """(position s, later token t) for the first logit that moves when a later token
    changes, or None if the model is causal on these inputs. Runs in eval mode."""
    T = check_length(model)
    generator = torch.Generator().manual_seed(seed)
    base = torch.randint(1, max(vocab_size, 2), (n_seqs, T), generator=generator)
    base[:, 0] = 0  # items start with the boundary token
    batch = [base]
    for t in range(1, T):
        changed = base.clone()
        changed[:, t] = changed[:, t] % (vocab_size - 1) + 1 if vocab_size > 2 else 1 - changed[:, t]
        batch.append(changed)
    x = torch.cat(batch)  # [T * n_seqs, T]: the originals, then one changed token per copy
    was_training = model.training
    model.eval()
    try:
        logits = model(x).view(T, n_seqs, T, -1)  # [changed token, seq, position, V]
    finally:
        model.train(was_training)
    moved = (logits[1:] - logits[:1]).abs().amax(dim=(1, 3))  # [t - 1, position]
    tol = TOL * max(1.0, float(logits[0].abs().max()))
    leaks = [(s, t) for t in range(1, T) for s in range(t) if moved[t - 1, s] > tol]
    return min(leaks) if leaks else None


def check_causal(model: nn.Module, vocab_size: int, name: str, when: str) -> None:
    """Raise MmzooError naming the first leaking position (`when`: "train", "export")."""
    leak = first_leak(model, vocab_size)
    if leak is not None:
        s, t = leak
        raise MmzooError(
            f"{name} is not causal: its logits at position {s} change with token {t}, which it must not see yet "
            f"(docs/plugins.md, 'The model contract'); refusing to {when} it"
        )


def bigram_entropy(items: Iterable[str]) -> float:
    """H(next char | char) of a corpus in nats, items framed by the boundary token."""
    pairs: Counter[tuple[str, str]] = Counter()
    for item in items:
        chars = [BOUNDARY, *item, BOUNDARY]
        pairs.update(zip(chars, chars[1:]))
    firsts: Counter[str] = Counter()
    for (a, _), n in pairs.items():
        firsts[a] += n
    total = sum(pairs.values())
    return -sum(n / total * math.log(n / firsts[a]) for (a, _), n in pairs.items()) if total else 0.0


def suspicious_loss_warning(val_loss: float, items: list[str]) -> str | None:
    """A warning when a val loss is far below what a causal model could reach on this corpus."""
    if not val_loss < SUSPICIOUS_LOSS:
        return None
    entropy = bigram_entropy(items)
    if entropy <= SUSPICIOUS_ENTROPY:
        return None
    return (
        f"val loss {val_loss:.4f} nats/char is far below what a causal model reaches on a corpus whose bigram "
        f"entropy is {entropy:.2f}: the model probably sees the token it predicts"
    )

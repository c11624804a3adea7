"""What the sequence models (rnn, gru, bow, transformer) share."""

from __future__ import annotations

from mmzoo.errors import MmzooError


def check_length(T: int, block_size: int) -> None:
    """A clear error instead of an index error deep inside, when a corpus has longer items."""
    if T > block_size:
        raise MmzooError(
            f"a sequence of {T} tokens is longer than block_size {block_size}; train with --set block_size={T}"
        )

"""Range checks for numbers and vocabularies read from files, torch-free.

Every number that will size an allocation (a context length, a maximum item
length, a vocabulary) is checked here before it is used, so that a damaged or
hostile model.json or .onnx file gives one clear error instead of a traceback
or a 7 TiB numpy allocation.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from mmzoo.errors import MmzooError

MAX_CONTEXT = 1 << 16  # tokens of context a model may declare
MAX_ITEM_LIMIT = 100_000  # the largest --max-item-length; max_length is at most this + 1
MAX_VOCAB = 1 << 16
# Characters that would break one-item-per-line output or reach the terminal raw:
# controls (newline, ESC, ...), line/paragraph separators, lone surrogates.
BAD_CATEGORIES = {"Cc", "Zl", "Zp", "Cs"}


def need_int(value: Any, lo: int, hi: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise MmzooError(f"{what} must be an integer in [{lo}, {hi}], got {_short(value)}")
    return value


def need_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise MmzooError(f"{what} must be a string, got {_short(value)}")
    return value


def need_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MmzooError(f"{what} must be a JSON object, got {_short(value)}")
    return value


def parse_int(text: Any, lo: int, hi: int, what: str) -> int:
    """An integer written as a decimal string (ONNX metadata), range-checked."""
    # ASCII digits with at most one sign: "--3" and "²" pass str.isdigit but not int()
    if not isinstance(text, str) or len(text) > 20 or not re.fullmatch(r"\s*-?[0-9]+\s*", text):
        raise MmzooError(f"{what} must be an integer in [{lo}, {hi}], got {_short(text)}")
    return need_int(int(text), lo, hi, what)


def check_vocab(vocab: Any, what: str = "vocab", controls: bool = False) -> list[str]:
    """A list of single characters, none a control character (tab aside) unless `controls`.
    Entries 1.. are distinct; entry 0 only displays the boundary token (id 0), so it may
    repeat one of them: a corpus that contains a `.` has `.` at 0 and at its own id."""
    if not isinstance(vocab, list) or not 2 <= len(vocab) <= MAX_VOCAB:
        raise MmzooError(f"{what} must be a list of 2 to {MAX_VOCAB} characters, got {_short(vocab)}")
    for i, entry in enumerate(vocab):
        if not isinstance(entry, str) or len(entry) != 1:
            raise MmzooError(f"{what} entry {i} must be one character, got {_short(entry)}")
        if not controls and entry != "\t" and unicodedata.category(entry) in BAD_CATEGORIES:
            raise MmzooError(f"{what} entry {i} is a control character ({entry!r}): refused")
    if len(set(vocab[1:])) != len(vocab) - 1:
        raise MmzooError(f"{what} has repeated entries")
    return vocab


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

"""The data pipeline: reading files, vocabulary, the lectures' split, tensors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mmzoo.corpus import BOUNDARY, Vocab, load_corpus, read_items, split_items
from mmzoo.errors import MmzooError


def test_crlf_bom_whitespace_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_bytes("\ufeffemma\r\n  olivia  \r\n\r\n\n ava\n".encode())
    items, digest = read_items(path)
    assert items == ["emma", "olivia", "ava"]
    assert len(digest) == 64


def test_vocab_is_boundary_then_sorted_chars() -> None:
    vocab = Vocab.from_items(["cab", "bad"])
    assert vocab.chars == (BOUNDARY, "a", "b", "c", "d")
    assert vocab.decode(vocab.encode("dab")) == "dab"


def test_a_dot_in_the_data_is_a_character_not_the_boundary() -> None:
    vocab = Vocab.from_items(["inc.", "co"])
    assert vocab.chars[0] == BOUNDARY and vocab.chars.count(".") == 2
    assert 0 not in vocab.encode("inc.")


def test_unknown_characters_are_named() -> None:
    with pytest.raises(MmzooError, match="'z'"):
        Vocab.from_items(["abc"]).encode("abz")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no items"),
        (b"\n  \n\r\n", "no items"),
        (b"ok\n\xff\xfe bad\n", "not UTF-8 text \\(bad byte on line 2\\)"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(MmzooError, match=message):
        read_items(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MmzooError, match="no such file"):
        read_items(tmp_path / "nope.txt")
    with pytest.raises(MmzooError, match="directory"):
        read_items(tmp_path)


def test_split_is_the_lectures_split() -> None:
    words = [f"w{i}" for i in range(1000)]
    expected = list(words)
    random.seed(42)
    random.shuffle(expected)
    splits = split_items(words, seed=42)
    assert splits["train"] == expected[:800]
    assert splits["val"] == expected[800:900]
    assert splits["test"] == expected[900:]
    assert split_items(words, seed=1)["train"] != splits["train"]


def test_builtin_names_corpus_loads_by_name() -> None:
    corpus = load_corpus("names")
    assert 29_000 < len(corpus.items) < 33_000
    assert corpus.items[:2] == ["emma", "liam"]  # ordered by count
    assert corpus.vocab.chars == (BOUNDARY, *"abcdefghijklmnopqrstuvwxyz")


def test_windows_hold_exactly_the_lectures_examples() -> None:
    from mmzoo.engine.data import batches as tensors

    items = ["emma", "ava"]
    vocab = Vocab.from_items(items)
    x, y = tensors.sequences(items, vocab, length=5)
    wx, wy = tensors.windows(x, y, context=3)
    brute = []
    for item in items:  # the lecture's build_dataset
        context = [0, 0, 0]
        for ch in item + BOUNDARY:
            ix = vocab.encode(ch)[0] if ch != BOUNDARY else 0
            brute.append((tuple(context), ix))
            context = context[1:] + [ix]
    assert [(tuple(c.tolist()), int(t)) for c, t in zip(wx, wy)] == brute

"""Properties over arbitrary input (hypothesis): round-trips, partitions, top-k,
and loaders of untrusted files that fail only with mmzoo's own error."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmzoo.checks import MAX_CONTEXT, MAX_ITEM_LIMIT
from mmzoo.contract import REQUIRED_KEYS
from mmzoo.corpus import Vocab, split_items
from mmzoo.errors import MmzooError
from mmzoo.runs.meta import RunMeta, parse_meta
from mmzoo.runtime.onnx_file import check_metadata, read_checked
from mmzoo.runtime.sampling import choose

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@SETTINGS
@given(st.lists(st.text(min_size=1), min_size=1, max_size=5))
def test_encode_decode_round_trips_any_unicode(items: list[str]) -> None:
    vocab = Vocab.from_items(items)
    for item in items:
        ids = vocab.encode(item)
        assert all(0 < i < vocab.size for i in ids)  # 0 is the boundary, never a character
        assert vocab.decode(ids) == item


@SETTINGS
@given(st.lists(st.text(max_size=5), max_size=60), st.integers(min_value=0, max_value=2**63 - 1))
def test_split_is_a_partition(items: list[str], seed: int) -> None:
    parts = split_items(items, seed)
    assert Counter(parts["train"] + parts["val"] + parts["test"]) == Counter(items)
    assert len(parts["train"]) == int(0.8 * len(items))
    assert split_items(items, seed) == parts  # a pure function of (items, seed)


@SETTINGS
@given(
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=2, max_value=30),
    st.data(),
)
def test_top_k_never_picks_outside_the_top_k(batch: int, vocab: int, data: st.DataObject) -> None:
    finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
    logits = np.array(data.draw(st.lists(finite, min_size=batch * vocab, max_size=batch * vocab))).reshape(batch, vocab)
    u = np.array(data.draw(st.lists(st.floats(0, 1, exclude_max=True), min_size=batch, max_size=batch)))
    k = data.draw(st.integers(min_value=1, max_value=vocab))
    temperature = data.draw(st.sampled_from([1.0, 0.5, 2.0, 1e-310]))
    picks = choose(logits.astype(np.float32), u, temperature, k)
    kth = np.sort(logits.astype(np.float32), axis=1)[:, -k]
    assert all(logits.astype(np.float32)[row, pick] >= kth[row] for row, pick in enumerate(picks))


def refused_in_one_line(call: Callable[[], Any]) -> Any | None:
    """call()'s result, or None if it raised MmzooError with one short line; any other
    exception, or a multi-line or empty message, fails the test."""
    try:
        return call()
    except MmzooError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) <= 300, repr(message)
        return None


def assert_sane_run_meta(meta: RunMeta) -> None:
    """What a command may rely on once parse_meta accepted a document."""
    assert isinstance(meta.model, str) and meta.model
    assert 1 <= meta.context_length <= MAX_CONTEXT and 2 <= meta.max_length <= MAX_ITEM_LIMIT + 1
    assert len(set(meta.vocab)) == len(meta.vocab) and all(isinstance(c, str) for c in meta.vocab)
    assert isinstance(meta.data.source, str) and isinstance(meta.data.sha256, str) and meta.split_seed >= 0


VALID_META = {
    "checkpoint_format": 1,
    "model": "mlp",
    "config": {},
    "vocab": [".", "a", "b"],
    "context_length": 3,
    "input_mode": "window",
    "max_length": 12,
    "data": {"source": "names", "sha256": "0" * 64},
    "split": {"seed": 42},
    "weights_sha256": "0" * 64,
    "metrics": {},
}


def test_a_valid_model_json_is_accepted() -> None:
    """The positive control for the fuzz tests below: they would pass vacuously if
    parse_meta refused everything."""
    assert_sane_run_meta(parse_meta(json.dumps(VALID_META), Path("model.json")))


@SETTINGS
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_model_json_loader_refuses_garbage_in_one_line(raw: bytes) -> None:
    meta = refused_in_one_line(lambda: parse_meta(raw, Path("model.json"), last=True))
    assert meta is None  # random bytes or JSON are never a complete last.json


@SETTINGS
@given(st.dictionaries(st.sampled_from(["model", "config", "vocab", "context_length", "max_length"]), json_values))
def test_model_json_with_any_values_is_refused_or_sane(values: dict) -> None:
    doc = {**VALID_META, **values}
    meta = refused_in_one_line(lambda: parse_meta(json.dumps(doc), Path("model.json")))
    if meta is not None:
        assert_sane_run_meta(meta)


@SETTINGS
@given(st.dictionaries(st.sampled_from(REQUIRED_KEYS), st.text(max_size=30) | json_values.map(json.dumps)))
def test_onnx_metadata_with_any_values_is_refused_or_sane(values: dict[str, str]) -> None:
    props = {key: "1" if key == "mmzoo.format" else "" for key in REQUIRED_KEYS}
    props.update(values)
    meta = refused_in_one_line(lambda: check_metadata(props))
    if meta is not None:
        assert 1 <= meta.context_length <= MAX_CONTEXT and 1 <= meta.max_length <= MAX_ITEM_LIMIT + 1
        assert len(set(meta.vocab)) == len(meta.vocab)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_onnx_file_loader_refuses_random_bytes_in_one_line(tmp_path_factory: object, data: bytes) -> None:
    path = tmp_path_factory.mktemp("onnx") / "x.onnx"  # type: ignore[attr-defined]
    path.write_bytes(data)
    assert refused_in_one_line(lambda: read_checked(path)) is None

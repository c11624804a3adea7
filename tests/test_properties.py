"""Properties over arbitrary input (hypothesis): round-trips, partitions, top-k,
and loaders of untrusted files that fail only with mmzoo's own error."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmzoo.contract import REQUIRED_KEYS
from mmzoo.corpus import Vocab, split_items
from mmzoo.errors import MmzooError
from mmzoo.runs.meta import parse_meta
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


@SETTINGS
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_model_json_loader_raises_only_mmzoo_errors(raw: bytes) -> None:
    try:
        parse_meta(raw, Path("model.json"), last=True)
    except MmzooError:
        pass


@SETTINGS
@given(st.dictionaries(st.sampled_from(["model", "config", "vocab", "context_length", "max_length"]), json_values))
def test_model_json_with_known_keys_and_any_values_raises_only_mmzoo_errors(values: dict) -> None:
    doc = {"checkpoint_format": 1, "input_mode": "window", **values}
    try:
        parse_meta(json.dumps(doc), Path("model.json"))
    except MmzooError:
        pass


@SETTINGS
@given(st.dictionaries(st.sampled_from(REQUIRED_KEYS), st.text(max_size=30) | json_values.map(json.dumps)))
def test_onnx_metadata_loader_raises_only_mmzoo_errors(values: dict[str, str]) -> None:
    props = {key: "1" if key == "mmzoo.format" else "" for key in REQUIRED_KEYS}
    props.update(values)
    try:
        check_metadata(props)
    except MmzooError:
        pass


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_onnx_file_loader_raises_only_mmzoo_errors(tmp_path_factory: object, data: bytes) -> None:
    path = tmp_path_factory.mktemp("onnx") / "x.onnx"  # type: ignore[attr-defined]
    path.write_bytes(data)
    try:
        read_checked(path)
    except MmzooError:
        pass

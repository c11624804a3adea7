"""Anyone's corpus trains every model with default settings (issue 21): a `.` is data,
the context comes from the corpus, the bigram's smoothing and the weight average fit
short runs and large vocabularies, and an exported file of one's own corpus prints the
novelty line."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import BUILTIN_NAMES, run_mmzoo

from mmzoo.corpus import Vocab, split_items
from mmzoo.errors import MmzooError
from mmzoo.lengths import config_for_corpus, fitted_config, item_length_field, length_fields
from mmzoo.plugins import get_zoo
from mmzoo.registry import ModelSpec

# every built-in model and the lstm plugin; test_the_list_is_every_model keeps it honest
MODELS = ["bigram", "bigram-nn", "bow", "gru", "mlp", "mlp-bn", "rnn", "transformer", "wavenet", "lstm"]
LONGEST = 60  # characters in the longest item of own_corpus
STEPS = "30"  # the one setting the matrix changes: default recipes run 1,000s of steps
SCRIPTS = [0x61, 0x430, 0x3B1, 0x561, 0x5D0, 0x627, 0x915, 0xE01, 0x10D0, 0x3041, 0x4E00, 0xAC00]


def own_corpus(path: Path) -> Path:
    """600 items: words in a 300-character alphabet (CJK), joined by spaces, apostrophes,
    hyphens and dots, some of exactly LONGEST characters."""
    rng = random.Random(21)
    alphabet = [chr(0x4E00 + i) for i in range(300)] + list("abcdefghij")
    items = []
    for n in range(600):
        words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, 3))]
        item = "".join(w + rng.choice([" ", "'", "-", ". "]) for w in words[:-1]) + words[-1]
        if n % 50 == 0:
            item = ("st. o'neil-" + item + " " * 3 + "x" * LONGEST)[:LONGEST].strip()
            item = item + "z" * (LONGEST - len(item))
        items.append(item)
    path.write_text("\n".join(items) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return own_corpus(tmp_path_factory.mktemp("own") / "own.txt")


def test_the_corpus_is_what_the_issue_asks_for(corpus: Path) -> None:
    items = corpus.read_text(encoding="utf-8").split("\n")[:-1]
    text = "".join(items)
    assert all(c in text for c in ".' -")
    assert max(map(len, items)) == LONGEST
    assert Vocab.from_items(items).size > 256  # more ids than a byte holds


def test_the_list_is_every_model() -> None:
    listed = json.loads(run_mmzoo("list", "--json").stdout)
    assert {m["name"] for m in listed if m["plugin"] == "mmzoo"} | {"lstm"} == set(MODELS)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_own_corpus_trains_samples_evaluates_exports_and_generates(model: str, corpus: Path, tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / f"{model}.onnx"
    run_mmzoo("train", model, "--data", str(corpus), "--steps", STEPS, "--out", str(run), "--json", cwd=tmp_path)
    meta = json.loads((run / "model.json").read_text(encoding="utf-8"))
    vocab = meta["vocab"]
    assert vocab[0] == "." and vocab.count(".") == 2  # the boundary and the corpus's own '.'
    assert meta["max_length"] == LONGEST + 1
    if "block_size" in length_fields(get_zoo().model(model).config):
        want = 0 if model in ("rnn", "gru") else LONGEST + 1  # recurrent: no limit
        assert meta["config"]["block_size"] == want

    prefix = "st. o"  # a '.' in a prefix is the corpus's '.', not the boundary
    doc = json.loads(run_mmzoo("sample", str(run), "-n", "20", "--prefix", prefix, "--json", cwd=tmp_path).stdout)
    assert len(doc["samples"]) == 20 and all(s.startswith(prefix) for s in doc["samples"])
    assert all(set(s) <= set(vocab[1:]) for s in doc["samples"])

    losses = json.loads(run_mmzoo("eval", str(run), "--json", cwd=tmp_path).stdout)["losses"]
    assert set(losses) == {"train", "val", "test"} and all(math.isfinite(v["loss"]) for v in losses.values())
    assert losses["val"]["loss"] == pytest.approx(meta["metrics"]["val_loss"], abs=1e-4)

    run_mmzoo("export", str(run), "--generate", "--out", str(out), "--json", cwd=tmp_path, timeout=600)
    args = ["-n", "20", "--seed", "3", "--json"]
    step = json.loads(run_mmzoo("sample", str(out), *args, cwd=tmp_path).stdout)
    gen = json.loads(run_mmzoo("sample", str(out.with_suffix(".gen.onnx")), *args, cwd=tmp_path).stdout)
    assert step["samples"] == gen["samples"] and any(step["samples"])
    assert sum(step["novelty"].values()) == 20  # the corpus file is where training read it
    if model in ("rnn", "gru", "lstm"):  # no length limit: the file declares the most it may
        assert _props(out)["mmzoo.context_length"] == str(1 << 16)
    elif model in ("transformer", "bow"):
        assert _props(out)["mmzoo.context_length"] == str(LONGEST + 1)


def _props(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.mark.parametrize(("model", "value"), [("transformer", "40"), ("bow", "60"), ("gru", "12")])
def test_a_block_size_below_the_longest_item_is_refused_before_training(
    model: str, value: str, corpus: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    proc = run_mmzoo(
        "train", model, "--data", str(corpus), "--set", f"block_size={value}", "--out", str(run), check=False
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"longest item ({LONGEST} characters, {LONGEST + 1} tokens" in proc.stderr
    assert f"--set block_size={LONGEST + 1}" in proc.stderr
    assert not run.exists() and f"training {model} on" not in proc.stderr  # refused before training began


def test_length_fields_follow_the_corpus_unless_set() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Config:
        block_size: int = item_length_field(8)
        unlimited: int = item_length_field(0)
        width: int = 3  # an ordinary field: never touched

    spec = ModelSpec(
        name="m",
        summary="",
        config=Config,
        build="x:y",
        presets={"long": {"block_size": 99}, "short": {"block_size": 4}},
    )
    assert fitted_config(spec, Config(), 61, set()) == Config(block_size=61, unlimited=0, width=3)
    assert config_for_corpus(spec, None, None, 61).block_size == 61
    assert config_for_corpus(spec, None, {"block_size": "70"}, 61).block_size == 70  # set: kept
    assert config_for_corpus(spec, "long", None, 61).block_size == 99  # a preset's value counts as set
    with pytest.raises(MmzooError, match="longer than block_size 4"):
        config_for_corpus(spec, "short", None, 61)
    assert fitted_config(spec, Config(block_size=70), 61, {"block_size"}).block_size == 70  # larger: kept
    assert fitted_config(spec, Config(block_size=4), 3, set()).block_size == 3  # sized down too
    with pytest.raises(MmzooError, match="longer than unlimited 60"):
        fitted_config(spec, Config(unlimited=60), 61, {"unlimited"})


def test_an_old_run_with_a_recurrent_block_size_keeps_it() -> None:
    """Runs trained before rnn/gru had no limit saved block_size 32: they rebuild as they were."""
    import torch

    spec = get_zoo().model("gru")
    model = spec.create(spec.make_config(overrides={"block_size": "32"}), 27)
    assert model.context_length == 32
    with pytest.raises(MmzooError, match="longer than block_size 32"):
        model(torch.zeros(1, 33, dtype=torch.long))
    unlimited = spec.create(spec.config(), 27)
    assert unlimited.context_length == 1 << 16 and unlimited(torch.zeros(1, 300, dtype=torch.long)).shape[1] == 300


def test_the_novelty_line_for_an_exported_file_of_ones_own_corpus(corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "mine.txt"
    data.write_bytes(corpus.read_bytes())
    run, out = tmp_path / "run", tmp_path / "bigram.onnx"
    run_mmzoo("train", "bigram", "--data", str(data), "--out", str(run), cwd=tmp_path)
    run_mmzoo("export", str(run), "--out", str(out), cwd=tmp_path)
    proc = run_mmzoo("sample", str(out), "-n", "50", cwd=tmp_path)
    line = proc.stderr.strip().splitlines()[-1]
    counts = [int(word) for word in line.replace(",", "").split() if word.isdigit()]
    assert "in the training data" in line and sum(counts) == 50
    data.write_text("something else\nentirely\n")  # the recorded sha256 no longer matches: no line
    assert "in the training data" not in run_mmzoo("sample", str(out), "-n", "5", cwd=tmp_path).stderr


def scripts_corpus(path: Path, n: int = 4000) -> Path:
    """Built-in names, each written in one of 12 scripts (312 characters): a large vocabulary."""
    rng = random.Random(0)
    names = BUILTIN_NAMES.read_text().split()
    items = []
    for name in rng.sample(names, n):
        base = rng.choice(SCRIPTS)
        items.append("".join(chr(base + ord(c) - 97) for c in name))
    path.write_text("\n".join(items) + "\n", encoding="utf-8")
    return path


def add_k_val_losses(path: Path, ks: np.ndarray) -> np.ndarray:
    """Val NLL per character of the add-k bigram for each k, counted here with numpy."""
    items = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    vocab = Vocab.from_items(items)
    splits = split_items(items)
    V = vocab.size

    def pairs(split: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ids = [[0, *vocab.encode(item), 0] for item in split]
        return np.array([a for r in ids for a in r[:-1]]), np.array([b for r in ids for b in r[1:]])

    counts = np.zeros((V, V))
    np.add.at(counts, pairs(splits["train"]), 1)
    a, b = pairs(splits["val"])
    rows = counts.sum(1)
    return np.array([-(np.log(counts[a, b] + k) - np.log(rows[a] + k * V)).mean() for k in ks])


def test_the_default_bigram_is_within_0_05_of_the_best_smoothing_on_val(tmp_path: Path) -> None:
    data = scripts_corpus(tmp_path / "scripts.txt")
    doc = json.loads(run_mmzoo("train", "bigram", "--data", str(data), "--out", str(tmp_path / "b"), "--json").stdout)
    ks = np.logspace(-5, 1, 121)
    losses = add_k_val_losses(data, ks)
    best = losses.min()
    chosen = json.loads((tmp_path / "b" / "model.json").read_text())["config"]["smoothing"]
    assert chosen > 0  # recorded in the run
    assert doc["best_val_loss"] <= best + 0.05
    assert doc["best_val_loss"] == pytest.approx(add_k_val_losses(data, np.array([chosen]))[0], abs=1e-4)
    add_one = add_k_val_losses(data, np.array([1.0]))[0]
    assert add_one > best + 0.5  # on this corpus the old default (add-1) was far off


@pytest.mark.slow
def test_a_400_step_transformer_reports_a_val_no_worse_than_its_live_weights(tmp_path: Path) -> None:
    """The run keeps its weight average (recipe ema 0.999); the same run with --ema 0 has the
    same live weights (the average never feeds back) and reports those."""
    args = ["train", "transformer", "--data", "names", "--steps", "400", "--seed", "1", "--threads", "1", "--json"]
    averaged = json.loads(run_mmzoo(*args, "--out", str(tmp_path / "avg"), cwd=tmp_path, timeout=900).stdout)
    live = json.loads(run_mmzoo(*args, "--ema", "0", "--out", str(tmp_path / "live"), cwd=tmp_path, timeout=900).stdout)
    assert json.loads((tmp_path / "avg" / "model.json").read_text())["recipe"]["ema"] == 0.999
    assert averaged["best_val_loss"] <= live["best_val_loss"]


def test_the_contract_pages_say_what_changed() -> None:
    """docs/plugins.md (plugin API 4: item_length_field, fit's val) and docs/onnx.md (the
    boundary is id 0, whatever vocab[0] shows) change only with their versions and a test."""
    from mmzoo import PLUGIN_API_VERSION
    from mmzoo.contract import FORMAT_VERSION

    docs = Path(__file__).resolve().parent.parent / "docs"
    plugins, onnx_page = (docs / "plugins.md").read_text(), (docs / "onnx.md").read_text()
    assert PLUGIN_API_VERSION == 4 and "currently 4" in plugins and "What API 4 added" in plugins
    assert "item_length_field" in plugins and "val=(val_x, val_y)" in plugins
    assert FORMAT_VERSION == "1" and "id 0 is the boundary whatever" in onnx_page

"""Models of makemore parts 1-3, the shared loss, the loop and checkpoints, in-process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from mmzoo.corpus import Corpus, Vocab, split_items
from mmzoo.engine import checkpoint
from mmzoo.engine.data.batches import sequences, windows
from mmzoo.engine.loss import batch_loss, split_loss
from mmzoo.engine.training.trainer import train
from mmzoo.errors import MmzooError
from mmzoo.plugins import get_zoo


def _corpus(items: list[str]) -> Corpus:
    return Corpus(items, "test", "0" * 64)


def test_bigram_probabilities_are_the_normalised_smoothed_counts() -> None:
    items = ["emma", "ava", "amelia", "mia", "ella"] * 3 + ["zoe"]
    vocab = Vocab.from_items(items)
    spec = get_zoo().model("bigram")
    model = spec.create(spec.make_config(overrides={"smoothing": "0.5"}), vocab.size)
    x, y = windows(*sequences(items, vocab, 8), context=1)
    spec.fit(model, x, y)
    V = vocab.size
    counts = [[0.5] * V for _ in range(V)]
    for item in items:
        ids = [0, *vocab.encode(item), 0]
        for a, b in zip(ids, ids[1:]):
            counts[a][b] += 1
    probs = model.next_logits(torch.arange(V)[:, None]).exp()
    for a in range(V):
        for b in range(V):
            assert probs[a, b].item() == pytest.approx(counts[a][b] / sum(counts[a]), rel=1e-5)


def test_loss_is_the_hand_computed_per_character_nll() -> None:
    items = ["ab", "b"]
    vocab = Vocab.from_items(items)
    spec = get_zoo().model("bigram")
    model = spec.create(spec.config(), vocab.size)
    with torch.no_grad():
        model.log_probs.copy_(torch.log_softmax(torch.randn(3, 3), dim=1))
    lp = model.log_probs
    # ".ab." and ".b.": pairs (.,a) (a,b) (b,.) (.,b) (b,.)
    pairs = [(0, 1), (1, 2), (2, 0), (0, 2), (2, 0)]
    by_hand = -sum(lp[a, b].item() for a, b in pairs) / len(pairs)
    x, y = sequences(items, vocab, 3)
    wx, wy = windows(x, y, 1)
    assert split_loss(model, wx, wy) == pytest.approx(by_hand, rel=1e-6)
    # the sequence path (forward over whole items, padding masked) agrees
    seq_loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 3), y.reshape(-1), ignore_index=-1).item()
    assert seq_loss == pytest.approx(by_hand, rel=1e-6)


def test_mlp_bn_starts_near_uniform_and_uses_kaiming_init() -> None:
    spec = get_zoo().model("mlp-bn")
    torch.manual_seed(0)
    model = spec.create(spec.make_config("deep"), 27)
    first = model.blocks[0]
    expected_std = (5 / 3) / math.sqrt(first.in_features)
    assert first.weight.std().item() == pytest.approx(expected_std, rel=0.05)
    x = torch.randint(0, 27, (512, 3))
    loss = torch.nn.functional.cross_entropy(model.next_logits(x), torch.randint(0, 27, (512,)))
    assert abs(loss.item() - math.log(27)) < 0.1


@pytest.mark.parametrize("name", ["bigram-nn", "mlp", "mlp-bn"])
def test_training_lowers_val_loss(tmp_path: Path, small_names: Path, name: str) -> None:
    from mmzoo.corpus import load_corpus

    spec = get_zoo().model(name)
    corpus = load_corpus(str(small_names))
    recipe = spec.recipe.__class__(steps=200, batch_size=128, lr=1e-2, eval_every=200)
    torch.manual_seed(0)
    untrained = spec.create(spec.config(), corpus.vocab.size)
    val = split_items(corpus.items, 42)["val"]
    vx, vy = sequences(val, corpus.vocab, corpus.max_length)
    if getattr(untrained, "input_mode", "") == "window":
        vx, vy = windows(vx, vy, untrained.context_length)
    before = split_loss(untrained, vx, vy)
    result = train(spec, corpus, spec.config(), recipe, 42, tmp_path / "run", log=lambda m: None)
    assert result.best_val_loss < before - 0.3


def test_same_seed_same_run_and_checkpoint_round_trip(tmp_path: Path, small_names: Path) -> None:
    from mmzoo.corpus import load_corpus
    from mmzoo.engine.opened_run import open_run

    spec = get_zoo().model("mlp-bn")
    corpus = load_corpus(str(small_names))
    recipe = spec.recipe.__class__(steps=60, batch_size=64, eval_every=30)
    a = train(spec, corpus, spec.config(), recipe, 7, tmp_path / "a", log=lambda m: None)
    b = train(spec, corpus, spec.config(), recipe, 7, tmp_path / "b", log=lambda m: None)
    assert a.best_val_loss == b.best_val_loss
    ta, meta = checkpoint.load(tmp_path / "a")
    tb, _ = checkpoint.load(tmp_path / "b")
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert meta.model == "mlp-bn" and meta.split_seed == 7 and meta.data.sha256 == corpus.sha256
    assert meta.metrics["val_loss"] == pytest.approx(a.best_val_loss)
    run = open_run(tmp_path / "a")
    assert not run.model.training
    vocab = Vocab(meta.vocab)
    val = split_items(corpus.items, 7)["val"]
    vx, vy = windows(*sequences(val, vocab, meta.max_length), 3)
    assert split_loss(run.model, vx, vy) == pytest.approx(a.best_val_loss, abs=1e-6)
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [30, 60]


def test_ctrl_c_keeps_the_best_checkpoint_and_resume_finishes_the_run(tmp_path: Path, small_names: Path) -> None:
    from mmzoo.corpus import load_corpus

    spec = get_zoo().model("mlp")
    corpus = load_corpus(str(small_names))
    recipe = spec.recipe.__class__(steps=40, batch_size=64, eval_every=20)
    full = train(spec, corpus, spec.config(), recipe, 3, tmp_path / "full", log=lambda m: None)

    def ctrl_c_at_25(step: int, total: int, loss: float, best: float) -> None:
        if step == 25:
            raise KeyboardInterrupt

    cut = train(spec, corpus, spec.config(), recipe, 3, tmp_path / "cut", log=lambda m: None, progress=ctrl_c_at_25)
    assert cut.interrupted and cut.step == 25
    assert (tmp_path / "cut" / checkpoint.WEIGHTS).exists()
    resumed = train(spec, corpus, spec.config(), recipe, 3, tmp_path / "cut", resume=True, log=lambda m: None)
    assert resumed.step == 40 and not resumed.interrupted
    assert resumed.best_val_loss == pytest.approx(full.best_val_loss, abs=1e-5)


def test_ctrl_c_right_after_an_evaluation_writes_no_second_line_for_that_step(
    tmp_path: Path, small_names: Path
) -> None:
    """Ctrl-C landing between a step's evaluation and the next step used to log that step twice."""
    from mmzoo.corpus import load_corpus

    spec = get_zoo().model("bigram-nn")
    corpus = load_corpus(str(small_names))
    recipe = spec.recipe.__class__(steps=40, batch_size=64, eval_every=20)

    def ctrl_c_while_logging_step_20(message: str) -> None:
        if message.startswith("step 20/"):
            raise KeyboardInterrupt

    cut = train(spec, corpus, spec.config(), recipe, 3, tmp_path / "cut", log=ctrl_c_while_logging_step_20)
    assert cut.interrupted and cut.step == 20
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [20]
    resumed = train(spec, corpus, spec.config(), recipe, 3, tmp_path / "cut", resume=True, log=lambda m: None)
    assert resumed.step == 40
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [20, 40]


def test_pickle_files_are_refused(tmp_path: Path) -> None:
    import pickle

    bad = tmp_path / "model.pt"
    bad.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(MmzooError, match="never unpickles"):
        checkpoint.load(bad)
    sneaky = tmp_path / "weights"
    sneaky.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(MmzooError, match="never unpickles"):
        checkpoint.checkpoint_dir(sneaky)


def test_damaged_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / checkpoint.META).write_text("{not json")
    with pytest.raises(MmzooError, match="damaged"):
        checkpoint.load(tmp_path)


def test_batch_loss_masks_padding() -> None:
    items = ["abc", "a"]
    vocab = Vocab.from_items(items)
    spec = get_zoo().model("bigram-nn")
    model = spec.create(spec.config(), vocab.size)
    x, y = sequences(items, vocab, 6)
    wx, wy = windows(x, y, 1)
    model.input_mode = "sequence"  # force the padded path on the same weights
    seq = batch_loss(model, x, y).item()
    model.input_mode = "window"
    assert seq == pytest.approx(batch_loss(model, wx, wy).item(), rel=1e-6)


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(MmzooError, match="did you mean mlp-bn"):
        get_zoo().model("mlp_bn")

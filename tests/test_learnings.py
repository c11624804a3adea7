"""docs/learnings.md, row by row: every learning of makemore parts 1 and 3 is
checked by running the command the row quotes (the installed `mmzoo`, in a
subprocess) and asserting the claim with a margin that a false claim would miss.
Rows 10-12 and 15 were measured in docs/diagnose.md; their committed
compare-*.json are checked here and their init-time numbers re-measured."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import BUILTIN_NAMES, REPO, run_mmzoo

from mmzoo.corpus import split_items

DOC = REPO / "docs" / "learnings.md"
DIAGNOSE_DOCS = REPO / "docs" / "diagnose"
PNG = b"\x89PNG\r\n\x1a\n"
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
LOG_SMALLEST_FLOAT32 = math.log(1.4e-45)  # the smallest subnormal float32: below it, a product is 0


def mmzoo_json(*args: str, cwd: Path | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run_mmzoo(*args, "--json", cwd=cwd, env=ONE_THREAD).stdout)
    return doc


def committed(name: str) -> dict[str, dict[str, Any]]:
    """docs/diagnose/compare-NAME.json's variants by label."""
    doc = json.loads((DIAGNOSE_DOCS / f"compare-{name}.json").read_text())
    return {v["label"]: v for v in doc["variants"]}


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG and path.stat().st_size > 2_000


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Rows 1-5: `mmzoo diagnose bigram --set smoothing=1` on the built-in names."""
    out = tmp_path_factory.mktemp("bigram") / "d"
    return {**mmzoo_json("diagnose", "bigram", "--set", "smoothing=1", "--out", str(out)), "dir": out}


def train_words() -> list[str]:
    return split_items(BUILTIN_NAMES.read_text().split(), 42)["train"]


# -- lecture 1 ---------------------------------------------------------------


def test_row_1_pairs_come_from_zip_with_the_boundary_at_both_ends(counted: dict[str, Any]) -> None:
    p = counted["pairs"]
    word = p["item"]
    assert word == train_words()[0]
    assert [a + b for a, b in p["pairs"]] == [a + b for a, b in zip("." + word, word + ".", strict=True)]
    assert p["zip_equals_training_windows"] is True


def test_row_2_the_count_matrix_is_v_by_v_and_drawn(counted: dict[str, Any]) -> None:
    words = train_words()
    mine = Counter(a + b for w in words for a, b in zip("." + w, w + ".", strict=True))
    c = counted["counts"]
    assert c["shape"] == [27, 27]
    assert c["total"] == sum(len(w) + 1 for w in words)  # one pair per character, plus the closing '.'
    assert c["zero_cells"] == 27 * 27 - len(mine)
    assert [[pair, n] for pair, n in mine.most_common(5)] == c["top"][:5]
    assert is_png(counted["dir"] / "counts.png")


def test_row_2_any_corpus_gets_its_own_grid(tmp_path: Path) -> None:
    data = tmp_path / "tiny.txt"
    data.write_text("abc\nbca\ncab\nzz\n" * 10)
    doc = mmzoo_json("diagnose", "bigram", "--data", str(data), "--out", str(tmp_path / "d"))
    assert doc["vocab_size"] == 5  # '.', a, b, c, z
    assert doc["counts"]["total"] == sum(len(w) + 1 for w in split_items(data.read_text().split(), 42)["train"])
    assert is_png(tmp_path / "d" / "counts.png")


def test_row_3_every_row_of_p_sums_to_one(counted: dict[str, Any]) -> None:
    assert counted["row_sums"]["max_abs_error"] < 1e-6  # float32: a few ulps of 1


def test_row_4_the_likelihood_underflows_and_its_log_is_the_loss_mmzoo_reports(
    counted: dict[str, Any], tmp_path: Path
) -> None:
    lk = counted["likelihood"]
    assert lk["items"] == 300
    assert lk["product_float32"] == 0.0
    assert lk["zero_after_characters"] < lk["characters"] / 10  # zero long before the end
    assert lk["log_likelihood"] < 10 * LOG_SMALLEST_FLOAT32  # far below anything float32 holds
    assert lk["nll"] == pytest.approx(-lk["log_likelihood"] / lk["characters"], rel=1e-12)
    run_mmzoo("train", "bigram", "--set", "smoothing=1", "--out", str(tmp_path / "run"), env=ONE_THREAD)
    evaluated = mmzoo_json("eval", str(tmp_path / "run"))
    by_hand = counted["nll"]["val_by_hand"]
    assert evaluated["losses"]["val"]["loss"] == pytest.approx(by_hand, abs=1e-5)
    assert counted["nll"]["val_mmzoo"] == pytest.approx(by_hand, abs=1e-5)


def test_row_5_unsmoothed_counts_are_the_limit_on_train(tmp_path: Path) -> None:
    doc = mmzoo_json("diagnose", "bigram", "--compare", "smoothing=0,0.1,1,10,100", "--out", str(tmp_path / "d"))
    train = [v["train_loss"] for v in doc["variants"]]
    assert train[0] == pytest.approx(doc["limit"]["train_unsmoothed"], abs=1e-12)
    assert all(a < b for a, b in zip(train, train[1:], strict=False))  # every fake count costs on train
    assert doc["variants"][0]["val_loss"] is None  # k = 0: a val pair never seen in train, infinite loss
    assert doc["limit"]["val_best"] <= min(v["val_loss"] for v in doc["variants"][1:]) + 1e-12
    assert is_png(tmp_path / "d" / "smoothing.png")


@pytest.fixture(scope="module")
def neural(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Rows 6-7: `mmzoo diagnose bigram-nn --set l2=0` (its recipe, 1,000 steps)."""
    out = tmp_path_factory.mktemp("nn") / "d"
    return mmzoo_json("diagnose", "bigram-nn", "--set", "l2=0", "--out", str(out))["bigram"]


def test_row_6_the_neural_bigram_converges_to_the_counts(neural: dict[str, Any], counted: dict[str, Any]) -> None:
    assert neural["limit_train"] == pytest.approx(counted["limit"]["train_unsmoothed"], abs=1e-9)
    excess = neural["train_loss"] - neural["limit_train"]
    assert -1e-6 < excess < 0.003  # never below the limit (row 5), and within 0.003 of it
    assert neural["max_prob_diff"] < 0.03  # every probability of every seen row
    assert neural["max_prob_diff_frequent"] < 0.02


def test_row_7_one_hot_times_w_is_exactly_the_row(neural: dict[str, Any]) -> None:
    assert neural["one_hot"]["rows"] > 10_000
    assert neural["one_hot"]["equal"] is True
    assert neural["one_hot"]["max_abs_diff"] == 0.0


@pytest.mark.slow  # five 1,000-step neural bigrams
def test_row_8_l2_smooths_like_fake_counts(tmp_path: Path) -> None:
    doc = mmzoo_json("diagnose", "bigram-nn", "--compare", "l2=0,0.01,0.1,1", "--out", str(tmp_path / "d"))
    rows = [v["bigram"] for v in doc["variants"]]
    ks = [r["matched_smoothing"]["k"] for r in rows]
    assert all(3 * a < b for a, b in zip(ks, ks[1:], strict=False))  # each 10x of L2: several times the fake counts
    for r in rows:  # the count model at the matched k predicts val like the network
        assert r["val_loss"] == pytest.approx(r["matched_smoothing"]["val_loss_counts"], abs=0.005)
    assert is_png(tmp_path / "d" / "l2-smoothing.png")


# -- lecture 3 ---------------------------------------------------------------


def first_step(tmp_path: Path, *args: str) -> dict[str, Any]:
    """stats.json of the deep mlp-bn after one step: the network at init."""
    return mmzoo_json("diagnose", "mlp-bn", "--preset", "deep", "--steps", "1", *args, "--out", str(tmp_path / "d"))


def layer(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(la for la in doc["layers"] if la["name"] == name)


def tanh_stds(doc: dict[str, Any]) -> list[float]:
    return [la["init"]["act_std"] for la in doc["layers"] if la["tanh"]]


def test_row_9_one_over_sqrt_fan_in_keeps_unit_gaussians(tmp_path: Path) -> None:
    naive = first_step(tmp_path, "--no-bn", "--init", "naive")
    scaled = first_step(tmp_path, "--no-bn", "--init", "kaiming", "--gain", "1")
    for doc in (naive, scaled):
        assert layer(doc, "wte")["init"]["act_std"] == pytest.approx(1.0, abs=0.05)  # unit-Gaussian input
    fan_in = 30  # 3 characters x 10 embedding dimensions
    assert layer(naive, "blocks.0")["init"]["act_std"] == pytest.approx(math.sqrt(fan_in + 1), rel=0.1)  # + bias
    assert layer(scaled, "blocks.0")["init"]["act_std"] == pytest.approx(1.0, abs=0.05)


def test_row_10_tanh_shrinks_with_gain_1_and_holds_with_5_3(tmp_path: Path) -> None:
    gain1 = tanh_stds(first_step(tmp_path, "--set", "norm=none", "--gain", "1"))
    gain53 = tanh_stds(first_step(tmp_path, "--set", "norm=none"))
    assert all(b < 0.95 * a for a, b in zip(gain1, gain1[1:], strict=False))  # shrinks at every layer
    assert gain1[-1] < 0.6 * gain1[0]
    assert gain53[-1] > 0.8 * gain53[0]  # holds
    sweep = committed("gain-nobn")  # docs/diagnose.md's sweep: the gradients across layers
    assert sweep["init_gain=0.5"]["grad_std_spread"]["init"] > 10  # vanishing
    spreads = {label: v["grad_std_spread"]["init"] for label, v in sweep.items()}
    assert min(spreads, key=lambda label: spreads[label]) == "init_gain=1.6667"
    assert spreads["init_gain=3"] > 2 * spreads["init_gain=1.6667"]


def test_row_11_a_small_last_layer_starts_at_the_uniform_loss(tmp_path: Path) -> None:
    doc = first_step(tmp_path, "--compare", "last_layer_scale=0.1,10")
    loss = {v["label"]: v["initial_loss"] for v in doc["variants"]}
    assert loss["last_layer_scale=0.1"] == pytest.approx(math.log(27), abs=0.05)
    assert loss["last_layer_scale=10"] > math.log(27) + 2
    assert committed("last-scale")["last_layer_scale=10"]["initial_loss"] == pytest.approx(
        loss["last_layer_scale=10"], abs=1e-4
    )  # the committed sweep and this rerun start from the same network


def test_row_12_batchnorm_is_far_less_sensitive_to_the_gain_committed() -> None:
    def span(name: str) -> float:
        losses = [v["val_loss"] for v in committed(name).values()]
        return max(losses) - min(losses)

    assert span("gain-nobn") > 3 * span("gain-bn")
    spread = {round(v["grad_std_spread"]["init"], 3) for v in committed("gain-bn").values()}
    assert len(spread) == 1  # at init BatchNorm divides the gain out: every gain is the same network


@pytest.mark.slow  # eight 300-step runs of the deep mlp-bn
def test_row_12_gain_and_lr_sweeps_rerun(tmp_path: Path) -> None:
    def val(*args: str) -> dict[str, float]:
        doc = mmzoo_json("diagnose", "mlp-bn", "--preset", "deep", "--steps", "300", *args, "--out", str(tmp_path))
        return {v["label"]: v["val_loss"] for v in doc["variants"]}

    gains = "init_gain=0.5,1,1.6667,3"
    plain, bn = val("--set", "norm=none", "--compare", gains), val("--compare", gains)
    assert max(plain.values()) - min(plain.values()) > 3 * (max(bn.values()) - min(bn.values()))
    lrs = "lr=0.005,0.1"
    plain, bn = val("--set", "norm=none", "--compare", lrs), val("--compare", lrs)
    assert plain["lr=0.1"] - plain["lr=0.005"] > 2 * (bn["lr=0.1"] - bn["lr=0.005"])  # BatchNorm takes a big lr


def test_row_13_batchnorm_couples_the_batch_in_training_mode_only(tmp_path: Path) -> None:
    doc = mmzoo_json("diagnose", "mlp-bn", "--steps", "1", "--compare", "norm=batch,layer,group",
                     "--out", str(tmp_path / "d"))  # fmt: skip
    c = {v["label"]: v["coupling"] for v in doc["variants"]}
    assert c["norm=batch"]["train_mode"] > 1e-2  # the other 31 examples moved example 0's logits
    assert c["norm=batch"]["eval_mode"] < 1e-6  # the running statistics: no coupling
    for norm in ("norm=layer", "norm=group"):
        assert c[norm]["train_mode"] < 1e-6
        assert c[norm]["eval_mode"] < 1e-6
    assert is_png(tmp_path / "d" / "coupling.png")


@pytest.mark.slow  # a 300-step mlp-bn run (shared) and its export
def test_row_14_export_keeps_the_better_of_running_and_recalibrated(trained_mlp_bn: Path, tmp_path: Path) -> None:
    doc = mmzoo_json("export", str(trained_mlp_bn), "--out", str(tmp_path / "m.onnx"))
    running, recalibrated = doc["val_loss_uncalibrated"], doc["val_loss_calibrated"]
    assert running != recalibrated  # two different sets of statistics were measured
    assert doc["calibrated"] == (recalibrated < running)
    assert doc["val_loss"] == pytest.approx(min(running, recalibrated), abs=1e-6)
    assert doc["bn_folded"] >= 1


def test_row_15_layernorm_and_groupnorm_committed() -> None:
    norms = committed("norms")
    val = [norms[f"norm={n}"]["val_loss"] for n in ("batch", "layer", "group")]
    assert max(val) - min(val) < 0.01  # within 0.002 in the docs; 0.01 is a clear margin


@pytest.mark.slow  # three short trainings and their exports
def test_row_15_layernorm_and_groupnorm_stay_in_the_exported_graph(small_names: Path, tmp_path: Path) -> None:
    import onnx

    ops = {}
    for norm in ("batch", "layer", "group"):
        run = tmp_path / norm
        run_mmzoo("train", "mlp-bn", "--data", str(small_names), "--steps", "30", "--set", f"norm={norm}",
                  "--out", str(run), env=ONE_THREAD)  # fmt: skip
        run_mmzoo("export", str(run), "--out", str(tmp_path / f"{norm}.onnx"), env=ONE_THREAD)
        ops[norm] = {n.op_type for n in onnx.load(str(tmp_path / f"{norm}.onnx")).graph.node}
    assert "BatchNormalization" not in ops["batch"]  # folded into the Linears
    assert "LayerNormalization" in ops["layer"]
    assert "InstanceNormalization" in ops["group"]


# -- the page ----------------------------------------------------------------


def test_the_page_has_15_rows_each_with_a_command_and_its_figures_exist() -> None:
    text = DOC.read_text()
    rows = re.findall(r"^\| (\d+) \|(.*)$", text, flags=re.MULTILINE)
    assert [int(n) for n, _ in rows] == list(range(1, 16))
    for n, row in rows:
        assert "`mmzoo " in row or "(#" in row, f"row {n} has no command"
    for target in re.findall(r"\]\(((?:learnings|diagnose)/[^)]+\.png)\)", text):
        assert is_png(DOC.parent / target), target


def test_bad_bigram_options_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from mmzoo.cli import app as cli

    for args, message in (
        (["--compare", "l2=0,1"], "--compare on bigram takes smoothing=K1,K2,..."),
        (["--compare", "smoothing=1,x"], "--compare smoothing: 'x' is not a number"),
        (["--compare", "smoothing=1,-2"], "--compare smoothing: k must be 0 or more, got -2"),
        (["--gain", "2"], "bigram is fitted by counting, not by gradient descent: --gain does not apply"),
    ):
        assert cli.main(["diagnose", "bigram", *args, "--out", str(tmp_path / "d")]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not (tmp_path / "d").exists()  # nothing written before the values were checked

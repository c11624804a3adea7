"""The installed `mmzoo` command, run for real in a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import mmzoo_bin, run_mmzoo, sigint_default


def _table_rows(out: str) -> list[list[str]]:
    """The cells of each row of a rich table or panel, its box characters stripped."""
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if any(cells) and not set(line.strip()) <= set("━╇┃─╭╮╰╯┏┓┗┛┳┻╋┡┩ "):
            rows.append(cells)
    return rows


def test_help_lists_the_commands() -> None:
    """Each command heads a row of the Commands panel, in this order."""
    out = run_mmzoo("--help").stdout
    panel = out.split("Commands")[1]
    named = [line.strip("│ ").split()[0] for line in panel.splitlines() if line.startswith("│ ") and line[2] != " "]
    assert named[:7] == ["list", "plugins", "train", "sample", "eval", "export", "info"]


def test_list_json_has_the_builtin_models() -> None:
    rows = json.loads(run_mmzoo("list", "--json").stdout)
    by_name = {r["name"]: r for r in rows}
    for name in ("bigram", "bigram-nn", "mlp", "mlp-bn"):
        assert by_name[name]["plugin"] == "mmzoo"
        assert by_name[name]["params"] > 0
    assert by_name["bigram"]["params"] == 27 * 27
    assert [r["name"] for r in json.loads(run_mmzoo("list", "mlp*", "--json").stdout)] == ["mlp", "mlp-bn"]


def test_list_table_shows_params_and_plugin() -> None:
    """The row of each model holds its own family, params and plugin, as --json says."""
    rows = {r[0]: r for r in _table_rows(run_mmzoo("list").stdout) if r[0]}
    for doc in json.loads(run_mmzoo("list", "--json").stdout):
        name, family, params, plugin = rows[doc["name"]][:4]
        assert (family, params) == (
            doc["family"],
            f"{doc['params']:,}" if doc["params"] >= 1000 else str(doc["params"]),
        )
        assert plugin == f"{doc['plugin']} {doc['plugin_version']}"
    assert rows["bigram"][2] == "729" and rows["mlp-bn"][3].startswith("mmzoo ")


def test_list_one_model_by_name_shows_what_can_be_set() -> None:
    out = run_mmzoo("list", "mlp-bn").stdout
    (row,) = json.loads(run_mmzoo("list", "mlp-bn", "--json").stdout)
    assert f"n_hidden={row['config']['n_hidden']}" in out.split("config (--set key=value): ")[1]
    assert "preset deep (--preset deep): " in out and f"n_layers={row['presets']['deep']['n_layers']}" in out
    assert f"recipe: steps={row['recipe']['steps']} " in out
    assert "config (--set" not in run_mmzoo("list", "mlp*").stdout


def test_plugins_json() -> None:
    doc = json.loads(run_mmzoo("plugins", "--json").stdout)
    builtin = [p for p in doc["plugins"] if p["distribution"] == "mmzoo"]
    assert {"bigram", "mlp-bn"} <= {m for p in builtin for m in p["models"]}
    assert all(p["status"] == "ok" for p in builtin)


@pytest.mark.slow
def test_train_sample_eval_through_the_cli(trained_mlp_bn: Path) -> None:
    meta = json.loads((trained_mlp_bn / "model.json").read_text())
    assert meta["model"] == "mlp-bn" and meta["metrics"]["step"] == 300
    sample = run_mmzoo("sample", str(trained_mlp_bn), "-n", "30", "--seed", "5")
    names = sample.stdout.split()
    assert len(names) == 30
    assert "in the training data" in sample.stderr and "new" in sample.stderr
    again = run_mmzoo("sample", str(trained_mlp_bn), "-n", "30", "--seed", "5", "--batch-size", "7")
    assert again.stdout == sample.stdout  # same seed, same samples, whatever the batch size
    other = run_mmzoo("sample", str(trained_mlp_bn), "-n", "30", "--seed", "6")
    assert other.stdout != sample.stdout
    doc = json.loads(run_mmzoo("sample", str(trained_mlp_bn), "-n", "5", "--prefix", "ma", "--json").stdout)
    assert len(doc["samples"]) == 5 and all(s.startswith("ma") for s in doc["samples"])
    assert set(doc["novelty"]) == {"train", "val_test", "new"}
    losses = json.loads(run_mmzoo("eval", str(trained_mlp_bn), "--json").stdout)["losses"]
    assert set(losses) == {"train", "val", "test"}
    assert losses["val"]["loss"] == meta["metrics"]["val_loss"]


@pytest.mark.slow
def test_model_name_means_its_newest_run(tmp_path: Path, small_names: Path) -> None:
    run_mmzoo("train", "bigram", "--data", str(small_names), cwd=tmp_path)
    runs = list((tmp_path / "runs" / "bigram").iterdir())
    assert len(runs) == 1 and (runs[0] / "model.safetensors").exists()
    doc = json.loads(run_mmzoo("sample", "bigram", "-n", "3", "--json", cwd=tmp_path).stdout)
    assert doc["source"].endswith(runs[0].name)
    missing = run_mmzoo("export", "mlp", cwd=tmp_path, check=False)
    assert missing.returncode == 1
    assert "train it first with `mmzoo train mlp`" in missing.stderr


def test_eval_on_a_file_with_unseen_characters_names_them(trained_mlp_bn: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("anna\nbjörk\nzoë\n")
    proc = run_mmzoo("eval", str(trained_mlp_bn), "--data", str(other), check=False)
    assert proc.returncode == 1
    assert "'ö'" in proc.stderr and "'ë'" in proc.stderr
    assert "Traceback" not in proc.stderr
    fine = tmp_path / "fine.txt"
    fine.write_text("anna\nbob\n")
    doc = json.loads(run_mmzoo("eval", str(trained_mlp_bn), "--data", str(fine), "--json").stdout)
    assert doc["losses"]["fine.txt"]["items"] == 2


@pytest.mark.slow
def test_bad_input_is_one_line_and_nonzero(tmp_path: Path) -> None:
    cases = [
        ("train", "mlp_bn"),
        ("train", "mlp-bn", "--data", str(tmp_path / "missing.txt")),
        ("train", "mlp-bn", "--set", "n_hiden=3"),
        ("sample", str(tmp_path / "nope")),
        ("train", "mlp-bn", "--steps", "-1"),
        ("train", "mlp-bn", "--threads", "0"),
        ("train", "mlp-bn", "--ema", "1"),
    ]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    cases.append(("train", "mlp", "--data", str(empty)))
    single = tmp_path / "single.txt"
    single.write_text("anna\n")
    cases.append(("train", "mlp", "--data", str(single)))
    for args in cases:
        proc = run_mmzoo(*args, check=False, cwd=tmp_path)
        assert proc.returncode != 0, args
        assert "Traceback" not in proc.stderr, args
        errors = [line for line in proc.stderr.splitlines() if line.startswith("mmzoo: error")]
        assert len(errors) == 1, (args, proc.stderr)
    assert not list(tmp_path.glob("runs/*/*")), "a failed train left a run folder behind"
    assert "did you mean mlp-bn" in run_mmzoo("train", "mlp_bn", check=False).stderr
    assert "did you mean n_hidden" in run_mmzoo("train", "mlp-bn", "--set", "n_hiden=3", check=False).stderr


@pytest.mark.slow
def test_train_json_is_one_document(small_names: Path, tmp_path: Path) -> None:
    proc = run_mmzoo(
        "train", "bigram-nn", "--data", str(small_names), "--steps", "20", "--out", str(tmp_path / "r"), "--json",
        "--threads", "1",
    )  # fmt: skip
    doc = json.loads(proc.stdout)
    assert doc["step"] == 20 and doc["best_val_loss"] > 0
    again = run_mmzoo("train", "bigram-nn", "--data", str(small_names), "--out", str(tmp_path / "r"), check=False)
    assert again.returncode == 1 and "--resume" in again.stderr


@pytest.mark.slow
def test_ctrl_c_saves_the_best_checkpoint_and_exits_130(small_names: Path, tmp_path: Path) -> None:
    """A real SIGINT to the installed command, once the loop is running."""
    run = tmp_path / "run"
    proc = subprocess.Popen(
        # batch 8: the first eval (step 2000, when the loop is surely running) comes in about a second
        [mmzoo_bin(), "train", "mlp-bn", "--data", str(small_names), "--steps", "1000000", "--batch-size", "8"]
        + ["--patience", "0"]  # runs until Ctrl-C
        + ["--threads", "1", "--out", str(run)],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("step "):  # the first eval is done and saved
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    assert "interrupted; best checkpoint kept" in rest and "Traceback" not in rest
    meta = json.loads((run / "model.json").read_text())
    assert 0 < meta["metrics"]["step"] < 1_000_000

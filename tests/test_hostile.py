"""Issue 22's cases that need more than one command line: hostile files and run folders,
through the installed `mmzoo` command. Nothing the user did not name is read, written
or waited on; every failure is one line. The one-command cases are rows of
docs/errors.md (tests/errorcases.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import BUILTIN_NAMES, run_mmzoo

from mmzoo.cli.output import escape_controls
from mmzoo.runtime.sampling import SampleOptions, generate, uniform_table


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny.txt and a short bigram-nn run trained from it (RUN)."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "tiny.txt").write_text("\n".join(BUILTIN_NAMES.read_text().split()[:300]) + "\n")
    run_mmzoo("train", "bigram-nn", "--data", "tiny.txt", "--steps", "30", "--out", "RUN", "--json", cwd=root)
    return root


def _one_error(proc: object, says: str) -> None:
    stderr = proc.stderr  # type: ignore[attr-defined]
    assert proc.returncode in (1, 2), stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith("mmzoo: error:") and says in stderr, stderr


def _copy_run(ws: Path, name: str, change: dict[str, object]) -> Path:
    run = ws / name
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(ws / "RUN", run)
    meta = json.loads((run / "model.json").read_text())
    meta["data"].update(change)
    (run / "model.json").write_text(json.dumps(meta))
    return run


def test_a_run_stores_its_data_path_absolute_and_exports_from_elsewhere(ws: Path, tmp_path: Path) -> None:
    """It stored `tiny.txt` as typed: `mmzoo export RUN` from another folder found no data."""
    meta = json.loads((ws / "RUN" / "model.json").read_text())
    assert meta["data"]["source"] == str((ws / "tiny.txt").resolve())
    run_mmzoo("export", str(ws / "RUN"), "--out", str(tmp_path / "x.onnx"), "--json", cwd=tmp_path)
    assert (tmp_path / "x.onnx").is_file()


def test_a_fifo_is_refused_not_waited_on(ws: Path) -> None:
    """A FIFO with no writer used to block train, eval and info forever; the 60 s limit
    only turns a hang into a failure, the checks are the exit code and the line."""
    fifo = ws / "pipe.txt"
    if not fifo.exists():
        os.mkfifo(fifo)
    onnx_fifo = ws / "pipe.onnx"
    if not onnx_fifo.exists():
        os.mkfifo(onnx_fifo)
    for args in (
        ("train", "bigram-nn", "--data", "pipe.txt", "--out", "F"),
        ("eval", "RUN", "--data", "pipe.txt"),
        ("info", "pipe.onnx"),
        ("sample", "pipe.onnx"),
    ):
        _one_error(run_mmzoo(*args, cwd=ws, check=False, timeout=60), "not a regular file")
    assert not (ws / "F").exists() and not (ws / ".F.partial").exists()


def test_a_run_folder_naming_a_device_or_fifo_is_data_not_instructions(ws: Path) -> None:
    """model.json's data.source is never read unless it is a regular file: eval and export
    say so in one line; sample, for which the data is only the novelty line, goes on."""
    fifo = ws / "run-pipe"
    if not fifo.exists():
        os.mkfifo(fifo)
    for name, source in (("run-zero", "/dev/zero"), ("run-fifo", str(fifo))):
        run = _copy_run(ws, name, {"source": source})
        _one_error(run_mmzoo("eval", str(run), cwd=ws, check=False, timeout=60), "not a regular file")
        _one_error(run_mmzoo("export", str(run), "--out", f"{name}.onnx", cwd=ws, check=False, timeout=60), "regular")
        proc = run_mmzoo("sample", str(run), "-n", "3", cwd=ws, timeout=60)
        assert len(proc.stdout.splitlines()) == 3
        assert "in the training data" not in proc.stderr  # no novelty line: the data was not read
        assert not (ws / f"{name}.onnx").exists()


def test_json_errors_are_a_json_document_on_stdout(ws: Path) -> None:
    for args in (("sample", "missing.onnx", "--json"), ("eval", "no-such-run", "--json")):
        proc = run_mmzoo(*args, cwd=ws, check=False)
        _one_error(proc, "")
        doc = json.loads(proc.stdout)
        assert set(doc) == {"error"} and doc["error"] in proc.stderr
    proc = run_mmzoo("sample", "missing.onnx", cwd=ws, check=False)
    assert proc.stdout == ""  # without --json, stdout stays for samples only
    usage = run_mmzoo("train", "mlp", "--no-such-option", "--json", cwd=ws, check=False)
    assert usage.returncode == 2 and "error" in json.loads(usage.stdout), usage.stderr


def test_stream_min_bytes_that_is_not_a_number(ws: Path) -> None:
    proc = run_mmzoo(
        "train", "bigram-nn", "--data", "tiny.txt", "--out", "S", cwd=ws, check=False,
        env={**os.environ, "MMZOO_STREAM_MIN_BYTES": "abc"},
    )  # fmt: skip
    _one_error(proc, "MMZOO_STREAM_MIN_BYTES must be")


def test_a_corpus_cache_of_another_format_or_edited_is_rebuilt(ws: Path, tmp_path: Path) -> None:
    """The cache folder is named by the text file's sha256 only: a meta.json that is not
    a dict (a traceback before) or an edited vocabulary is rebuilt, not trusted."""
    env = {**os.environ, "MMZOO_STREAM_MIN_BYTES": "0", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = run_mmzoo("train", "bigram-nn", "--data", "tiny.txt", "--steps", "5", "--out", str(tmp_path / "A"),
                      "--json", cwd=ws, env=env)  # fmt: skip
    (folder,) = (tmp_path / "cache" / "mmzoo" / "corpora").iterdir()
    for damage in ("[1, 2]", "edit", "split"):
        meta_path = folder / "meta.json"
        if damage == "split":  # indices past the corpus: an IndexError before
            np.save(folder / "split-42.npy", np.full(300, 10**6, dtype=np.uint32))
            np.save(folder / "split-42-windows.npy", np.zeros(3))
        elif damage == "edit":
            meta = json.loads(meta_path.read_text())
            meta["chars"][0] = "!"  # still sorted and distinct: only arrays_sha256 notices
            meta_path.write_text(json.dumps(meta))
        else:
            meta_path.write_text(damage)
        out = tmp_path / f"B-{damage[:2]}"
        again = run_mmzoo("train", "bigram-nn", "--data", "tiny.txt", "--steps", "5", "--out", str(out), "--json",
                          cwd=ws, env=env)  # fmt: skip
        assert json.loads(again.stdout)["best_val_loss"] == json.loads(first.stdout)["best_val_loss"]
        assert json.loads(meta_path.read_text())["chars"][0] == "a"  # rebuilt from the file


def test_diagnose_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data = tmp_path / "tiny.txt"
    data.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:300]) + "\n")
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"the user's own file")
    out = tmp_path / "d"
    out.mkdir()
    (out / "activations.png").symlink_to(victim)
    (out / "stats.json").symlink_to(victim)
    run_mmzoo("diagnose", "mlp-bn", "--data", str(data), "--steps", "5", "--out", str(out), "--json", cwd=tmp_path)
    assert victim.read_bytes() == b"the user's own file"
    assert not (out / "activations.png").is_symlink() and (out / "activations.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "stats.json").is_symlink() and json.loads((out / "stats.json").read_text())
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp file left


def test_an_export_lock_symlink_is_refused(ws: Path) -> None:
    victim = ws / "victim.onnx.txt"
    victim.write_text("keep me\n")
    (ws / ".planted.onnx.lock").symlink_to(victim.name)
    _one_error(run_mmzoo("export", "RUN", "--out", "planted.onnx", cwd=ws, check=False), "symbolic link")
    assert victim.read_text() == "keep me\n" and not (ws / "planted.onnx").exists()


def test_bidi_overrides_and_escapes_never_reach_the_terminal_raw() -> None:
    assert escape_controls("abc\u202egpj.exe") == "abc\\u202egpj.exe"
    assert escape_controls("\u2066x\u2069") == "\\u2066x\\u2069"
    assert escape_controls("\x1b[31mred") == "\\x1b[31mred"
    assert escape_controls("zoë\u200dx") == "zoë\u200dx"  # a zero-width joiner stays: part of some names


class _NeverEnds:
    """A stepper whose next token is always 1: every item runs to max_length."""

    def start(self, batch: int) -> None:
        self.batch = batch

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        logits = np.full((self.batch, 3), -50.0, dtype=np.float32)
        logits[:, 1] = 50.0
        return logits


def test_sampling_runs_to_max_length_with_uniforms_drawn_in_blocks() -> None:
    """Items are preallocated and the uniforms drawn a block of steps at a time: the
    blocks are exactly the columns of the whole table, and an item that never draws the
    boundary stops at max_length, whatever the block size."""
    ids = np.arange(5, 9)
    whole = uniform_table(7, ids, 700)
    parts = [uniform_table(7, ids, n, start) for start, n in ((0, 256), (256, 256), (512, 188))]
    assert np.array_equal(whole, np.concatenate(parts, axis=1))
    items = generate(_NeverEnds(), [".", "a", "b"], 3000, SampleOptions(n=3, seed=1, batch_size=2))
    assert items == ["a" * 3000] * 3


def test_sigterm_before_the_first_checkpoint_leaves_nothing(ws: Path) -> None:
    """`kill PID` used to leave .OUT.partial and .OUT.lock, which nothing removes under a
    default (timestamped) --out. Now SIGTERM is Ctrl-C: staged folder and lock go. The
    batch is large so that the first checkpoint (step 3,000) is far off when it comes."""
    import signal
    import subprocess
    import time

    from conftest import mmzoo_bin, sigint_default

    args = ["train", "mlp", "--data", "tiny.txt", "--steps", "100000", "--batch-size", "100000", "--out", "T"]
    proc = subprocess.Popen([mmzoo_bin(), *args], cwd=ws, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    deadline = time.monotonic() + 120
    while not (ws / ".T.partial").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (ws / ".T.partial").exists(), "the training never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert not (ws / "T").exists() and not (ws / ".T.partial").exists() and not (ws / ".T.lock").exists()


def test_a_kill_9_before_the_first_checkpoint_is_cleaned_up_by_the_next_training(ws: Path, tmp_path: Path) -> None:
    """kill -9 runs no cleanup: .STAMP.partial stays in runs/mlp/, under a timestamped name
    no later --out repeats. The next training there removes it (its lock is free); a
    staging folder whose training is alive stays."""
    import signal
    import subprocess
    import time

    from conftest import mmzoo_bin

    shutil.copy(ws / "tiny.txt", tmp_path / "tiny.txt")
    args = ["train", "mlp", "--data", "tiny.txt", "--steps", "100000", "--batch-size", "100000"]
    proc = subprocess.Popen([mmzoo_bin(), *args], cwd=tmp_path, stderr=subprocess.DEVNULL)
    folder = tmp_path / "runs" / "mlp"
    deadline = time.monotonic() + 120
    while not list(folder.glob(".*.partial")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    (stale,) = folder.glob(".*.partial")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert stale.exists()
    run_mmzoo("train", "mlp", "--data", "tiny.txt", "--steps", "5", "--json", cwd=tmp_path)
    assert not stale.exists() and not list(folder.glob(".*.lock"))
    assert len([p for p in folder.iterdir() if (p / "model.json").is_file()]) == 1


def test_a_bidi_override_in_a_files_vocab_is_printed_as_an_escape(tmp_path: Path) -> None:
    """U+202E passes the vocabulary check (it is not a control character) but would turn
    the rest of the terminal line around: samples print it as \\u202e."""
    import onnx
    from synthetic_files import VOCAB, step_file

    model = onnx.load(str(step_file(tmp_path / "bidi.onnx")))
    vocab = ["."] + ["\u202e"] + VOCAB[2:]
    next(p for p in model.metadata_props if p.key == "mmzoo.vocab").value = json.dumps(vocab)
    (tmp_path / "bidi.onnx").write_bytes(model.SerializeToString())
    proc = run_mmzoo("sample", "bidi.onnx", "-n", "2", cwd=tmp_path)
    assert "\u202e" not in proc.stdout and proc.stdout.splitlines() == ["\\u202ebcdefghijklmnopqrstuvwxyz"] * 2


def test_steps_0_saves_the_network_as_initialised(ws: Path) -> None:
    """--steps 0 is allowed (Recipe.validate): it was an AssertionError in the loop."""
    proc = run_mmzoo("train", "mlp", "--data", "tiny.txt", "--steps", "0", "--out", "S0", "--json", cwd=ws)
    doc = json.loads(proc.stdout, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert doc["run_dir"].endswith("S0") and doc["train_loss"] is None  # no step, no train loss
    assert json.loads((ws / "S0" / "model.json").read_text())["model"] == "mlp"
    assert len(run_mmzoo("sample", "S0", "-n", "2", cwd=ws).stdout.splitlines()) == 2

"""`mmzoo runs` (issue 21, item 4): the run folders under runs/ listed from their files,
and `--plot` drawing their curves. Two real runs trained by the real `mmzoo` in a temp
folder; every status is made the way it happens (a lock held by a live process, a
staging folder left behind, a model.json broken on disk), then read back through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUILTIN_NAMES, mmzoo_bin, run_mmzoo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ENV = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding tiny.txt (300 names) and runs/bigram-nn/a, runs/mlp/b (30 steps each)."""
    root = tmp_path_factory.mktemp("runs_cmd")
    (root / "tiny.txt").write_text("\n".join(BUILTIN_NAMES.read_text().split()[:300]) + "\n")
    for model, name in (("bigram-nn", "a"), ("mlp", "b")):
        out = f"runs/{model}/{name}"
        run_mmzoo("train", model, "--steps", "30", "--data", "tiny.txt", "--out", out, cwd=root, env=ENV)
    return root


@pytest.fixture
def tree(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained folder this test may change."""
    shutil.copytree(trained, tmp_path / "t")
    return tmp_path / "t"


def runs_json(cwd: Path, *args: str) -> list[dict]:
    proc = run_mmzoo("runs", "--json", *args, cwd=cwd, env=ENV)
    return json.loads(proc.stdout)["runs"]


def by_run(rows: list[dict]) -> dict[str, dict]:
    return {r["run"]: r for r in rows}


def edit_json(path: Path, **changes: object) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


@pytest.mark.slow
def test_json_lists_both_runs_as_their_files_say(trained: Path) -> None:
    rows = by_run(runs_json(trained))
    assert set(rows) == {"a", "b"}
    for name, model in (("a", "bigram-nn"), ("b", "mlp")):
        row, meta = rows[name], json.loads((trained / "runs" / model / name / "model.json").read_text())
        assert row["model"] == model
        assert row["path"] == f"runs/{model}/{name}"
        assert (row["steps"], row["recipe_steps"], row["status"]) == (30, 30, "done")
        assert row["best_val"] == meta["metrics"]["val_loss"]
        assert row["best_step"] == meta["metrics"]["step"]
        assert row["corpus"] == meta["data"]["source"] and Path(row["corpus"]).name == "tiny.txt"
        assert row["items"] == 300
        assert row["note"] is None


@pytest.mark.slow
def test_table_shows_each_run_and_a_model_filter_keeps_its_own(trained: Path) -> None:
    out = run_mmzoo("runs", cwd=trained, env=ENV).stdout
    rows = by_run(runs_json(trained))
    lines = {name: [line for line in out.splitlines() if f" {name} " in line] for name in ("a", "b")}
    for name, model in (("a", "bigram-nn"), ("b", "mlp")):
        assert len(lines[name]) == 1, out
        line = lines[name][0]
        for cell in (model, "tiny.txt", "30/30", f"{rows[name]['best_val']:.4f}", "done"):
            assert cell in line, line
    only = run_mmzoo("runs", "mlp", cwd=trained, env=ENV).stdout
    assert " mlp " in only and "bigram-nn" not in only


@pytest.mark.slow
def test_runs_are_sorted_by_date(tree: Path) -> None:
    """The mlp run made older than the bigram-nn one (its files' times) comes first."""
    for path in (tree / "runs" / "mlp" / "b").iterdir():
        os.utime(path, (1_000_000_000, 1_000_000_000))
    assert [r["run"] for r in runs_json(tree)] == ["b", "a"]
    assert runs_json(tree)[0]["date"].startswith("2001-09-")


@pytest.mark.slow
def test_a_damaged_model_json_is_one_row_and_one_line(tree: Path) -> None:
    edit_json(tree / "runs" / "mlp" / "b" / "model.json", vocab=5)
    (tree / "runs" / "mlp" / "c").mkdir()
    shutil.copytree(tree / "runs" / "bigram-nn" / "a", tree / "runs" / "bigram-nn" / "torn")
    (tree / "runs" / "bigram-nn" / "torn" / "model.json").write_text('{"checkpoint_format": 1, "mod')
    proc = run_mmzoo("runs", cwd=tree, env=ENV)
    assert "Traceback" not in proc.stderr
    warnings = proc.stderr.strip().splitlines()
    assert len(warnings) == 3, proc.stderr
    assert any("runs/mlp/b/model.json is damaged: vocab" in w for w in warnings)
    assert any("runs/bigram-nn/torn/model.json is damaged" in w for w in warnings)
    assert any("runs/mlp/c has no model.json" in w for w in warnings)
    rows = by_run(runs_json(tree))
    assert {rows[n]["status"] for n in ("b", "c", "torn")} == {"damaged"}
    assert rows["a"]["status"] == "done"
    assert "damaged" in [line for line in proc.stdout.splitlines() if " torn " in line][0]


@pytest.mark.slow
def test_statuses_from_last_json_metrics_and_locks(tree: Path) -> None:
    runs = tree / "runs"
    # fewer steps than the recipe, the last evaluation a new best: Ctrl-C or a kill
    edit_json(runs / "bigram-nn" / "a" / "last.json", recipe={**_recipe(runs / "bigram-nn" / "a"), "steps": 100})
    # fewer steps and three evaluations without a better val since: what --patience stops on
    mlp = runs / "mlp" / "b"
    with open(mlp / "metrics.jsonl", "a") as f:
        for step in (40, 50, 60):
            f.write(json.dumps({"step": step, "train_loss": 2.0, "val_loss": 9.0, "best": False, "seconds": 1}) + "\n")
    edit_json(mlp / "last.json", step=60, recipe={**_recipe(mlp), "steps": 100}, stopped_early=True)
    shutil.copytree(mlp, runs / "mlp" / "resumed")  # a published run its `train --resume` holds
    (runs / "mlp" / ".live.partial").mkdir()  # a run being made, before its first checkpoint
    (runs / "mlp" / ".dead.partial").mkdir()  # its process died
    (runs / "mlp" / "diagnose-20260101-000000").mkdir()  # mmzoo diagnose's figures, not a run
    holder = _hold_locks(runs / "mlp" / "live", runs / "mlp" / "resumed")
    try:
        rows = by_run(runs_json(tree))
    finally:
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait(timeout=60)
    assert rows["a"]["status"] == "interrupted"
    assert (rows["b"]["status"], rows["b"]["steps"], rows["b"]["recipe_steps"]) == ("stopped early", 60, 100)
    assert rows["resumed"]["status"] == "training"
    assert rows[".live.partial"]["status"] == "training"
    assert rows[".dead.partial"]["status"] == "abandoned"
    assert not any(name.startswith("diagnose-") for name in rows)
    # the holder gone, the kernel has dropped its locks
    after = by_run(runs_json(tree))
    assert after[".live.partial"]["status"] == "abandoned"
    assert after["resumed"]["status"] == "stopped early"


def _recipe(run: Path) -> dict:
    return json.loads((run / "last.json").read_text())["recipe"]


def _hold_locks(*targets: Path) -> subprocess.Popen:
    """Another process holding the runs' locks (mmzoo.runs.lock.TargetLock, as `mmzoo train`
    does) until its stdin closes; returns once they are held."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom mmzoo.runs.lock import TargetLock\n"
        "locks = [TargetLock(Path(p), 'train') for p in sys.argv[1:]]\n"
        "[lock.acquire() for lock in locks]\nprint('held', flush=True)\nsys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, targets)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.slow
def test_plot_writes_a_png_of_every_run(tree: Path) -> None:
    doc = json.loads(run_mmzoo("runs", "--plot", "out.png", "--json", cwd=tree, env=ENV).stdout)
    assert (tree / "out.png").read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(doc["plotted"]) == ["runs/bigram-nn/a", "runs/mlp/b"]
    proc = run_mmzoo("runs", "mlp", "--plot", cwd=tree, env=ENV)  # the default path, one model's runs
    assert (tree / "runs" / "curves.png").read_bytes()[:8] == PNG_SIGNATURE
    assert "curves of 1 run(s) -> runs/curves.png" in proc.stdout


@pytest.mark.slow
def test_plot_replaces_a_planted_symlink_and_leaves_its_target_alone(tree: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tree / "out.png").symlink_to(victim)
    run_mmzoo("runs", "--plot", "out.png", cwd=tree, env=ENV)
    assert not (tree / "out.png").is_symlink()
    assert (tree / "out.png").read_bytes()[:8] == PNG_SIGNATURE
    assert victim.read_text() == "keep me"
    assert not [p for p in tree.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind


@pytest.mark.slow
def test_listing_and_plotting_never_import_torch(trained: Path, tmp_path: Path) -> None:
    """In an interpreter where `import torch` fails, `mmzoo runs --plot --json` still answers."""
    code = (
        "import sys\nsys.modules['torch'] = None\nfrom mmzoo.cli.app import main\n"
        f"sys.exit(main(['runs', '--json', '--plot', {str(tmp_path / 'c.png')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=trained, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["runs"]) == 2
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_SIGNATURE


def test_bad_command_lines_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "file.txt").write_text("x\n")
    cases = [
        (("runs", "x.png"), 2, "x.png names a figure: add --plot"),
        (("runs", "--plot", "a.png", "b.png"), 2, "one figure at a time"),
        (("runs", "--root", "file.txt"), 2, "--root file.txt is not a folder"),
        (("runs", "nosuch"), 1, "no run under runs/ matches nosuch"),
        (("runs", "--plot"), 1, "no runs under runs/ to plot"),
    ]
    for args, code, message in cases:
        proc = run_mmzoo(*args, cwd=tmp_path, env=ENV, check=False)
        assert proc.returncode == code, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mmzoo: error: ") and message in lines[0], proc.stderr
    empty = run_mmzoo("runs", cwd=tmp_path, env=ENV)
    assert "no runs under runs/" in empty.stdout
    assert json.loads(run_mmzoo("runs", "--json", cwd=tmp_path, env=ENV).stdout)["runs"] == []


def test_plot_without_matplotlib_says_what_to_install(tmp_path: Path) -> None:
    """A `matplotlib` that fails to import, first on the path: the plots extra missing."""
    fake = tmp_path / "site" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    env = {**ENV, "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run(
        [mmzoo_bin(), "runs", "--plot"], cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "mmzoo: error: mmzoo runs --plot draws with matplotlib, which is not installed: "
        "pip install 'mmzoo[plots]' (or pip install matplotlib)"
    ]
    assert not (tmp_path / "runs" / "curves.png").exists()


def test_a_held_lock_is_seen_without_proc_locks_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where /proc/locks cannot be read (macOS), a shared lock tried and let go at once
    tells a held lock from a stale lock file, and takes nothing from its holder."""
    from mmzoo.runs import listing
    from mmzoo.runs.lock import TargetLock, lock_path

    monkeypatch.setattr(listing, "_in_proc_locks", lambda info: None)
    target = tmp_path / "run"
    assert not listing.lock_held(target)  # no lock file at all
    holder = _hold_locks(target)
    try:
        assert listing.lock_held(target)
        with pytest.raises(Exception, match="another mmzoo"):
            TargetLock(target, "train").acquire()  # still the holder's
    finally:
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait(timeout=60)
    lock_path(target).write_text("train (pid 1)")  # a lock file nobody holds
    assert not listing.lock_held(target)

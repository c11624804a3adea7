"""Every row of docs/errors.md through the installed `mmzoo` command: exit code 1
or 2, one line on stderr that starts `mmzoo: error:` and says what went wrong,
no traceback, and nothing written where the user did not ask."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BUILTIN_NAMES, REPO, run_mmzoo
from errorcases import CASES, Case, hold_locks, make_workspace

DOC = REPO / "docs" / "errors.md"


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("errors")
    make_workspace(root, run_mmzoo, BUILTIN_NAMES.read_text().split())
    locks = hold_locks(root)
    yield root
    for f in locks:
        f.close()


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under the workspace with its sha256: what a failed command must leave alone."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.command for c in CASES])
def test_error_case(case: Case, workspace: Path) -> None:
    before = _snapshot(workspace)
    proc = run_mmzoo(*case.args, cwd=workspace, check=False, timeout=120)
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("mmzoo: error:")]
    assert proc.returncode in (1, 2), (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr
    assert case.says in errors[0], errors[0]
    assert _snapshot(workspace) == before, "a failed command changed files"
    assert not list(workspace.glob(".*.partial")), "a staging folder was left behind"


def test_docs_list_every_case() -> None:
    """docs/errors.md has one row per case, with the command and the words mmzoo says."""
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if "| `mmzoo " in line]
    assert len(rows) == len(CASES)
    for case, row in zip(CASES, rows):
        assert f"`{case.command}`" in row, row
        said = re.search(r"`` mmzoo: error: (.*) `` \|$", row)
        assert said and case.says in said.group(1), row

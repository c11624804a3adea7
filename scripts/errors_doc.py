"""Regenerate the table of docs/errors.md by running every case of tests/errorcases.py
through the installed `mmzoo` command and recording what it really says.

    .venv/bin/python scripts/errors_doc.py > /tmp/rows.md   # then paste over the table
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from conftest import BUILTIN_NAMES, mmzoo_bin, run_mmzoo  # noqa: E402
from errorcases import CASES, hold_locks, make_workspace  # noqa: E402


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="mmzoo-errors-"))
    make_workspace(root, run_mmzoo, BUILTIN_NAMES.read_text().split())
    locks = hold_locks(root)
    print("| what the user did | command | exit | what mmzoo says |")
    print("|---|---|---|---|")
    bad = 0
    for case in CASES:
        env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([mmzoo_bin(), *case.args], cwd=root, capture_output=True, text=True, env=env)
        lines = proc.stderr.strip().splitlines()
        said = lines[-1] if lines else ""
        if proc.returncode not in (1, 2) or "Traceback" in proc.stderr or case.says not in said:
            bad += 1
            print(f"unexpected: {case.command}: {proc.returncode}\n{proc.stderr}", file=sys.stderr)
        print(f"| {case.did} | `{case.command}` | {proc.returncode} | `` {said} `` |")
    for f in locks:
        f.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

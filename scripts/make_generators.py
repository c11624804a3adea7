"""Turn the pretrained zoo's files into generator files, without retraining:
`python scripts/make_generators.py [MODEL ...]` (`make zoo` runs it after training).

mmzoo/pretrained/names-<model>.onnx -> mmzoo/pretrained/names-<model>.gen.onnx: the same network
wrapped in an ONNX Loop that samples whole items in one onnxruntime call
(docs/onnx.md). Each is checked against the numpy loop over its source file before
it is written; the build is deterministic, so tests can rebuild and compare bytes. The
README's table of every file's size and sha256 follows.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXPORTED = REPO / "mmzoo" / "pretrained"


def sources(models: list[str]) -> list[Path]:
    """The exported step/window files to wrap: the named models', or every one."""
    found = sorted(p for p in EXPORTED.glob("names-*.onnx") if not p.name.endswith(".gen.onnx"))
    if not models:
        return found
    wanted = [EXPORTED / f"names-{m}.onnx" for m in models]
    missing = [str(p.relative_to(REPO)) for p in wanted if not p.is_file()]
    if missing:
        raise SystemExit(f"no such pretrained file: {', '.join(missing)}")
    return wanted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="only these (default: every mmzoo/pretrained/names-*.onnx)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from mmzoo.graphs.generate_export import generator_path, write_generator

    for src in sources(args.models):
        doc = write_generator(src, generator_path(src))
        out = Path(doc["path"]).relative_to(REPO)
        print(f"{src.name}: {doc['items_checked']} items as the step loop -> {out}", file=sys.stderr, flush=True)
    sys.path.insert(0, str(REPO / "scripts"))
    from make_zoo import refresh_file_table

    refresh_file_table()  # the README lists every file's sha256, the generators' included
    return 0


if __name__ == "__main__":
    os.chdir(REPO)
    raise SystemExit(main())

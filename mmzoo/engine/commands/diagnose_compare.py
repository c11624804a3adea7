"""`mmzoo diagnose --compare`: one diagnosis per variant, the same steps and seed,
then compare.json, the side-by-side figures and the table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mmzoo.fsutil import atomic_write


def run_compare(
    spec: Any,
    corpus: Any,
    recipe: Any,
    req: Any,  # commands.diagnose.DiagnoseRequest
    sets: dict[str, str],
    surgery: Any,
    variants: tuple[str, list[Any]],
    out: Path,
    progress: Any,
) -> tuple[dict[str, Any], str]:
    from mmzoo.engine.diagnose import diagnose
    from mmzoo.engine.diagnose.compare import compare_doc, format_table
    from mmzoo.engine.diagnose.compare_plots import draw_compare

    key, chosen = variants
    results = []
    for variant in chosen:
        if not req.quiet:
            print(f"{variant.label}:", file=sys.stderr)
        config = spec.make_config(req.preset, {**sets, **variant.sets})
        result = diagnose(spec, corpus, config, recipe, recipe.steps, variant.init, variant.no_bn, req.seed,
                          preset=req.preset, progress=progress, surgery=surgery)  # fmt: skip
        if progress is not None:
            print(file=sys.stderr)
        results.append((variant, result))
    out.mkdir(parents=True, exist_ok=True)
    doc = compare_doc(key, results)
    doc["figures"] = draw_compare(results, out)
    atomic_write(out / "compare.json", (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
    written = [str(out / f) for f in (*doc["figures"].values(), "compare.json")]
    return {**doc, "out": str(out)}, format_table(doc, written)

"""`mmzoo diagnose --compare`: one diagnosis per variant, the same steps and seed,
then compare.json, the side-by-side figures and the table."""

from __future__ import annotations

import dataclasses
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
    from mmzoo.lengths import config_for_corpus

    key, chosen = variants
    results = []
    for variant in chosen:
        if not req.quiet:
            print(f"{variant.label}:", file=sys.stderr)
        config = config_for_corpus(spec, req.preset, {**sets, **variant.sets}, corpus.max_length, corpus.source)
        varied = dataclasses.replace(recipe, **variant.recipe)  # --compare lr=...
        result = diagnose(spec, corpus, config, varied, recipe.steps, variant.init, variant.no_bn, req.seed,
                          preset=req.preset, progress=progress, surgery=surgery)  # fmt: skip
        if progress is not None:
            print(file=sys.stderr)
        results.append((variant, result))
    out.mkdir(parents=True, exist_ok=True)
    doc = compare_doc(key, results)
    doc["figures"] = draw_compare(results, out)
    doc["figures"].update(_learning_figures(spec, corpus, req, doc, out))
    atomic_write(out / "compare.json", (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
    written = [str(out / f) for f in (*doc["figures"].values(), "compare.json")]
    return {**doc, "out": str(out)}, format_table(doc, written)


def _learning_figures(spec: Any, corpus: Any, req: Any, doc: dict[str, Any], out: Path) -> dict[str, str]:
    """docs/learnings.md's figures: the L2 sweep of a neural bigram against the add-k
    curve (l2-smoothing.png), and the coupling of each normalisation (coupling.png)."""
    from mmzoo.engine.diagnose.bigram import k_curve, splits_for
    from mmzoo.engine.diagnose.bigram_plots import draw_coupling, draw_l2

    variants, figures = doc["variants"], {}
    head = f"{doc['model']} on {doc['data']['source']}, {doc['steps']} steps, seed {doc['seed']}"
    if all("bigram" in v for v in variants):
        curve = k_curve(splits_for(spec, corpus, req.seed), corpus.vocab.size)
        draw_l2(variants, curve, f"{head}: {doc['compare']} against add-k", out / "l2-smoothing.png")
        figures["l2_smoothing"] = "l2-smoothing.png"
    if doc["compare"] in ("norm", "bn") and all(v.get("coupling") for v in variants):
        draw_coupling(variants, f"{head}: example 0 of {variants[0]['coupling']['batch']}, "
                      "the other examples replaced", out / "coupling.png")  # fmt: skip
        figures["coupling"] = "coupling.png"
    return figures
